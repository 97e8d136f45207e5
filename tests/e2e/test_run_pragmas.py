"""The running pragmas through the real kernel: wait=off, results of a running job, cache,
run_local, retries, bash tasks, connect and its failure."""

from __future__ import annotations

import os

from tests.e2e.run_helpers import failing, job, ok, plain, streams

__all__ = ["job"]  # the fixture, imported for pytest


def test_wait_off_returns_at_once_and_wait_job_pulls(job):
    kc, define = job
    define("later", ", export=[late_value]", "import time\ntime.sleep(1.0)\nlate_value = 'late'")
    submitted = ok(kc, "#%submit_job(wait=off)")
    assert "#%wait_job() waits for it" in streams(submitted)
    assert "False" in streams(ok(kc, "print('late_value' in globals())"))
    waited = ok(kc, "#%wait_job()")
    assert "Pulled into the notebook: late_value" in streams(waited)
    assert "'late'" in streams(ok(kc, "print(repr(late_value))"))


def test_result_pragma_on_a_running_job_waits_for_it(job):
    kc, define = job
    define("slow_result", "", "import time\ntime.sleep(1.0)\n'finally'")
    ok(kc, "#%submit_job(wait=off)")
    outputs = ok(kc, "#%get_task_result(task_name=slow_result)")
    assert "still running; waiting" in streams(outputs)
    assert plain(outputs)[-1] == "'finally'"


def test_cache_reuses_unchanged_tasks(job):
    kc, define = job
    define("counted", ", export=[stamp]", "import time\nstamp = time.time()")
    ok(kc, "#%submit_job(cache=on)")  # stores what it ran
    first = streams(ok(kc, "print(stamp)"))
    reused = ok(kc, "#%submit_job(cache=on)")
    assert "(cached)" in plain(reused)[-1]
    assert streams(ok(kc, "print(stamp)")) == first
    define("counted", ", export=[stamp]", "import time\nstamp = time.time() + 1")
    ok(kc, "#%submit_job(cache=on)")
    assert streams(ok(kc, "print(stamp)")) != first  # changed code runs again


def test_run_local_binds_imports_from_the_last_job(job):
    kc, define = job
    define("producer", ", export=[produced]", "produced = 20")
    define("consumer", ", dep=[producer], import=[produced]", "doubled = produced * 2\ndoubled")
    ok(kc, "#%submit_job()")
    ok(kc, "del produced")
    outputs = ok(kc, "#%run_local(name=consumer)")
    assert plain(outputs)[-1] == "40"
    assert "40 20" in streams(ok(kc, "print(doubled, produced)"))


def test_run_local_shows_the_tasks_traceback(job):
    kc, define = job
    define("broken_here", "", "x = 1\nundefined_name")
    ename, traceback = failing(kc, "#%run_local(name=broken_here)")
    assert ename == "NameError" and "line 3" in traceback and "undefined_name" in traceback


def test_bash_task_with_variables_and_retries(job, tmp_path):
    kc, define = job
    define("shell", ", language=Linux_Bash, variables=[(who, world)]", 'echo "hello $who"')
    marker = tmp_path / "tried"
    define("flaky", ", retries=2, export=[tries]",
           f"import os\nopen({str(marker)!r}, 'a').write('x')\n"
           f"tries = len(open({str(marker)!r}).read())\nassert tries >= 2, 'first try fails'")  # fmt: skip
    outputs = ok(kc, "#%submit_job()")
    assert "[shell] hello world" in streams(outputs)
    assert "2" in streams(ok(kc, "print(tries)"))


def test_get_result_legacy_and_print_job_output(job):
    kc, define = job
    define("legacy", "", "print('said')\nresult = 123")
    ok(kc, "#%submit_job()")
    listed = plain(ok(kc, "#%list_submitted_jobs()"))[-1].splitlines()[-1]
    job_id = listed.split()[0]
    assert "legacy: 123" in plain(ok(kc, f"#%get_result(id={job_id})"))[-1]
    assert "[legacy] said" in streams(ok(kc, "#%print_job_output()"))
    ename, traceback = failing(kc, "#%get_job_result(job_id=99999)")
    assert ename == "NoSuchJobError" and "99999" in traceback


def test_connect_local_workers_and_a_failed_connect_keeps_it(job):
    kc, define = job
    said = streams(ok(kc, "#%connect(backend=local, workers=1)"))
    assert "local: 1 worker process" in said, said
    ename, traceback = failing(kc, "#%connect(backend=dask, url=tcp://127.0.0.1:9)", timeout=60)
    assert ename == "ConnectError" and "tcp://127.0.0.1:9" in traceback, traceback
    assert "Still connected to local: 1 worker process" in traceback, traceback
    define("after_connect", ", export=[where]", "where = 'still local'")
    ok(kc, "#%submit_job()")
    assert "'still local'" in streams(ok(kc, "print(repr(where))"))
    cores = os.cpu_count() or 1
    said = streams(ok(kc, "#%connect()"))
    assert f"local: {cores} worker process" in said, said
