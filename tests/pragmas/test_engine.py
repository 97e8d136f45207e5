"""The pragma engine without a kernel: cells, errors, planning, control flow, help, editor
support (the same code the kernel calls through ``pragma_kernel.kernel.seam.CellEngine``)."""

from __future__ import annotations

import os
import pickle

import cloudpickle
import pytest
from pragma_kernel.kernel.seam import CellEngine, CellError
from pragma_kernel.pragmas.backends.base import Backend
from pragma_kernel.pragmas.errors import (
    CellErrors,
    JobValidationError,
    PragmaStateError,
    PragmaUsageError,
    TaskSyntaxError,
)

from tests.pragmas.engine_helpers import Notebook, text


def test_engine_is_a_cell_engine():
    assert isinstance(Notebook().engine, CellEngine)


def test_several_pragmas_in_one_cell_apply_in_order():
    nb = Notebook()
    nb.run("#%job(name=J)\n#%task(name=a)\n#%pre_script(name=a)\nprint('x')\n")
    assert nb.job.name == "J"
    assert nb.job.tasks["a"].pre_script.code == "print('x')\n"


def test_pragma_without_body_followed_by_code_is_an_error_at_the_code():
    nb = Notebook()
    with pytest.raises(PragmaUsageError) as caught:
        nb.run("#%draw_job()\n\n  print('never runs')\n")
    error = caught.value
    assert error.lineno == 3 and error.column == 2
    assert "#%draw_job takes no code" in error.message
    assert error.traceback[0] == "  Cell In[1], line 3, column 3"


def test_code_owned_by_a_body_taking_pragma_of_the_same_cell_is_fine():
    nb = Notebook()
    nb.run("#%task(name=a)\n#%job(name=J)\nx = 1\n")
    assert nb.job.tasks["a"].code == "x = 1\n"


def test_comment_only_body_is_not_code():
    Notebook().run("#%help()\n# just a note\n")


def test_body_required():
    with pytest.raises(PragmaUsageError, match="#%import: needs code below the pragma line"):
        Notebook().run("#%import()")


def test_every_bad_line_of_a_cell_reported_at_once():
    with pytest.raises(CellErrors) as caught:
        Notebook().run("#%task(name=a, runs=x)\n#%tsak()\n#%draw_job(save=maybe)\n")
    error = caught.value
    assert [e.lineno for e in error.errors] == [1, 2, 3]
    assert error.traceback[-1].startswith("PragmaUsageError: 3 problems in this cell")
    carets = [line for line in error.traceback if line.strip() == "^"]
    assert len(carets) == 3


def test_syntax_error_in_task_body_at_the_cell_line():
    nb = Notebook()
    with pytest.raises(TaskSyntaxError) as caught:
        nb.run("#%task(name=a)\nx = 1\nif x\n    pass\n")
    error = caught.value
    assert (error.lineno, error.column) == (3, 4)
    assert error.traceback == ["  Cell In[1], line 3, column 5", "    if x", "        ^",
                               "TaskSyntaxError: expected ':'"]  # fmt: skip
    assert "a" not in nb.job.tasks  # nothing was defined


def test_cell_errors_are_cell_errors_with_ename_last():
    with pytest.raises(CellError) as caught:
        Notebook().run("#%task(name=")
    assert caught.value.traceback[-1] == f"{caught.value.ename}: {caught.value.evalue}"


def test_unknown_dep_warned_at_definition():
    out = Notebook().run("#%task(name=predict, dep=[kjhasdad])\nresult = 1\n")
    assert "task 'predict' depends on 'kjhasdad', which is not defined" in text(out, "stderr")


def test_import_and_export_must_be_python_names():
    with pytest.raises(PragmaUsageError, match="'a-b' is not a Python variable name") as caught:
        Notebook().run("#%task(name=x, import=[a-b])\nprint(1)\n")
    assert caught.value.column == 22


def test_runs_zero_refused_at_definition():
    with pytest.raises(PragmaUsageError, match="runs must be a positive whole number"):
        Notebook().run("#%task(name=x, runs=0)\npass\n")


def test_task_cannot_depend_on_itself():
    with pytest.raises(PragmaUsageError, match="cannot depend on itself"):
        Notebook().run("#%task(name=x, dep=[x])\npass\n")


# ------------------------------------------------------------------ plan


