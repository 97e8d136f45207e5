"""What the kernel keeps and shows of a loud task: the head, one line, the tail; nothing lost."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from pragma_kernel.pragmas.backends.base import JobPlan, JobRun, Output, PlannedTask, TaskEvent
from pragma_kernel.pragmas.model import Job, OutputLimit, Task
from pragma_kernel.pragmas.task_output import OMITTED, JobOutput, logs_root, read_omitted

HUNDRED = OutputLimit(100)


def job_output(limit: OutputLimit | None = HUNDRED, job_limit=None, runs: int = 1):
    job = Job(name="loud job", output_limit=job_limit)
    job.define(Task("loud", "pass", output_limit=limit, runs=runs))
    plan = JobPlan(job, "loud job", {"loud": PlannedTask(job.tasks["loud"], (), {})})
    run = JobRun("7", plan, backend=None)
    shown: list[TaskEvent] = []
    return JobOutput(run, shown.append), run, shown


def lines(count: int, start: int = 0) -> list[str]:
    return [f"step {i}: loss {1 / (i + 1):.6f}\n" for i in range(start, start + count)]


def feed(output: JobOutput, texts: list[str], batch: int = 37, name: str = "stdout",
         replica: int | None = None) -> None:
    for i in range(0, len(texts), batch):
        output.add("loud", replica, Output("stream", name=name, text="".join(texts[i:i + batch])))


def shown_text(shown: list[TaskEvent]) -> str:
    return "".join(e.output.text for e in shown if e.output.kind == "stream")


def replayed(run: JobRun, name: str | None = None, chunk: int = 1 << 20) -> str:
    """All the task wrote, as #%print_task_output gives it back."""
    parts = []
    for output in run.results["loud"].outputs:
        if name is not None and output.name != name:
            continue
        if output.kind == "stream":
            parts.append(output.text)
        elif output.kind == OMITTED:
            parts.extend(read_omitted(output, chunk))
    return "".join(parts)


def log_of(shown: list[TaskEvent]) -> Path:
    notice = next(e.output.text for e in shown if "left out" in e.output.text)
    return Path(notice.rsplit(" or ", 1)[1].strip())


def test_under_the_limit_everything_is_shown_and_kept_and_no_log_is_made():
    output, run, shown = job_output()
    feed(output, lines(100))
    output.end("loud", None)
    assert shown_text(shown) == "".join(lines(100))
    assert replayed(run) == "".join(lines(100))
    assert all(o.kind == "stream" for o in run.results["loud"].outputs)


def test_over_the_limit_the_cell_shows_the_head_one_line_and_the_tail():
    output, _, shown = job_output()
    feed(output, lines(1000))
    during = shown_text(shown).splitlines(keepends=True)
    assert during[:100] == lines(100)  # the head, as it came
    assert len(during) == 101 and "output limit reached (100 lines" in during[100]
    output.end("loud", None)
    after = shown_text(shown).splitlines(keepends=True)[101:]
    left_out = after[0]
    assert left_out.startswith("… 890 lines (") and "left out here" in left_out
    assert "#%print_task_output(task_name=loud, job_id=7)" in left_out
    assert after[1:] == lines(10, start=990)  # the tail: the last tenth of the limit


def test_nothing_is_lost_the_log_and_the_replay_hold_every_line():
    output, run, shown = job_output()
    feed(output, lines(1000))
    output.end("loud", None)
    log = log_of(shown)
    assert log.read_text() == "".join(lines(1000))
    assert replayed(run) == "".join(lines(1000))


