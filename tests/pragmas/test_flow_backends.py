"""ProActive's control flow run by the embedded and the Dask backend with the same
meaning: the runs / condition scripts decide at run time. Cells go through the real engine; tasks
run in real worker processes, or on a real Dask cluster (scheduler + 2 workers on 127.0.0.1)."""

from __future__ import annotations

import pytest
from pragma_kernel.pragmas.backends.base import TaskState

from tests.pragmas.engine_helpers import Notebook, text
from tests.pragmas.proactive_standin import engine_on_the_standin


def _connect_line(backend: str) -> str:
    if backend == "local":
        return "#%connect(backend=local, workers=2)"
    from tests.e2e.dask_cluster import shared_cluster

    return f"#%connect(backend=dask, url={shared_cluster().address})"


@pytest.fixture(params=["local", "dask"])
def notebook(request):
    notebook = Notebook()
    notebook.run(_connect_line(request.param))
    yield notebook
    notebook.engine.shutdown()


@pytest.fixture(params=["local", "dask", "proactive stand-in"])
def any_backend(request):
    """The three backends; ProActive through its stand-in server (tests/pragmas/
    proactive_standin.py: no ProActive server can run here), which runs the exported
    workflow's tasks with the real task runtime."""
    notebook = Notebook()
    if request.param == "proactive stand-in":
        notebook.engine = engine_on_the_standin()
    else:
        notebook.run(_connect_line(request.param))
    yield notebook
    notebook.engine.shutdown()


def states(notebook: Notebook) -> dict[str, str]:
    return {n: r.state.value for n, r in notebook.engine.submitted[-1].results.items()}


def test_replicate_runs_as_many_replicas_as_the_script_says(notebook):
    notebook.run("#%split(name=split1)\nvariables.put('base', 10)")
    notebook.run("#%runs()\nruns = 4")
    notebook.run("#%process(name=process1, export=[part])\npart = variables['base'] + replication")
    notebook.run("#%merge(name=merge1, import=[part], export=[total])\ntotal = sum(part)")
    notebook.run("#%submit_job()")
    assert notebook.namespace["part"] == [10, 11, 12, 13]
    assert notebook.namespace["total"] == 46
    run = notebook.engine.submitted[-1]
    assert run.results["process1"].notes == ["replicated 4 times by split1"]


def test_replicate_once_still_gives_a_list(notebook):
    notebook.run("#%split(name=split3)\npass")
    notebook.run("#%runs()\nruns = 1")
    notebook.run("#%process(name=process3, export=[part])\npart = replication")
    notebook.run("#%merge(name=merge3, import=[part], export=[parts])\nparts = part")
    notebook.run("#%submit_job()")
    assert notebook.namespace["parts"] == [0]


def test_loop_runs_its_block_again_while_the_condition_holds(notebook):
    notebook.run("#%start(name=start1)\nprint('round', int(variables.get('i') or 0))")
    notebook.run("#%condition()\nloop = variables.get('i') < 3")
    notebook.run("#%loop(name=loop1)\nvariables.put('i', int(variables.get('i') or 0) + 1)\n"
                 "result = variables['PA_TASK_ITERATION']")  # fmt: skip
    ctx = notebook.run("#%submit_job()")
    assert text(ctx).count("[start1] round") == 3
    assert "[start1] round 2" in text(ctx)
    run = notebook.engine.submitted[-1]
    assert run.results["loop1"].variables == {"i": 3} and run.results["loop1"].result == 2


def test_a_loop_that_never_stops_fails_at_its_max_rounds(notebook):
    notebook.run("#%start(name=start9)\nprint('round', variables['PA_TASK_ITERATION'])")
    notebook.run("#%condition()\nloop = True")
    notebook.run("#%loop(name=loop9, max_rounds=4)\npass")
    with pytest.raises(Exception, match="JobFailedError|failed"):
        notebook.run("#%submit_job()")
    run = notebook.engine.submitted[-1]
    error = run.results["loop9"].error
    assert error is not None and error.ename == "LoopLimitError"
    assert "'loop9' ran its maximum of 4 rounds" in error.evalue
    assert "#%loop(max_rounds=N)" in error.evalue
    assert run.results["start9"].state is TaskState.DONE