def test_plan_freezes_order_deps_import_sources_and_local_inputs():
    nb = Notebook(df=[1, 2, 3])
    nb.run("#%task(name=b, dep=[a, ghost], import=[m, df])\nprint(m, df)\n")
    nb.run("#%task(name=a, export=[m])\nm = 2\n")
    ctx = nb.context()
    plan = nb.engine.plan(ctx, name="J1")
    assert plan.name == "J1" and list(plan.tasks) == ["a", "b"]
    assert plan.tasks["b"].deps == ("a",)
    assert plan.tasks["b"].import_sources == {"m": "a", "df": None}
    assert pickle.loads(plan.local_inputs["df"]) == [1, 2, 3]
    assert "depends on 'ghost', which is not defined" in text(ctx, "stderr")
    nb.run("#%task(name=a, export=[m])\nm = 3\n")
    assert plan.tasks["a"].task.code == "m = 2\n"  # the plan does not change with the job


def test_plan_refuses_with_every_problem():
    nb = Notebook()
    nb.run("#%task(name=a, dep=[b])\npass\n")
    nb.run("#%task(name=b, dep=[a], import=[nothing])\npass\n")
    with pytest.raises(JobValidationError) as caught:
        nb.engine.plan(nb.context())
    problems = caught.value.problems
    assert len(problems) == 2
    assert any("cycle" in p for p in problems) and any("'nothing'" in p for p in problems)
    assert caught.value.traceback[-1].startswith("JobValidationError: the job cannot run: 2 ")


def test_plan_refuses_unserialisable_local_input():
    import threading

    nb = Notebook(lock=threading.Lock())
    nb.run("#%task(name=a, import=[lock])\npass\n")
    with pytest.raises(JobValidationError, match="imports 'lock' from the notebook, but it "
                       "cannot be serialised: TypeError"):  # fmt: skip
        nb.engine.plan(nb.context())


def test_plan_of_an_empty_job():
    with pytest.raises(PragmaStateError, match="no task yet"):
        Notebook().engine.plan(Notebook().context())


def test_job_name_resolution(monkeypatch):
    nb = Notebook()
    ctx = nb.context()
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    generated = nb.engine.job_name(ctx)
    assert generated.startswith("job_") and nb.engine.job_name(ctx) == generated
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/work/MLExample.ipynb")
    assert nb.engine.job_name(ctx) == "MLExample"
    ctx.notebook_name = "Demo.ipynb"
    assert nb.engine.job_name(ctx) == "Demo"
    nb.run("#%job(name=Named)")
    assert nb.engine.job_name(ctx) == "Named"
    assert nb.engine.job_name(ctx, "Given") == "Given"


def test_local_inputs_round_trip_functions():
    nb = Notebook(square=lambda v: v * v)
    nb.run("#%task(name=a, import=[square])\nsquare(2)\n")
    plan = nb.engine.plan(nb.context())
    assert cloudpickle.loads(plan.local_inputs["square"])(3) == 9


# ------------------------------------------------------------------ control flow


def test_replicate_control_in_order():
    nb = Notebook()
    nb.run("#%split(name=split1)\nprint('split')\n")
    nb.run("#%runs()\nruns=3\n")
    nb.run("#%process()\nprint('process')\n")
    nb.run("#%merge()\nprint('merge')\n")
    tasks = nb.job.tasks
    assert list(tasks) == ["split1", "process1", "merge1"]
    assert tasks["split1"].flow.block == "start" and tasks["split1"].flow.action == "replicate"
    assert tasks["split1"].flow.script.code == "runs=3\n"
    assert tasks["split1"].flow.script.language == "Python"
    assert tasks["process1"].dep == ["split1"] and tasks["merge1"].dep == ["process1"]
    assert tasks["merge1"].flow.block == "end"


@pytest.mark.parametrize(
    ("pragma", "script", "language"),
    [("#%runs()", "runs = 3", "Python"), ("#%runs()", "var runs = 3;", "Javascript"),
     ("#%runs(language=Groovy)", "runs = 3", "Groovy"),
     ("#%condition()", 'if(true){ branch = "if"; } else { branch = "else"; }', "Javascript")],
)  # fmt: skip
def test_flow_script_language(pragma, script, language):
    nb = Notebook()
    nb.run("#%branch(name=b)\npass\n" if "condition" in pragma else "#%split(name=s)\npass\n")
    nb.run(f"{pragma}\n{script}\n")
    task = nb.job.tasks["b" if "condition" in pragma else "s"]
    assert task.flow.script.language == language


