"""Item 1: every numeric option is checked over its whole range where it is written (the usual
caret error), and an internal error of the local scheduler ends its jobs with one message,
leaving the backend usable for the next job."""

from __future__ import annotations

import re

import pytest
from pragma_kernel.pragmas.backends.base import JobPlan, PlannedTask, TaskState
from pragma_kernel.pragmas.backends.local import LocalBackend
from pragma_kernel.pragmas.model import Job, SourceLocation, Task

from tests.conftest import execute

ANSI = re.compile(r"\x1b\[[0-9;]*m")

OUT_OF_RANGE = [
    ("#%task(name=t, timeout=VALUE)\npass", "timeout", ["inf", "1e7", "nan", "-inf", "0", "-1",
                                                         "1e400"]),
    ("#%task(name=t, runs=VALUE)\npass", "runs", ["0", "-3", "1000000000"]),
    ("#%task(name=t, retries=VALUE)\npass", "retries", ["-1", "100000"]),
    ("#%connect(backend=local, workers=VALUE)", "workers", ["0", "100000"]),
    ("#%connect(host=example.org, port=VALUE, login=me, password=pw)", "port", ["0", "70000"]),
]
CASES = [(cell.replace("VALUE", value), param, value)
         for cell, param, values in OUT_OF_RANGE for value in values]


@pytest.mark.parametrize("cell, param, value", CASES, ids=[c[0].split("\n")[0] for c in CASES])
def test_an_out_of_range_number_is_refused_where_it_is_written(kernel, cell, param, value):
    _, kc = kernel
    reply, outputs = execute(kc, cell)
    assert reply["content"]["status"] == "error"
    error = next(m["content"] for m in outputs if m["msg_type"] == "error")
    assert error["ename"] == "PragmaUsageError"
    shown = ANSI.sub("", "\n".join(error["traceback"]))
    assert f"parameter '{param}': expected a " in shown and f"not '{value}'" in shown
    line = cell.split("\n")[0]
    caret = next(row for row in shown.splitlines() if row.strip() == "^")
    assert caret.index("^") - shown.splitlines()[shown.splitlines().index(caret) - 1].index(
        line) == line.index(f"{param}={value}") + len(param) + 1, shown


def test_the_largest_timeout_is_accepted(kernel):
    _, kc = kernel
    reply, _ = execute(kc, "#%task(name=t, timeout=2147483)\npass")
    assert reply["content"]["status"] == "ok"
    execute(kc, "#%delete_task(name=t)")


def plan_with(*tasks: Task) -> JobPlan:
    job = Job(name="ranges")
    for task in tasks:
        job.define(task)
    return JobPlan(job, "ranges", {t.name: PlannedTask(t, tuple(t.dep), {}) for t in tasks})


def task(name: str, code: str = "pass", **options) -> Task:
    return Task(name, code, source=SourceLocation("Cell In[1]", 2), **options)


@pytest.fixture(scope="module")
def backend():
    backend = LocalBackend(workers=2)
    yield backend
    backend.close()


@pytest.mark.parametrize("timeout", [float("inf"), float("nan")])
def test_a_scheduler_error_ends_the_job_once_and_the_backend_goes_on(backend, timeout):
    """A plan made without the parser (a bug, another caller) carries an impossible timeout:
    the scheduler fails on it. The job ends with one error; a job running beside it and the
    next job run to their end."""
    steady = backend.submit(plan_with(task("steady", "import time\ntime.sleep(1)\ny = 2",
                                           exports=["y"])), lambda event: None)
    plan = plan_with(task("broken", timeout=timeout), task("after", dep=["broken"]),
                     task("beside", "import time\ntime.sleep(0.2)"))
    run = backend.submit(plan, lambda event: None)
    assert run.wait(timeout=60), "the job never ended"
    assert steady.wait(timeout=60) and steady.results["steady"].exports == {"y": 2}
    failed = [r for r in run.results.values() if r.state is TaskState.FAILED]
    assert len(failed) == 1 and failed[0].error.ename == "SchedulerError"
    assert "timeout" in failed[0].error.evalue and "remain usable" in failed[0].error.evalue
    assert all(r.state.final for r in run.results.values())
    healthy = backend.submit(plan_with(task("fine", "x = 1", exports=["x"])), lambda event: None)
    assert healthy.wait(timeout=60), "the backend did not run the next job"
    assert healthy.results["fine"].state is TaskState.DONE
    assert healthy.results["fine"].exports == {"x": 1}