def test_max_rounds_must_be_positive(notebook):
    notebook.run("#%start(name=start8)\npass")
    notebook.run("#%condition()\nloop = False")
    with pytest.raises(Exception, match="max_rounds.: expected a whole number from 1 to"):
        notebook.run("#%loop(name=loop8, max_rounds=0)\npass")


def test_branch_runs_the_chosen_arm_then_the_continuation(notebook):
    notebook.run("#%branch(name=branch1)\nvariables.put('x', 5)")
    notebook.run("#%condition()\nbranch = 'if' if variables.get('x') > 3 else 'else'")
    notebook.run("#%if(name=if1, export=[picked])\npicked = 'if'")
    notebook.run("#%else(name=else1, export=[picked])\npicked = 'else'")
    notebook.run("#%continuation(name=cont1)\nprint('continued after', variables.get('x'))")
    ctx = notebook.run("#%submit_job()")
    assert states(notebook) == {"branch1": "done", "if1": "done", "else1": "skipped",
                                "cont1": "done"}  # fmt: skip
    assert notebook.namespace["picked"] == "if"
    assert "[cont1] continued after 5" in text(ctx)
    run = notebook.engine.submitted[-1]
    assert run.results["else1"].notes == ["not run: branch1 chose if (if1)"]


def test_a_bad_flow_decision_fails_the_deciding_task(notebook):
    notebook.run("#%split(name=split2)\npass")
    notebook.run("#%runs()\nruns = 0")
    notebook.run("#%process(name=process2)\npass")
    notebook.run("#%merge(name=merge2)\npass")
    with pytest.raises(Exception, match="JobFailedError|failed"):
        notebook.run("#%submit_job()")
    run = notebook.engine.submitted[-1]
    assert run.results["split2"].state is TaskState.FAILED
    assert "runs to a whole number from 1 to" in run.results["split2"].error.evalue
    assert run.results["process2"].state is TaskState.SKIPPED
    assert run.results["merge2"].state is TaskState.SKIPPED


def _write_branch(notebook: Notebook, condition: str, continuation: str) -> None:
    notebook.run("#%branch(name=branch4)\nvariables.put('x', 5)")
    notebook.run(f"#%condition()\n{condition}")
    notebook.run("#%if(name=if4, export=[picked])\npicked = 'if'")
    notebook.run("#%else(name=else4, export=[picked])\npicked = 'else'")
    notebook.run(continuation)


def test_the_continuation_imports_what_the_arm_that_ran_exports(any_backend):
    _write_branch(any_backend, "branch = 'else'",
                  "#%continuation(name=cont4, import=[picked], export=[seen])\nseen = picked")
    any_backend.run("#%submit_job()")
    assert any_backend.namespace["seen"] == "else"
    any_backend.run("#%condition()\nbranch = 'if'")
    any_backend.run("#%submit_job()")
    assert any_backend.namespace["seen"] == "if"


def test_a_continuation_import_only_one_arm_exports_is_refused_before_running(notebook):
    _write_branch(notebook, "branch = 'if'",
                  "#%continuation(name=cont5, import=[picked], export=[seen])\nseen = picked")
    notebook.run("#%else(name=else4)\npass")  # its cell edited: it exports nothing now
    with pytest.raises(Exception, match="its if task 'if4' exports it, but its else task "
                       "'else4' does not"):
        notebook.run("#%submit_job()")
    assert notebook.engine.submitted == []


def test_editing_the_branch_cell_keeps_its_condition_and_arms(any_backend):
    _write_branch(any_backend, "branch = 'if'",
                  "#%continuation(name=cont6, import=[picked], export=[seen])\nseen = picked")
    any_backend.run("#%submit_job()")
    any_backend.run("#%branch(name=branch4)\nvariables.put('x', 6)  # edited")
    any_backend.run("#%submit_job()")
    assert states(any_backend) == {"branch4": "done", "if4": "done", "else4": "skipped",
                                   "cont6": "done"}
    assert any_backend.namespace["seen"] == "if"
    any_backend.run("#%condition()\nbranch = 'else'")  # and its condition, after it
    any_backend.run("#%submit_job()")
    assert any_backend.namespace["seen"] == "else"