def test_replicate_default_names_without_digits():
    nb = Notebook()
    nb.run("#%split(name=prepare)\npass\n")
    nb.run("#%runs()\nruns=2\n")
    nb.run("#%process()\npass\n")
    assert "prepare_process" in nb.job.tasks


def test_loop_control():
    nb = Notebook()
    nb.run("#%start()\ni = 0\n")
    nb.run("#%condition()\nloop = i < 3\n")
    nb.run("#%loop(name=again)\ni += 1\n")
    again = nb.job.tasks["again"]
    assert nb.job.tasks["start0"].flow.block == "start"
    assert again.dep == ["start0"] and again.flow.action == "loop"
    assert again.flow.target == "start0" and again.flow.script.code == "loop = i < 3\n"


def test_branch_control():
    nb = Notebook()
    nb.run("#%branch(name=b1)\nx = 1\n")
    nb.run("#%condition()\nbranch = 'if'\n")
    for step in ("if", "else", "continuation"):
        nb.run(f"#%{step}()\nprint('{step}')\n")
    flow = nb.job.tasks["b1"].flow
    assert flow.block is None  # a branch is not a ProActive block
    assert flow.action == "if" and flow.script.code == "branch = 'if'\n"
    assert (flow.if_target, flow.else_target, flow.continuation_target) == (
        "if1", "else1", "continuation1")


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (["#%runs()\nruns=3\n"],
         "#%runs belongs to a replicate control, which starts with #%split"),
        (["#%split()\npass\n", "#%process()\npass\n"], "expected #%runs now"),
        (["#%split()\npass\n", "#%runs()\nruns=2\n", "#%merge()\npass\n"], "expected #%process"),
        (["#%start()\npass\n", "#%loop()\npass\n"], "expected #%condition now"),
        (["#%branch()\npass\n", "#%condition()\nbranch='if'\n", "#%else()\npass\n"],
         "expected #%if now"),
        (["#%condition()\nloop=False\n"], "starts with #%start or #%branch"),
        (["#%start()\npass\n", "#%condition()\nloop=0\n", "#%if()\npass\n"],
         "#%if belongs to a branch control"),
    ],
)
def test_control_flow_out_of_order(cells, message):
    nb = Notebook()
    for cell in cells[:-1]:
        nb.run(cell)
    with pytest.raises(PragmaStateError, match=message):
        nb.run(cells[-1])


def test_finished_controls_validate_and_unfinished_ones_do_not():
    nb = Notebook()
    nb.run("#%split()\npass\n")
    with pytest.raises(JobValidationError, match="'split0' opens a replicate or loop control"):
        nb.engine.plan(nb.context())
    for cell in ("#%runs()\nruns=2\n", "#%process()\npass\n", "#%merge()\npass\n",
                 "#%branch()\npass\n", "#%condition()\nbranch='if'\n", "#%if()\npass\n",
                 "#%else()\npass\n", "#%continuation()\npass\n", "#%start()\npass\n",
                 "#%condition()\nloop=False\n", "#%loop()\npass\n"):
        nb.run(cell)
    plan = nb.engine.plan(nb.context())
    assert len(plan.tasks) == 9


def test_rerunning_the_current_flow_step_is_allowed():
    nb = Notebook()
    nb.run("#%split()\npass\n")
    nb.run("#%runs()\nruns=2\n")
    nb.run("#%runs()\nruns=4\n")
    assert nb.job.tasks["split0"].flow.script.code == "runs=4\n"


def test_step_after_its_control_task_was_deleted():
    nb = Notebook()
    nb.run("#%split()\npass\n")
    nb.run("#%delete_task(name=split0)")
    with pytest.raises(PragmaStateError, match="the #%split task 'split0' of this replicate "
                       "control was deleted"):  # fmt: skip
        nb.run("#%runs()\nruns=2\n")


def test_rerunning_an_earlier_step_after_the_control_is_finished():
    nb = Notebook()
    for cell in ("#%split()\npass\n", "#%runs()\nruns=2\n", "#%process()\nx = 1\n",
                 "#%merge()\npass\n", "#%process()\nx = 2\n"):  # fmt: skip
        nb.run(cell)
    assert nb.job.tasks["process0"].code == "x = 2\n"
    assert nb.engine.control.step == 3  # still complete: the next #%split starts afresh


