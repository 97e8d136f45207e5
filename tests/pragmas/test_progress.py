"""The live job display, fed by a real local job, recorded by an in-memory output context."""

from __future__ import annotations

import re

import pytest
from pragma_kernel.pragmas.backends.base import TaskState
from pragma_kernel.pragmas.backends.local import LocalBackend
from pragma_kernel.pragmas.progress import TABLE_LIMIT, JobProgress, prefix_lines

from tests.kernel.recording_context import RecordingContext
from tests.pragmas.test_local_backend import plan_of, task


@pytest.fixture(scope="module")
def backend():
    backend = LocalBackend(workers=2)
    yield backend
    backend.close()


def run_with_progress(backend, plan) -> tuple[RecordingContext, JobProgress]:
    ctx = RecordingContext()
    progress = JobProgress(ctx, plan, backend)
    progress.show()
    run = backend.submit(plan, progress.listener)
    progress.start(run)
    assert run.wait(timeout=60)
    progress.stop()
    return ctx, progress


def test_one_display_updated_in_place_ending_with_the_summary(backend):
    plan = plan_of(task("a", "print('one')\nprint('two')"), task("b", "1/0"),
                   task("c", "pass", dep=["b"]))  # fmt: skip
    ctx, progress = run_with_progress(backend, plan)
    assert ctx.outputs[0][0] == "display_data"  # the display comes first
    ids = {c["transient"].get("display_id") for k, c in ctx.outputs if "display" in k}
    assert ids == {progress.display_id}
    final = ctx.of_type("update_display_data")[-1]["data"]
    assert "1/3 done, 1 failed, 1 skipped" in final["text/plain"]
    assert "wall time" in final["text/plain"] and "task time" in final["text/plain"]
    assert "<table" in final["text/html"]
    text = "".join(c["text"] for c in ctx.of_type("stream"))
    assert "[a] one\n[a] two\n" in text


def test_figures_from_tasks_are_shown_labelled_with_their_task(backend):
    plan = plan_of(task("plot", "import matplotlib.pyplot as plt\nplt.plot([1, 2])"))
    ctx, _ = run_with_progress(backend, plan)
    pictures = [c for c in ctx.of_type("display_data") if "image/png" in c["data"]]
    assert len(pictures) == 1
    assert pictures[0]["metadata"]["pragma_kernel"] == {"task": "plot"}
    kinds = [(kind, content.get("text")) for kind, content in ctx.outputs]
    # the caption comes right before its picture, as "[task] ..." like the task's text lines
    at = next(i for i, (kind, _) in enumerate(kinds) if kind == "display_data" and i > 0
              and "image/png" in ctx.outputs[i][1]["data"])
    assert kinds[at - 1] == ("stream", "[plot] figure:\n")


def test_large_jobs_show_a_grid_not_a_table(backend):
    plan = plan_of(*[task(f"t{i}", "pass") for i in range(TABLE_LIMIT + 5)])
    ctx, _ = run_with_progress(backend, plan)
    final = ctx.of_type("update_display_data")[-1]["data"]
    assert "<table" not in final["text/html"] and final["text/html"].count("title=") == 45
    assert f"{TABLE_LIMIT + 5}/{TABLE_LIMIT + 5} done" in final["text/plain"]


def test_prefix_lines_marks_every_line():
    assert prefix_lines("a\nb\n", "[t] ") == "[t] a\n[t] b\n"
    assert prefix_lines("partial", "[t] ") == "[t] partial"


def test_the_summary_says_what_the_scheduler_did_besides_running(backend, tmp_path):
    marker = tmp_path / "failed-once"
    flaky = (f"import pathlib\nm = pathlib.Path({str(marker)!r})\n"
             "if not m.exists():\n    m.touch()\n    raise RuntimeError('first try')")  # fmt: skip
    ctx, _ = run_with_progress(backend, plan_of(task("flaky", flaky, retries=1)))
    final = ctx.of_type("update_display_data")[-1]["data"]
    assert "1/1 done" in final["text/plain"]
    assert "note: flaky: " in final["text/plain"] and "retrying" in final["text/plain"]
    assert "retrying" in final["text/html"]


def test_colours_come_from_jupyterlab_theme_variables_with_fallbacks(backend):
    plan = plan_of(task("a", "pass"), task("b", "1/0"), task("c", "pass", dep=["b"]))
    ctx, _ = run_with_progress(backend, plan)
    for kind, content in ctx.outputs:
        if kind.endswith("display_data") and "pragma-job" in content["data"]["text/html"]:
            page = content["data"]["text/html"]
            colours = re.findall(r"(?:background|color):([^;'\"]+)", page)
            assert colours, page
            # a theme variable with a fallback each; the text's own colour is the frontend's
            for colour in colours:
                assert re.fullmatch(r"var\(--jp-[a-z0-9-]+, #[0-9a-f]{3,6}\)", colour), colour
            assert not re.search(r"[^-]color:(?!var)", page), page


def test_a_running_display_carries_a_stale_note_the_final_one_does_not(backend):
    plan = plan_of(task("a", "import time\ntime.sleep(0.5)"))
    ctx, _ = run_with_progress(backend, plan)
    first, final = ctx.outputs[0][1]["data"], ctx.of_type("update_display_data")[-1]["data"]
    assert "pragma-job-stale" in first["text/html"]
    assert "No news from the kernel" in first["text/html"]
    assert "animation:pragma-job-stale" in first["text/html"]
    assert "pragma-job-stale" not in final["text/html"]


def test_a_stopped_run_says_why_and_leaves_no_task_running(backend):
    plan = plan_of(task("a", "pass"), task("b", "import time\ntime.sleep(60)", dep=["a"]))
    ctx = RecordingContext()
    progress = JobProgress(ctx, plan, backend)
    progress.show()
    run = backend.submit(plan, progress.listener)
    progress.start(run)
    while run.results["b"].state is not TaskState.RUNNING:
        assert not run.wait(timeout=0.05)
    run.cancel("stopped: kernel restarting")
    assert run.done  # its final state is out before run.wait() returns
    final = ctx.of_type("update_display_data")[-1]["data"]["text/plain"]
    assert final.startswith("Job test (stopped: kernel restarting; on local")
    assert "1/2 done, 1 cancelled" in final.splitlines()[0] and "running" not in final
    assert ctx.of_type("session_stream")[-1]["text"] == final + "\n"


def test_the_account_tells_changes_then_the_final_state(backend):
    plan = plan_of(task("a", "import time\ntime.sleep(0.6)"))
    ctx, _ = run_with_progress(backend, plan)
    told = [c["text"] for c in ctx.of_type("session_stream")]
    assert told[0] == "[job test] a: running (0/1 done, 1 running)\n"
    assert told[-1].startswith("Job test (finished on local") and "wall time" in told[-1]
    # the account goes to the session only, never into the cell's streams
    assert not any("[job test]" in c["text"] for c in ctx.of_type("stream"))
