"""Activeeon's pragmas with Activeeon's meaning on the embedded and the Dask backend, through the
real kernel: languages only ProActive runs are refused when defined, ``#%import`` code reaches
Bash tasks, Bash tasks see ``$variables_NAME`` and ProActive's standard variables, ProActive-only
submit options say once that they do not apply, ``#%show_workflow_automation`` is accepted and a
loop control has one ``#%loop``. Dask is a real cluster (scheduler + 2 workers on 127.0.0.1)."""

from __future__ import annotations

import ast
import re

import pytest

from tests.conftest import start_kernel, stop_kernel
from tests.e2e.run_helpers import failing, ok, plain, streams


@pytest.fixture(scope="module", params=["local", "dask"])
def backend_kernel(request):
    """A kernel connected to one backend, and that backend's name."""
    km, kc = start_kernel()
    if request.param == "local":
        ok(kc, "#%connect(backend=local, workers=2)")
    else:
        from tests.e2e.dask_cluster import shared_cluster

        ok(kc, f"#%connect(backend=dask, url={shared_cluster().address})", timeout=120)
    yield kc, request.param
    stop_kernel(km, kc)


def test_languages_only_proactive_runs_are_refused_when_defined(backend_kernel):
    kc, backend = backend_kernel
    for language in ("Jython", "Groovy", "R"):
        ename, shown = failing(kc, f"#%task(name=jy, language={language})\nresult = 123")
        assert ename == "PragmaUsageError"
        last = shown.splitlines()[-1]
        assert f"{language} tasks run only on a ProActive scheduler" in last, shown
        assert f"the {backend} backend runs Python and Linux_Bash" in last, shown
        assert "Traceback" not in shown
    ename, shown = failing(kc, "#%delete_task(name=jy)")  # it was not defined
    assert "there is no task 'jy'" in shown
    ok(kc, "#%task(name=py_ok)\nresult = 1")
    ename, shown = failing(kc, "#%pre_script(name=py_ok, language=Groovy)\nprintln 'pre'")
    assert "Groovy scripts run only on a ProActive scheduler" in shown
    ok(kc, "#%pre_script(name=py_ok, language=Linux_Bash)\necho pre")  # Bash runs here
    ok(kc, "#%delete_task(name=py_ok)")


def test_bash_tasks_get_the_import_code_and_variables_as_on_proactive(backend_kernel):
    kc, _ = backend_kernel
    ok(kc, "#%import(language=Linux_Bash)\ngreet() { echo \"greeted $1\"; }")
    ok(kc, "#%job(name=pa_vars, variables=[(FOO, bar)])")
    ok(kc, "#%task(name=first)\nresult = 1")
    ok(kc, "#%task(name=sh, dep=[first], language=Linux_Bash)\n"
           "greet \"$PA_TASK_NAME\"\n"
           "echo \"FOO=$FOO variables_FOO=$variables_FOO\"\n"
           "echo \"job=$variables_PA_JOB_ID/$variables_PA_JOB_NAME id=$variables_PA_TASK_ID\"\n"
           "echo \"replica=$variables_PA_TASK_REPLICATION round=$variables_PA_TASK_ITERATION\"")
    ok(kc, "#%task(name=py, dep=[first], export=[pa])\n"
           "pa = {k: variables[k] for k in ('PA_JOB_ID', 'PA_JOB_NAME', 'PA_TASK_NAME', "
           "'PA_TASK_ID', 'PA_TASK_REPLICATION', 'PA_TASK_ITERATION')}")
    said = streams(ok(kc, "#%submit_job()", timeout=120))
    job_id = plain(ok(kc, "#%list_submitted_jobs()"))[-1].splitlines()[-1].split()[0]
    number = int(re.search(r"\d+$", job_id).group())
    assert "[sh] greeted sh" in said, said
    assert "[sh] FOO=bar variables_FOO=bar" in said
    assert f"[sh] job={job_id}/pa_vars id={number * 10000 + 1}" in said  # 2nd task of the job
    assert "[sh] replica=0 round=0" in said
    pa = ast.literal_eval(streams(ok(kc, "print(repr(pa))")))
    assert pa == {"PA_JOB_ID": job_id, "PA_JOB_NAME": "pa_vars", "PA_TASK_NAME": "py",
                  "PA_TASK_ID": str(number * 10000 + 2), "PA_TASK_REPLICATION": 0,
                  "PA_TASK_ITERATION": 0}
    for name in ("py", "sh", "first"):
        ok(kc, f"#%delete_task(name={name})")


def test_an_error_in_bash_import_code_names_its_cell_and_line(backend_kernel):
    kc, _ = backend_kernel
    ok(kc, "#%import(language=Linux_Bash)\ntrue\nno_such_command_xyz")
    ok(kc, "#%task(name=sh_err, language=Linux_Bash)\necho after the import")
    outputs = ok(kc, "#%submit_job()", timeout=120)
    assert "[sh_err] after the import" in streams(outputs)
    errors = streams(outputs, "stderr")
    assert re.search(r"Cell In\[\d+\]: line 3: no_such_command_xyz", errors), errors
    ok(kc, "#%delete_task(name=sh_err)")
    ok(kc, "#%import(language=Linux_Bash)\ntrue")


def test_submit_jobs_proactive_folders_say_once_they_do_not_apply(backend_kernel):
    kc, backend = backend_kernel
    ok(kc, "#%task(name=folders)\nresult = 1")
    notice = (f"submit_job's input_path, output_path are ProActive's; the {backend} backend "
              "does not apply them")
    said = streams(ok(kc, "#%submit_job(input_path=./in, output_path=./out)", timeout=120))
    assert said.count(notice) == 1, said
    said = streams(ok(kc, "#%submit_job(input_path=./in, output_path=./out)", timeout=120))
    assert notice not in said
    ok(kc, "#%delete_task(name=folders)")


def test_show_workflow_automation_is_accepted(backend_kernel):
    kc, backend = backend_kernel
    outputs = ok(kc, "#%show_workflow_automation(height=300)")
    if backend == "local":
        assert "has no portal" in streams(outputs)
    else:
        assert "the dask dashboard" in plain(outputs)[-1]


def test_a_second_loop_after_a_complete_loop_block_is_refused(backend_kernel):
    kc, _ = backend_kernel
    ok(kc, "#%start(name=start9)\nprint('round')")
    ok(kc, "#%condition()\nloop = int(variables.get('i') or 0) < 2")
    ok(kc, "#%loop(name=loop9)\nvariables.put('i', int(variables.get('i') or 0) + 1)")
    ename, shown = failing(kc, "#%loop(name=loop9b)\nprint('a second end')")
    assert ename == "PragmaStateError"
    assert "already has its #%loop task 'loop9'" in shown and "#%start(" in shown
    ok(kc, "#%loop(name=loop9)\nvariables.put('i', int(variables.get('i') or 0) + 1)")  # re-run
    said = streams(ok(kc, "#%submit_job()", timeout=120))
    assert said.count("[start9] round") == 2  # once, then once more: one loop end
    for name in ("loop9", "start9"):
        ok(kc, f"#%delete_task(name={name})")