# ------------------------------------------------------------------ help


def test_help_lists_every_pragma_from_the_registry():
    nb = Notebook()
    out = text(nb.run("#%help()"))
    names = {spec.name for spec in nb.engine.registry.values()}
    for name in names:
        assert f"#%{name}()" in out


def test_help_of_one_pragma_and_unknown_pragma():
    nb = Notebook()
    out = text(nb.run("#%help(pragma=task)"))
    assert out.startswith("#%task(): creates or replaces a task")
    assert "Usage:" in out and "Example:" in out and "Backends:" in out
    with pytest.raises(PragmaUsageError, match="there is no pragma 'tsak'. Did you mean 'task'"):
        nb.run("#%help(pragma=tsak)")


# ------------------------------------------------------------------ editor support


def completion(code: str, cursor: int | None = None, nb: Notebook | None = None):
    nb = nb or Notebook()
    return nb.engine.complete(code, len(code) if cursor is None else cursor)


def test_complete_pragma_names():
    reply = completion("#%dr")
    assert reply["matches"] == ["draw_job"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (2, 4)
    assert "task" in completion("#%")["matches"]


def test_complete_in_the_middle_of_a_word_replaces_all_of_it():
    reply = completion("#%dr_job()", 4)
    assert reply["matches"] == ["draw_job"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (2, 8)
    reply = completion("#%task(na=x)", 9)
    assert reply["matches"] == ["name="] and (reply["cursor_start"], reply["cursor_end"]) == (7, 9)


def test_complete_parameter_names_not_yet_given():
    code = "x = 1\n#%task(name=a, d"
    reply = completion(code)
    assert reply["matches"] == ["dep="]
    assert reply["cursor_start"] == len(code) - 1
    assert "name=" not in completion("#%task(name=a, ")["matches"]
    assert "name=" in completion("#%task(")["matches"]


def test_complete_choice_and_flag_values():
    assert completion("#%configure(task=mu")["matches"] == ["multiblock"]
    assert completion("#%draw_job(save=o")["matches"] == ["on", "off"]
    assert "Linux_Bash" in completion("#%task(name=a, language=L")["matches"]


def test_complete_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fork_env.py").write_text("")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "impl.py").write_text("")
    assert completion("#%fork_env(name=a, path=f")["matches"] == ["folder/", "fork_env.py"]
    assert completion("#%task(name=a, path=folder/i")["matches"] == ["folder/impl.py"]
    assert completion("#%task(name=a, path=nothing/")["matches"] == []


def test_complete_task_names_in_dep():
    nb = Notebook()
    nb.run("#%task(name=prepare)\npass\n")
    nb.run("#%task(name=train)\npass\n")
    assert completion("#%task(name=c, dep=[p", nb=nb)["matches"] == ["prepare"]
    assert completion("#%delete_task(name=t", nb=nb)["matches"] == ["train"]


def test_complete_imports_with_the_exports_of_tasks_and_the_notebook_variables():
    nb = Notebook()
    nb.run("#%task(name=prepare, export=[frame, labels])\nframe = labels = 1\n")
    namespace = {"learning_rate": 0.1, "frame_size": 3, "os": os}
    reply = nb.engine.complete("#%task(name=train, import=[", 27, namespace)
    assert reply["matches"] == ["frame", "frame_size", "labels", "learning_rate"]  # no module
    code = "#%task(name=train, import=[learning_rate, fr"
    reply = nb.engine.complete(code, len(code), namespace)
    assert reply["matches"] == ["frame", "frame_size"]
    assert reply["cursor_start"] == len(code) - 2


def test_the_help_of_a_pragma_fits_a_tooltip():
    nb = Notebook()
    for name in ("task", "submit_job", "connect"):
        text = nb.engine.inspect(f"#%{name}(", 4, 0)["data"]["text/plain"]
        assert max(len(line) for line in text.splitlines()) <= 79, name
    text = nb.engine.inspect("#%task(name=a, language=R)", 17, 0)["data"]["text/plain"]
    assert text.startswith("language: the script language") and "Usage:\n   #%task(name=" in text
    assert max(len(line) for line in text.splitlines()) <= 79


def test_complete_pragma_names_for_help_and_types_for_jupyterlab():
    reply = completion("#%help(pragma=dra")
    assert reply["matches"] == ["draw_job"]
    assert reply["metadata"]["_jupyter_types_experimental"] == [
        {"start": 14, "end": 17, "text": "draw_job", "type": "value"}]
    assert completion("#%ta")["metadata"]["_jupyter_types_experimental"][0]["type"] == "pragma"


def test_complete_not_on_a_pragma_line_is_left_to_python():
    assert completion("#%task(name=a)\nimpo") is None
    assert completion("x = 1") is None


def test_inspect_shows_the_help_of_the_pragma():
    nb = Notebook()
    reply = nb.engine.inspect("#%task(name=a)", 4, 0)
    assert reply["found"] and reply["data"]["text/plain"].startswith("#%task(): ")
    reply = nb.engine.inspect("#%task(name=a, runs=2)", 17, 0)
    assert reply["data"]["text/plain"].startswith("runs: run N replicas")
    assert nb.engine.inspect("#%nothing()", 4, 0)["found"] is False
    assert nb.engine.inspect("x = 1", 2, 0) is None


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("#%draw_job()", "complete"),
        ("#%task(name=a", "invalid"),
        ("#%task(name=a))", "invalid"),
        ("#%nothing()", "invalid"),
        ("#%task(name=a)", "incomplete"),
        ("#%task(name=a)\nx = 1", "incomplete"),
        ("#%task(name=a)\nx = 1\n", "complete"),
        ("x = 1", None),
    ],
)
def test_is_complete(code, status):
    reply = Notebook().engine.is_complete(code)
    assert (reply and reply["status"]) == status


