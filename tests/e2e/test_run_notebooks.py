"""Notebooks that run jobs, executed by nbclient on the ``pragma`` kernel (and one on ipykernel).

``running/pipeline.ipynb``: a diamond of tasks passing data, ``runs=3``, a ProActive-style task
using ``variables``/``result``, a task plotting with matplotlib, ``draw_job`` before and after
the run, ``submit_job`` with its live progress, the result pragmas, ordinary cells using the
pulled variables, then a failing task beside an independent branch (the cell is tagged
``raises-exception``) whose results are kept. ``running/import_export.ipynb`` uses only
import/export and runs top to bottom in ipykernel too, with the same final values.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parent / "notebooks" / "running"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def execute(name: str, workdir: Path, kernel_name: str = "pragma") -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(notebook, kernel_name=kernel_name, timeout=120,
                            resources={"metadata": {"path": str(workdir)}})  # fmt: skip
    client.execute()
    return notebook


def cell(notebook, first_line: str, occurrence: int = 0):
    found = [c for c in notebook.cells
             if c.cell_type == "code" and c.source.splitlines()[0] == first_line]  # fmt: skip
    return found[occurrence]


def text(cell_) -> str:
    parts = []
    for output in cell_.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append(ANSI.sub("", "\n".join(output.traceback)))
        elif "text/plain" in output.get("data", {}):
            parts.append(output.data["text/plain"])
    return "\n".join(parts)


def mimes(cell_) -> list[str]:
    return [m for o in cell_.outputs for m in o.get("data", {})]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return execute("pipeline.ipynb", tmp_path_factory.mktemp("pipeline"))


def test_submit_shows_progress_output_and_figure(pipeline):
    submit = cell(pipeline, "#%submit_job()")
    progress = submit.outputs[0]
    assert progress.output_type == "display_data" and "text/html" in progress.data
    final = progress.data["text/plain"]  # nbclient applied the in-place updates
    assert "6/6 done" in final and "speed-up" in final and "finished" in final
    shown = text(submit)
    assert "[load] loaded 12" in shown
    assert "[proactive_style] hello True" in shown
    assert "Pulled into the notebook: data, mean, part, summary" in shown
    assert "image/png" in mimes(submit)  # the plot task's figure


def test_ordinary_cell_uses_pulled_values(pipeline):
    used = cell(pipeline, "print(summary)")
    assert "'parts': [36, 44, 52]" in text(used) and "'total': 132" in text(used)
    assert used.outputs[-1].data["text/plain"] == "11.0"


def test_draw_job_before_and_after_the_run(pipeline):
    before = cell(pipeline, "#%draw_job()", 0).outputs[0].data["image/svg+xml"]
    after = cell(pipeline, "#%draw_job()", 1).outputs[0].data["image/svg+xml"]
    assert "done" not in before and after.count("done") >= 6


def test_result_pragmas(pipeline):
    results = text(cell(pipeline, "#%get_job_result()"))
    assert "proactive_style: 123" in results and "parts: [None, None, None]" in results
    assert text(cell(pipeline, "#%get_task_result(task_name=proactive_style)")) == "123"
    assert text(cell(pipeline, "#%print_task_output(task_name=proactive_style)")) == "hello True\n"
    assert "pipeline" in text(cell(pipeline, "#%list_submitted_jobs()"))


def test_failure_keeps_independent_results_and_namespace(pipeline):
    failed = cell(pipeline, "#%submit_job()", 1)
    error = next(o for o in failed.outputs if o.output_type == "error")
    assert error.ename == "JobFailedError"
    traceback = ANSI.sub("", "\n".join(error.traceback))
    assert "RuntimeError: on purpose" in traceback and "1 skipped" in traceback
    assert "independent exported: side = 'kept'" in text(
        cell(pipeline, "#%get_task_result(task_name=independent)"))
    # what the task that succeeded exported is pulled; the namespace is otherwise intact
    assert text(cell(pipeline, "print('side' in globals(), summary['total'])")) == "True 132\n"


def _python3_kernel() -> str:
    """ipykernel's ``python3`` spec, installed into a temporary prefix when it is missing."""
    if "python3" not in KernelSpecManager().find_kernel_specs():
        from ipykernel.kernelspec import install

        prefix = tempfile.mkdtemp(prefix="ipykernel-spec-")
        install(prefix=prefix, kernel_name="python3")
        import os

        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [str(Path(prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH", "")])
    return "python3"


def test_import_export_notebook_same_values_in_ipykernel(tmp_path):
    ours = execute("import_export.ipynb", tmp_path)
    reference = execute("import_export.ipynb", tmp_path, _python3_kernel())
    last = "print(squared, [round(r, 9) for r in roots], lengths, round(total, 9))"
    assert text(cell(ours, last)) == text(cell(reference, last))
    assert text(cell(ours, last)).startswith("9 [1.732050808, 2.0, 2.236067977]")
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_demo_notebook_runs_top_to_bottom(tmp_path):
    demo = Path(__file__).resolve().parents[2] / "notebooks" / "demo.ipynb"
    notebook = nbformat.read(demo, as_version=4)
    NotebookClient(notebook, kernel_name="pragma", timeout=180,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    submit = cell(notebook, "#%submit_job()")
    assert "4/4 done" in submit.outputs[0].data["text/plain"]
    assert "image/png" in mimes(submit)
    assert "Pulled into the notebook: points, inside, pi_estimate" in text(submit)
    assert "image/svg+xml" in mimes(cell(notebook, "#%draw_job()", 1))
    used = cell(notebook, "print(f'{pi_estimate:.4f} (error {abs(pi_estimate - np.pi):.4f}) "
                          "from {3 * 8 * samples:,} points')")  # fmt: skip
    assert used.outputs[-1].data["text/plain"] == "3.14"


def test_demo_notebook_runs_unchanged_on_ipykernel(tmp_path):
    """The README's promise: pragmas are comments, so the demo runs in a plain Python kernel
    (nbclient raises on the first cell that fails)."""
    demo = Path(__file__).resolve().parents[2] / "notebooks" / "demo.ipynb"
    notebook = nbformat.read(demo, as_version=4)
    NotebookClient(notebook, kernel_name=_python3_kernel(), timeout=180,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    used = cell(notebook, "print(f'{pi_estimate:.4f} (error {abs(pi_estimate - np.pi):.4f}) "
                          "from {3 * 8 * samples:,} points')")  # fmt: skip
    assert used.outputs[-1].data["text/plain"] == "3.14"