def test_a_display_that_raises_once_does_not_change_the_outcome(any_backend, monkeypatch):
    from pragma_kernel.pragmas.progress import JobProgress

    listener, broke = JobProgress.listener, []

    def breaks_once(self, event):
        if not broke and event.kind == "state" and event.state is TaskState.RUNNING:
            broke.append(event)
            raise RuntimeError("display broke")
        listener(self, event)

    monkeypatch.setattr(JobProgress, "listener", breaks_once)
    any_backend.run("#%task(name=first, export=[a])\na = 1")
    any_backend.run("#%task(name=second, dep=[first], import=[a], export=[b])\nb = a + 1")
    any_backend.run("#%submit_job()")
    assert broke, "the display was never told a task started"
    assert states(any_backend) == {"first": "done", "second": "done"}
    assert any_backend.namespace["b"] == 2
    assert any_backend.engine.submitted[-1].life.listener_broke


def test_a_failure_skips_every_descendant_naming_the_cause(any_backend):
    any_backend.run("#%task(name=bad)\n1 / 0")
    any_backend.run("#%task(name=child, dep=[bad])\npass")
    any_backend.run("#%task(name=grandchild, dep=[child])\npass")
    any_backend.run("#%task(name=other, export=[fine])\nfine = True")
    with pytest.raises(Exception, match="1 of 4 tasks"):
        any_backend.run("#%submit_job()")
    run = any_backend.engine.submitted[-1]
    assert states(any_backend) == {"bad": "failed", "child": "skipped",
                                   "grandchild": "skipped", "other": "done"}
    assert run.results["grandchild"].notes == ["skipped: bad failed"]
    assert run.results["bad"].error.ename == "ZeroDivisionError"


def test_a_file_one_task_writes_reaches_its_dependents_and_the_notebook(any_backend, tmp_path,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)  # the notebook's folder
    (tmp_path / "scale.txt").write_text("3")
    any_backend.run("#%task(name=writer, input_files=[scale.txt], output_files=[out/])\n"
                    "import os\nos.makedirs('out')\n"
                    "open('out/model.txt', 'w').write(open('scale.txt').read() * 2)")
    any_backend.run("#%task(name=reader, dep=[writer], input_files=[out/model.txt], "
                    "export=[read])\nread = open('out/model.txt').read()")
    any_backend.run("#%task(name=forgot, output_files=[never.txt])\npass")
    with pytest.raises(Exception, match="1 of 3 tasks"):
        any_backend.run("#%submit_job()")
    assert states(any_backend) == {"writer": "done", "reader": "done", "forgot": "failed"}
    assert any_backend.namespace["read"] == "33"
    assert (tmp_path / "out" / "model.txt").read_text() == "33"
    error = any_backend.engine.submitted[-1].results["forgot"].error
    assert "did not write 'never.txt'" in error.evalue


def test_a_branch_condition_that_raises_fails_the_branch_task(any_backend):
    """On every backend a flow script that raises fails its task (on ProActive the server
    runs it; the stand-in does as a server does) and what follows is skipped."""
    any_backend.run("#%branch(name=branch7)\npass")
    any_backend.run("#%condition()\nbranch = undefined_name")
    any_backend.run("#%if(name=if7)\npass")
    any_backend.run("#%else(name=else7)\npass")
    any_backend.run("#%continuation(name=cont7)\npass")
    with pytest.raises(Exception, match="tasks of job .* failed \\(branch7\\)"):
        any_backend.run("#%submit_job()")
    assert states(any_backend)["branch7"] == "failed"
    assert {states(any_backend)[t] for t in ("if7", "else7", "cont7")} == {"skipped"}


def test_on_proactive_a_number_put_is_text_for_the_server_and_a_number_for_python():
    """On ProActive the condition runs on the server (in any of its script languages), where
    variables are text: a number or boolean a Python task put arrives as its text there (not
    pickled), while Python descendants get the number itself, as on local and Dask."""
    notebook = Notebook()
    notebook.engine = engine_on_the_standin()
    notebook.run("#%branch(name=branch8)\nvariables.put('x', 5)")
    notebook.run("#%condition()\nbranch = 'if' if variables.get('x') == '5' else 'else'")
    notebook.run("#%if(name=if8, export=[picked])\npicked = 'if'")
    notebook.run("#%else(name=else8, export=[picked])\npicked = 'else'")
    notebook.run("#%continuation(name=cont8, export=[seen])\nseen = variables.get('x')")
    notebook.run("#%submit_job()")
    assert notebook.namespace["picked"] == "if"
    assert notebook.namespace["seen"] == 5
    assert notebook.engine.submitted[-1].results["branch8"].variables == {"x": 5}
    notebook.engine.shutdown()
