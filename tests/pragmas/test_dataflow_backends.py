"""A notebook of bare ``#%task(name=...)`` cells under ``#%job(flow=auto)`` gives the results of
its hand-written twin, on local worker processes and on a real Dask cluster."""

from __future__ import annotations

import contextlib
import io

import pytest

from tests.e2e.dask_cluster import shared_cluster
from tests.pragmas.dataflow_corpus import NOTEBOOKS
from tests.pragmas.dataflow_twins import run
from tests.pragmas.engine_helpers import Notebook, text

#: what the tasks of each notebook pass along, and the variable its last cell prints
EXCHANGED = {
    "model": ["xs", "ys", "train_set", "test_set", "weights", "mse", "history", "card"],
    "etl": ["orders", "lines", "total", "ledger_text"],
    "text": ["tokens", "words", "vocab", "matrix", "top"],
}


def _connect(notebook: Notebook, backend: str) -> None:
    if backend == "dask":
        notebook.run(f"#%connect(backend=dask, url={shared_cluster().address})")
    else:
        notebook.run("#%connect(backend=local, workers=2)")


def _last_cell(notebook: Notebook, cell: str) -> str:
    """The printed output of the notebook's last (ordinary) cell, or its NameError."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            notebook.run_python(cell)
    except NameError as error:
        return f"NameError: {error}"
    return printed.getvalue()


def _run_all(notebook: Notebook, cells: list[str], auto: bool) -> tuple[str, str]:
    """Run All: the cells, the job, the last cell; the job's text and the last cell's."""
    run(cells[:-1], auto, notebook)
    submitted = text(notebook.run("#%submit_job()"))
    return submitted, _last_cell(notebook, cells[-1])


@pytest.mark.parametrize("backend", ["local", "dask"])
@pytest.mark.parametrize("name", sorted(EXCHANGED))
def test_bare_tasks_with_flow_auto_give_the_results_of_the_written_twin(backend, name):
    cells = NOTEBOOKS[name]
    written, twin = Notebook(), Notebook()
    try:
        for notebook in (written, twin):
            _connect(notebook, backend)
        _, written_last = _run_all(written, cells, auto=False)
        _, first_last = _run_all(twin, cells, auto=True)
        # the first time, the kernel has not seen the last cell: the final value stays on the
        # worker, and the cell fails (written export=[...] would pull it)
        final = EXCHANGED[name][-1]
        assert first_last == f"NameError: name '{final}' is not defined"
        submitted, twin_last = _run_all(twin, cells, auto=True)  # Run All again
        assert "failed" not in submitted
        assert twin_last == written_last and written_last.strip()
        for variable in EXCHANGED[name]:
            assert twin.namespace[variable] == written.namespace[variable], variable
    finally:
        written.engine.shutdown()
        twin.engine.shutdown()
