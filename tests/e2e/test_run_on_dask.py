"""The running pragmas are backend-independent: the same cells on a Dask cluster started by
``#%connect(backend=dask)`` (real scheduler and workers on 127.0.0.1): progress with the
dashboard link, task output marked, pull, result pragmas, a failure beside a done branch."""

from __future__ import annotations

from tests.e2e.run_helpers import failing, ok, plain, streams


def test_submit_and_results_on_dask(fresh_kernel):
    _, kc = fresh_kernel
    connected = ok(kc, "#%connect(backend=dask, workers=2)", timeout=120)
    assert "Connected:" in streams(connected)
    ok(kc, "base = 4")
    ok(kc, "#%task(name=square, import=[base], export=[squared])\n"
           "squared = base ** 2\nprint('squaring', base)")  # fmt: skip
    ok(kc, "#%task(name=more, dep=[square], import=[squared], export=[total], runs=2)\n"
           "total = squared + replication")  # fmt: skip
    submitted = ok(kc, "#%submit_job()", timeout=120)
    final = plain(submitted)[-1]
    assert "2/2 done" in final and "dashboard" in final.lower()
    assert "[square] squaring 4" in streams(submitted)
    assert "Pulled into the notebook: squared, total" in streams(submitted)
    assert "16 [16, 17]" in streams(ok(kc, "print(squared, total)"))
    assert "square: None" in plain(ok(kc, "#%get_job_result()"))[-1]
    ok(kc, "#%task(name=broken, dep=[square])\nraise ValueError('on dask')")
    ename, traceback = failing(kc, "#%submit_job()", timeout=120)
    assert ename == "JobFailedError" and "ValueError: on dask" in traceback
    assert "squared = 16" in streams(ok(kc, "#%get_task_result(task_name=square)"))
