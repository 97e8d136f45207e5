"""The live job display, fed by a real local job, recorded by an in-memory output context."""

from __future__ import annotations

import pytest
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