def test_the_log_is_private_in_private_folders():
    output, _, shown = job_output()
    feed(output, lines(200))
    output.end("loud", None)
    log = log_of(shown)
    assert log.parent.parent == logs_root()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    for folder in (log.parent, logs_root(), logs_root().parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_the_kernel_keeps_only_the_head_and_the_tail_in_memory():
    output, run, _ = job_output()
    feed(output, lines(20_000), batch=500)
    output.end("loud", None)
    kept = [o.text for o in run.results["loud"].outputs if o.kind == "stream"]
    assert "".join(kept) == "".join(lines(100)) + "".join(lines(10, start=19_990))


def test_a_line_longer_than_the_whole_limit_is_cut_and_kept_whole_in_the_log():
    output, run, shown = job_output(OutputLimit(10))  # 10 lines or 5,000 characters
    long_line = "x" * 20_000 + "\n"
    feed(output, [long_line, *lines(30)], batch=1)
    output.end("loud", None)
    text = shown_text(shown)
    assert text.startswith("x" * 5000 + "… output limit reached")
    assert text.endswith("".join(lines(1, start=29)))
    assert replayed(run) == long_line + "".join(lines(30))


def test_stdout_and_stderr_each_come_back_whole():
    output, run, _ = job_output()
    for i in range(0, 600, 20):
        feed(output, lines(20, start=i), name="stdout")
        feed(output, [f"warning {i}\n"], name="stderr")
    output.end("loud", None)
    assert replayed(run, "stdout") == "".join(lines(600))
    assert replayed(run, "stderr") == "".join(f"warning {i}\n" for i in range(0, 600, 20))


def test_displays_are_always_shown_and_kept_in_their_place():
    output, run, shown = job_output()
    feed(output, lines(500))
    picture = Output("display", data={"text/plain": "<Figure>"})
    output.add("loud", None, picture)
    feed(output, lines(5, start=500))
    output.end("loud", None)
    assert any(e.output is picture for e in shown)
    outputs = run.results["loud"].outputs
    before = outputs[:outputs.index(picture)]
    assert all(o.kind != "display" for o in before)
    assert replayed(run) == "".join(lines(505))


def test_off_shows_everything_and_the_job_limit_applies_to_tasks_without_their_own():
    output, _, shown = job_output(OutputLimit(None))
    feed(output, lines(3000))
    output.end("loud", None)
    assert shown_text(shown) == "".join(lines(3000))
    output, _, shown = job_output(limit=None, job_limit=OutputLimit(20))
    feed(output, lines(300))
    output.end("loud", None)
    assert shown_text(shown).splitlines(keepends=True)[:20] == lines(20)
    assert "… 278 lines" in shown_text(shown)


def test_replicas_are_limited_each_with_a_log_of_its_own():
    output, _, shown = job_output(runs=2)
    for replica in (0, 1):
        feed(output, [f"r{replica} {line}" for line in lines(300)], replica=replica)
    output.end_all()
    logs = sorted({log for e in shown if "left out" in e.output.text
                   for log in [Path(e.output.text.rsplit(" or ", 1)[1].strip())]})
    assert [log.name for log in logs] == ["loud[0].log", "loud[1].log"]
    for replica, log in enumerate(logs):
        assert log.read_text() == "".join(f"r{replica} {line}" for line in lines(300))


def test_a_loop_round_appends_to_the_same_log_and_each_round_comes_back():
    output, run, _ = job_output()
    feed(output, lines(300))
    output.end("loud", None)
    feed(output, lines(300, start=300))  # the task runs again (a loop's next round)
    output.end("loud", None)
    assert replayed(run) == "".join(lines(600))


def test_log_folders_older_than_a_week_are_removed_when_a_new_one_is_made():
    root = logs_root()
    root.mkdir(parents=True, exist_ok=True)
    old = root / "20000101-000000-old-1-1"
    old.mkdir()
    (old / "task.log").write_text("old output\n")
    week_ago = time.time() - 8 * 86400
    os.utime(old, (week_ago, week_ago))
    output, _, _ = job_output()
    feed(output, lines(200))
    output.end("loud", None)
    assert not old.exists()


@pytest.mark.parametrize("text", ["é" * 3000 + "\n", "ok\n" * 10 + "\U0001F600" * 2000 + "\n"])
def test_text_read_back_in_pieces_is_whole(text):
    output, run, _ = job_output(OutputLimit(2))
    feed(output, ["head\n", "head\n", text * 20], batch=1)
    output.end("loud", None)
    assert replayed(run, chunk=1000) == "head\nhead\n" + text * 20


def test_when_no_log_can_be_written_the_cell_shows_everything_and_says_why(monkeypatch,
                                                                           tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "pragma-kernel").write_text("a file where the kernel's folder should be")
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(data))
    output, run, shown = job_output()
    feed(output, lines(1000))
    output.end("loud", None)
    text = shown_text(shown)
    assert "the output limit no longer applies: its log cannot be written" in text
    assert text.replace(text.splitlines(keepends=True)[100], "", 1) == "".join(lines(1000))
    assert replayed(run) == "".join(lines(1000))
