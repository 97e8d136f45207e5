"""Faults while running jobs, through the real kernel: each gives the right message, keeps the
other tasks' results, leaves the kernel alive and the notebook's namespace intact."""

from __future__ import annotations

import os
import time

import pytest

from tests.conftest import collect_iopub, execute
from tests.e2e.run_helpers import error_of, failing, job, ok, plain, streams

__all__ = ["job"]  # the fixture, imported for pytest


def check_independent_branch_kept(kc) -> None:
    outputs = ok(kc, "#%get_task_result(task_name=independent)")
    assert "independent exported: independent_value = 42" in streams(outputs)


FAULTS = {
    "raises": ("def deep():\n    raise ValueError('bad input')\n\ndeep()",
               ["line 3, in deep", "raise ValueError('bad input')", "ValueError: bad input"]),
    "exits": ("import os\nos._exit(1)", ["WorkerCrashed", "exited with status 1"]),
    "segfaults": ("import ctypes\nctypes.string_at(0)", ["SIGSEGV (segmentation fault)"]),
    "unpicklable": ("import threading\nbroken = threading.Lock()",
                    ["export 'broken' of task 'faulty' cannot be serialised", "_thread.lock"]),
}  # fmt: skip


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_failing_task_beside_an_independent_branch(job, fault):
    kc, define = job
    body, expected = FAULTS[fault]
    header = ", export=[broken]" if fault == "unpicklable" else ""
    define("faulty", header, body)
    define("skipped_after", ", dep=[faulty]", "print('never runs')")
    define("independent", ", export=[independent_value]", "independent_value = 42")
    ename, traceback = failing(kc, "#%submit_job()")
    assert ename == "JobFailedError"
    assert "1 of 3 tasks" in traceback and "1 done, 1 skipped" in traceback
    for text in expected:
        assert text in traceback
    if fault == "raises":  # the user's cell lines, not the runtime's frames
        assert 'File "Cell In[' in traceback and "runtime.py" not in traceback
    check_independent_branch_kept(kc)


def test_timeout(job):
    kc, define = job
    define("sleepy", ", timeout=0.5", "import time\ntime.sleep(60)")
    define("independent", ", export=[independent_value]", "independent_value = 42")
    ename, traceback = failing(kc, "#%submit_job()")
    assert ename == "JobFailedError"
    assert "TimeoutError: task sleepy exceeded its timeout of 0.5 s" in traceback
    check_independent_branch_kept(kc)


def test_import_nobody_provides_is_refused_before_running(job):
    kc, define = job
    define("reader", ", import=[nowhere_defined]", "print(nowhere_defined)")
    ename, traceback = failing(kc, "#%submit_job()")
    assert ename == "JobValidationError"
    assert "reader" in traceback and "nowhere_defined" in traceback


def test_cycle_is_refused(job):
    kc, define = job
    define("p", ", dep=[q]", "pass")
    define("q", ", dep=[p]", "pass")
    ename, traceback = failing(kc, "#%submit_job()")
    assert ename == "JobValidationError" and "cycle" in traceback.lower()


def test_interrupt_cancels_the_job_and_keeps_the_namespace(kernel, job):
    km, _ = kernel
    kc, define = job
    define("long_one", "", "import time\ntime.sleep(60)")
    define("long_two", "", "import time\ntime.sleep(60)")
    define("queued", ", dep=[long_one], export=[sentinel]", "sentinel = 'overwritten'")
    msg_id = kc.execute("#%submit_job()")
    messages = []
    while True:  # interrupt once both tasks run, as the progress display says
        message = kc.get_iopub_msg(timeout=30)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(message)
        data = message["content"].get("data", {})
        if "2 running" in data.get("text/plain", ""):
            break
    km.interrupt_kernel()
    messages += collect_iopub(kc, msg_id, timeout=30)
    ename, _ = error_of(messages)
    assert ename == "KeyboardInterrupt"
    outputs = ok(kc, "#%list_submitted_jobs()")
    table = outputs[-1]["content"]["data"]["text/plain"]
    assert "3 cancelled" in table.splitlines()[-1]
    assert "cancelled" in ok(kc, "#%get_job_result()")[-1]["content"]["data"]["text/plain"]


def test_workers_end_with_a_killed_kernel(fresh_kernel):
    km, kc = fresh_kernel
    ok(kc, "#%task(name=forever)\nimport os, time\nprint('pid', os.getpid(), flush=True)\n"
           "time.sleep(300)")  # fmt: skip
    msg_id = kc.execute("#%submit_job(wait=off)")
    worker_pid = None
    while worker_pid is None:
        message = kc.get_iopub_msg(timeout=30)
        text = message["content"].get("text", "")
        if message["parent_header"].get("msg_id") == msg_id and "[forever] pid" in text:
            worker_pid = int(text.split()[2])
    km.shutdown_kernel(now=True)  # SIGKILL, no shutdown_request
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(worker_pid):
        time.sleep(0.1)
    assert not _alive(worker_pid), "a worker outlived its kernel"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie waiting for its parent is gone too
        return stat.read().split()[2] != "Z"


# --- tracebacks point at the user's own cells ------------------------------------------------


def cell_number(kc, code: str) -> int:
    """Run ``code`` (it must succeed) and return its execution count: its ``Cell In[N]``."""
    reply, outputs = execute(kc, code)
    assert reply["content"]["status"] == "ok", outputs
    return reply["content"]["execution_count"]


def test_multiblock_error_names_the_appended_cell_and_its_line(job):
    kc, define = job
    ok(kc, "#%configure(task=multiblock)")
    try:
        define("grown", "", "base = 20")
        cell_number(kc, "doubled = base * 2\n")
        failing_cell = cell_number(kc, "total = doubled + 2\nraise ValueError(f'total {total}')\n")
        ename, traceback = failing(kc, "#%submit_job()")
    finally:
        ok(kc, "#%configure(task=block)")
    assert ename == "JobFailedError"
    assert f'File "Cell In[{failing_cell}]", line 2, in <module>' in traceback
    assert "raise ValueError(f'total {total}')" in traceback and "ValueError: total 42" in traceback
    assert "runtime.py" not in traceback


def test_multiblock_result_is_the_last_expression_of_the_last_cell(job):
    kc, define = job
    ok(kc, "#%configure(task=multiblock)")
    try:
        define("grown", "", "base = 20\nbase")
        cell_number(kc, "base * 2 + 2\n")
        ok(kc, "#%submit_job()")
    finally:
        ok(kc, "#%configure(task=block)")
    assert "42" in "\n".join(plain(ok(kc, "#%get_task_result(task_name=grown)")))


def test_import_code_error_names_the_import_cell_and_its_line(job):
    kc, define = job
    import_cell = cell_number(kc, "#%import()\nimport json\nimport nonexistent_module_for_test\n")
    try:
        define("needs_imports", "", "print(json.dumps(1))")
        ename, traceback = failing(kc, "#%submit_job()")
    finally:
        ok(kc, "#%import()\nimport json\n")  # harmless for the module's other tests
    assert ename == "JobFailedError"
    assert f'File "Cell In[{import_cell}]", line 3, in <module>' in traceback
    assert "import nonexistent_module_for_test" in traceback
    assert "ModuleNotFoundError: No module named 'nonexistent_module_for_test'" in traceback
    assert 'File "#%import"' not in traceback
