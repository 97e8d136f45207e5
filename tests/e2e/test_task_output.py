"""A loud task through the real kernel: the cell stays readable (head, one line, tail), nothing
is lost (#%print_task_output and the log hold every line), a quiet line shows while the task
still runs; output_limit is declared like every parameter (validated, completed, helped)."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from tests.conftest import collect_iopub, shell_reply
from tests.e2e.run_helpers import failing, job, ok, streams

__all__ = ["job"]  # the fixture, imported for pytest

LOOP = "for i in range(1000):\n    print(f'line {i}')"
EVERY_LINE = "".join(f"line {i}\n" for i in range(1000))


def task_lines(outputs: list[dict], task: str) -> list[str]:
    prefix = f"[{task}] "
    return [line[len(prefix):] for line in streams(outputs).splitlines()
            if line.startswith(prefix)]  # fmt: skip


def test_the_cell_of_a_loud_task_shows_its_head_one_line_and_its_tail(job):
    kc, define = job
    define("loud", ", output_limit=100", LOOP)
    shown = task_lines(ok(kc, "#%submit_job()"), "loud")
    assert shown[:100] == [f"line {i}" for i in range(100)]
    assert shown[100].startswith("… output limit reached (100 lines")
    assert shown[101].startswith("… 890 lines (") and "left out here" in shown[101]
    assert "#%print_task_output(task_name=loud, job_id=" in shown[101]
    assert shown[102:] == [f"line {i}" for i in range(990, 1000)]


def test_nothing_is_lost_print_task_output_and_the_log_hold_every_line(job):
    kc, define = job
    define("loud", ", output_limit=100", LOOP)
    shown = task_lines(ok(kc, "#%submit_job()"), "loud")
    assert streams(ok(kc, "#%print_task_output(task_name=loud)")) == EVERY_LINE
    log = Path(shown[101].rsplit(" or ", 1)[1])
    assert log.is_relative_to(os.environ["JUPYTER_DATA_DIR"])  # the kernel's Jupyter data dir
    assert log.read_text() == EVERY_LINE
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


def test_the_job_sets_the_limit_of_tasks_without_one_and_off_shows_everything(job):
    kc, define = job
    ok(kc, "#%job(output_limit=50)")
    try:
        define("loud", "", LOOP)
        shown = task_lines(ok(kc, "#%submit_job()"), "loud")
        assert shown[:50] == [f"line {i}" for i in range(50)] and len(shown) == 50 + 2 + 5
        define("loud", ", output_limit=off", LOOP)
        shown = task_lines(ok(kc, "#%submit_job()"), "loud")
        assert shown == EVERY_LINE.splitlines()
    finally:
        ok(kc, "#%job(output_limit=10000)")


def test_a_line_printed_before_a_pause_shows_while_the_task_still_runs(job, tmp_path):
    kc, define = job
    go_on = tmp_path / "go-on"
    define("pause", "", f"import pathlib, time\nprint('first line')\n"
                        f"while not pathlib.Path({str(go_on)!r}).exists():\n    time.sleep(0.05)")
    msg_id = kc.execute("#%submit_job()")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the task cannot end before go_on exists
        message = kc.get_iopub_msg(timeout=60)
        if (message["parent_header"].get("msg_id") == msg_id
                and message["msg_type"] == "stream"
                and "[pause] first line" in message["content"]["text"]):  # fmt: skip
            break
    else:
        raise AssertionError("the line never reached the cell while the task waited")
    go_on.touch()
    collect_iopub(kc, msg_id, timeout=60)
    assert shell_reply(kc, msg_id, timeout=60)["content"]["status"] == "ok"


def test_output_limit_is_validated_completed_and_documented(kernel):
    _, kc = kernel
    _, text = failing(kc, "#%task(name=x, output_limit=lots)\npass")
    assert "output_limit" in text and "expected a number of lines (1 or more) or off" in text
    _, text = failing(kc, "#%job(output_limit=0)")
    assert "expected a number of lines (1 or more) or off, not '0'" in text
    code = "#%task(name=x, output_limit="
    msg_id = kc.complete(code, len(code))
    assert "off" in shell_reply(kc, msg_id)["content"]["matches"]
    helped = streams(ok(kc, "#%help(pragma=task)"))
    assert "output_limit=" in helped and "#%print_task_output all of it" in helped
