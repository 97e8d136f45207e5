"""What a job leaves in the notebook when things go partly wrong, on the local backend: the
exports of the tasks that succeeded, released values said as such, names two tasks export,
run_local with the job's #%import code."""

from __future__ import annotations

import pytest

from tests.pragmas.engine_helpers import Notebook, text


@pytest.fixture
def notebook():
    notebook = Notebook()
    notebook.run("#%connect(backend=local, workers=2)")
    yield notebook
    notebook.engine.shutdown()


def test_a_partial_failure_still_pulls_what_the_tasks_that_succeeded_exported(notebook):
    notebook.run("#%task(name=good, export=[kept])\nkept = 41 + 1")
    notebook.run("#%task(name=bad, export=[lost])\nlost = 1 / 0")
    with pytest.raises(Exception, match="1 of 2 tasks"):
        notebook.run("#%submit_job()")
    assert notebook.namespace["kept"] == 42
    assert "lost" not in notebook.namespace
    assert "Pulled into the notebook (from the tasks that succeeded): kept" in text(
        notebook.last)


def test_a_later_wait_job_pulls_the_successes_of_a_partly_failed_job(notebook):
    notebook.run("#%task(name=good, export=[kept])\nkept = 'yes'")
    notebook.run("#%task(name=bad)\nraise RuntimeError('no')")
    notebook.run("#%submit_job(wait=off)")
    with pytest.raises(Exception, match="1 of 2 tasks"):
        notebook.run("#%wait_job()")
    assert notebook.namespace["kept"] == "yes"


def test_the_result_of_a_job_whose_values_were_released_says_so(notebook):
    notebook.run("#%task(name=t)\n'a value'")
    for _ in range(4):  # the kernel keeps the values of the two jobs before the latest
        notebook.run("#%submit_job()")
    first = notebook.engine.submitted[0].job_id
    ctx = notebook.run(f"#%get_job_result(job_id={first})")
    shown = ctx.of_type("display_data")[-1]["data"]["text/plain"]
    assert "values released: only the last 2 jobs keep them" in shown
    assert "None" not in shown


def test_importing_a_name_two_independent_parents_export_is_refused(notebook):
    notebook.run("#%task(name=left, export=[x])\nx = 1")
    notebook.run("#%task(name=right, export=[x])\nx = 2")
    notebook.run("#%task(name=both, dep=[left, right], import=[x])\nprint(x)")
    with pytest.raises(Exception, match="task 'both' imports 'x', which both 'left' and "
                       "'right' export, and neither runs after the other"):
        notebook.run("#%submit_job()")
    assert notebook.engine.submitted == []


def test_two_independent_exports_of_one_name_are_a_warning(notebook):
    notebook.run("#%task(name=left, export=[x])\nx = 1")
    notebook.run("#%task(name=right, export=[x])\nx = 2")
    ctx = notebook.run("#%submit_job()")
    assert ("the tasks 'left' and 'right' both export 'x' and neither runs after the other"
            in text(ctx, "stderr"))


def test_a_chain_overriding_an_export_is_not_ambiguous(notebook):
    notebook.run("#%task(name=first, export=[x])\nx = 1")
    notebook.run("#%task(name=second, dep=[first], import=[x], export=[x])\nx = x + 1")
    notebook.run("#%task(name=third, dep=[second], import=[x], export=[y])\ny = x * 10")
    ctx = notebook.run("#%submit_job()")
    assert notebook.namespace["y"] == 20 and notebook.namespace["x"] == 2
    assert "both export" not in text(ctx, "stderr")


def test_run_local_runs_the_jobs_import_code_first(notebook):
    notebook.run("#%import()\nimport math as m\nOFFSET = 5")
    notebook.run("#%task(name=uses_imports, export=[r])\nr = m.floor(2.7) + OFFSET")
    notebook.run("#%run_local(name=uses_imports)")
    assert notebook.namespace["r"] == 7