def test_is_complete_indents_after_a_colon():
    reply = Notebook().engine.is_complete("#%task(name=a)\nfor i in range(3):")
    assert reply == {"status": "incomplete", "indent": "    "}


# ------------------------------------------------------------------ backend and notices


class CountingBackend(Backend):
    """A stand-in backend that only counts close() (the real ones are tested elsewhere)."""

    name = "counting"

    def __init__(self):
        self.closed = 0

    def submit(self, plan, listener):
        raise NotImplementedError

    def cancel(self, run):
        raise NotImplementedError

    def close(self):
        self.closed += 1


def test_set_backend_closes_the_previous_one():
    nb = Notebook()
    first, second = CountingBackend(), CountingBackend()
    nb.engine.set_backend(first)
    nb.engine.set_backend(first)
    assert first.closed == 0
    nb.engine.set_backend(second)
    assert first.closed == 1 and nb.engine.backend is second
    nb.engine.shutdown()
    assert second.closed == 1 and nb.engine.backend is None


def test_say_once():
    nb = Notebook()
    ctx = nb.context()
    for _ in range(3):
        nb.engine.say_once("k", "selection_script does not apply on the local backend", ctx)
    assert text(ctx) == "selection_script does not apply on the local backend\n"


def _pragma_workers() -> list:
    import multiprocessing

    return [p for p in multiprocessing.active_children() if p.name == "pragma-worker"]


def _join_worker_starts() -> None:
    import threading

    for thread in threading.enumerate():
        if thread.name == "local-workers-start":
            thread.join(60)


def test_the_first_pragma_cell_starts_the_workers_and_the_first_job_uses_them():
    nb = Notebook()
    nb.engine.start_workers_early = True
    nb.run("#%task(name=a, export=[x])\nx = 6 * 7")
    _join_worker_starts()  # no job submitted: the workers started on their own
    try:
        started = {p.pid for p in _pragma_workers()}
        assert len(started) == (os.cpu_count() or 1)
        nb.run("#%submit_job()")
        assert nb.namespace["x"] == 42
        assert {p.pid for p in _pragma_workers()} == started  # the same ones ran the job
    finally:
        nb.engine.shutdown()
    assert _pragma_workers() == []


def test_workers_starting_in_the_background_do_not_outlive_a_shutdown():
    nb = Notebook()
    nb.engine.start_workers_early = True
    nb.run("#%task(name=a)\npass")
    nb.engine.shutdown()  # while they may still be starting
    _join_worker_starts()
    assert _pragma_workers() == []


def test_a_first_cell_that_connects_starts_only_what_it_connects():
    nb = Notebook()
    nb.engine.start_workers_early = True
    nb.run("#%connect(backend=local, workers=1)")
    _join_worker_starts()
    try:
        assert len(_pragma_workers()) == 1
    finally:
        nb.engine.shutdown()
