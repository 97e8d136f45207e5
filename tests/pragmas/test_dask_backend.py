"""The Dask backend on a real cluster: a ``dask scheduler`` and two ``dask worker`` processes on
127.0.0.1 (``tests/e2e/dask_cluster.py``), driven with job plans made here the way the engine
makes them (``pragma_kernel.pragmas.validation.validate``)."""

from __future__ import annotations

import gc
import os
import signal
import socket
import threading
import time
import zipfile
from pathlib import Path

import cloudpickle
import pytest
from distributed import Client
from pragma_kernel.pragmas.backends.base import JobPlan, PlannedTask, TaskEvent, TaskState
from pragma_kernel.pragmas.backends.dask import (
    DaskBackend,
    DaskConnectError,
    ExportsReleasedError,
    RemoteExports,
    StaleCodeError,
)
from pragma_kernel.pragmas.model import Job, OutputLimit, SourceLocation, Task
from pragma_kernel.pragmas.task_output import read_omitted
from pragma_kernel.pragmas.validation import validate

from tests.e2e.dask_cluster import DaskTestCluster, shared_cluster


@pytest.fixture(scope="module")
def cluster():
    return shared_cluster()


@pytest.fixture(scope="module")
def backend(cluster):
    backend = DaskBackend.connect(cluster.address)
    yield backend
    backend.close()


class Recorder:
    """A listener keeping every event; thread-safe like the real progress display must be."""

    def __init__(self):
        self.events: list[TaskEvent] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def __call__(self, event: TaskEvent) -> None:
        with self._lock:
            self.events.append(event)
            self._changed.notify_all()

    def states(self, task: str) -> list[TaskState]:
        return [e.state for e in self.events if e.task == task and e.kind == "state"]

    def outputs(self, task: str) -> list:
        return [e for e in self.events if e.task == task and e.kind == "output"]

    def wait_for_any_event(self, timeout: float = 60) -> None:
        with self._lock:
            count = len(self.events)
            assert self._changed.wait_for(lambda: len(self.events) > count, timeout)

    def wait_for_output(self, task: str, text: str, timeout: float = 60) -> None:
        with self._lock:
            assert self._changed.wait_for(
                lambda: any(e.output.text == text for e in self.outputs(task)), timeout), (
                f"{task} never wrote {text!r}")

    def wait_for(self, task: str, state: TaskState, timeout: float = 60) -> None:
        with self._lock:
            assert self._changed.wait_for(lambda: state in self.states(task), timeout), (
                f"{task} never became {state.value}: {self.states(task)}")


def task(name: str, code: str, line: int = 2, **options) -> Task:
    return Task(name, code=code, source=SourceLocation(f"Cell In[{name}]", line), **options)


def plan_of(*tasks: Task, namespace: dict | None = None, name: str = "job") -> JobPlan:
    """A plan as ``PragmaEngine.plan`` makes it (validated, imports resolved)."""
    job = Job(name=name)
    for t in tasks:
        job.define(t)
    report = validate(job, namespace or {})
    assert report.ok, report.errors
    planned = {n: PlannedTask(job.tasks[n], report.deps[n], report.import_sources[n])
               for n in report.order}
    local = {v: cloudpickle.dumps((namespace or {})[v])
             for p in planned.values() for v, s in p.import_sources.items() if s is None}
    return JobPlan(job, name, planned, local)


def run_job(backend: DaskBackend, *tasks: Task, namespace: dict | None = None,
            name: str = "job"):
    recorder = Recorder()
    run = backend.submit(plan_of(*tasks, namespace=namespace, name=name), recorder)
    assert run.wait(120), "the job did not finish"
    return run, recorder


def stdout(run, name: str) -> str:
    return "".join(o.text for o in run.results[name].outputs if o.name == "stdout")


# --- data between tasks ---------------------------------------------------------------------


def test_diamond_passes_exports_between_tasks_and_keeps_them_on_the_workers(backend):
    run, recorder = run_job(
        backend,
        task("a", "x = 20\nprint('a made', x)", exports=["x"]),
        task("b", "y = x + 1", dep=["a"], imports=["x"], exports=["y"]),
        task("c", "z = x * 2\nw = 'unused'", dep=["a"], imports=["x"], exports=["z", "w"]),
        task("d", "total = y + z\nprint('total', total)", dep=["b", "c"], imports=["y", "z"],
             exports=["total"]),
    )
    assert {n: r.state for n, r in run.results.items()} == dict.fromkeys("abcd", TaskState.DONE)
    assert stdout(run, "a") == "a made 20\n"
    assert stdout(run, "d") == "total 61\n"
    exports = run.results["d"].exports
    assert isinstance(exports, RemoteExports)
    assert list(exports) == ["total"]
    assert exports["total"] == 61  # fetched from the worker now
    assert backend.fetch(run, "c", "w") == "unused"
    assert recorder.states("d") == [TaskState.PENDING, TaskState.RUNNING, TaskState.DONE]


def test_a_dependent_receives_only_the_exports_it_imports(backend):
    run, _ = run_job(
        backend,
        task("both", "small = 1\nlarge = bytes(10_000_000)", exports=["small", "large"]),
        task("wants_small", "print(small, 'large' in dir())", dep=["both"], imports=["small"]),
        task("wants_all", "print(small, len(large))", dep=["both"], imports=["small", "large"]),
    )
    assert stdout(run, "wants_small") == "1 False\n"
    assert stdout(run, "wants_all") == "1 10000000\n"
    keys = [key[0].split("-")[0] for key in run.task_of_key]
    assert keys.count("both.imports") == 1  # one slimmed copy, for wants_small only


def test_independent_tasks_spread_over_both_workers(backend, cluster):
    tasks = [task(f"t{i}", "import os, time\ntime.sleep(0.3)\nwhere = os.getpid()",
                  exports=["where"]) for i in range(4)]
    run, _ = run_job(backend, *tasks)
    pids = {run.results[f"t{i}"].exports["where"] for i in range(4)}
    assert len(pids) == 2


def test_runs_fan_out_and_a_dependent_gets_the_values_in_replica_order(backend):
    run, recorder = run_job(
        backend,
        task("square", "value = replication ** 2\nprint('replica', replication)", runs=3,
             exports=["value"]),
        task("collect", "print(sorted(variables))\nprint(value)", dep=["square"],
             imports=["value"]),
    )
    assert run.results["square"].state == TaskState.DONE
    assert run.results["square"].exports["value"] == [0, 1, 4]
    assert stdout(run, "collect").splitlines()[-1] == "[0, 1, 4]"
    replicas = sorted(e.replica for e in recorder.outputs("square"))
    assert replicas == [0, 1, 2]
    assert run.results["square"].result == [None, None, None]


def test_notebook_values_reach_tasks_small_ones_inline_large_ones_scattered(backend):
    big = bytes(3 << 20)  # above SCATTER_LIMIT
    run, _ = run_job(
        backend,
        task("use", "size = len(big) + offset", imports=["big", "offset"], exports=["size"]),
        namespace={"big": big, "offset": 7},
    )
    assert run.results["use"].exports["size"] == len(big) + 7


def test_variables_put_by_ancestors_are_seen_in_topological_order(backend):
    run, _ = run_job(
        backend,
        task("first", "variables.put('who', 'first')\nvariables['only_first'] = 1"),
        task("second", "variables.put('who', 'second')", dep=["first"]),
        task("other", "pass", dep=["first"]),
        task("last", "print(variables['who'], variables['only_first'])",
             dep=["second", "other"]),
    )
    assert stdout(run, "last") == "second 1\n"
    assert run.results["second"].variables == {"who": "second"}


def test_with_pull_off_exports_stay_on_the_workers_until_fetched(backend):
    plan = plan_of(task("calc", "big = list(range(10))\nsum(big)", exports=["big"]))
    plan.fetch_exports = False  # #%submit_job(pull=off)
    run = backend.submit(plan, Recorder())
    assert run.wait(60)
    assert run.results["calc"].result == 45  # results come back with the report
    assert run.results["calc"].exports._values == {}  # nothing pulled yet
    run.fetch()
    assert run.results["calc"].exports._values == {"big": list(range(10))}


def test_with_pull_on_exports_are_in_the_kernel_when_the_job_ends(backend):
    run, _ = run_job(backend, task("calc", "big = [1, 2]", runs=2, exports=["big"]))
    assert run.results["calc"].exports._values == {"big": [[1, 2], [1, 2]]}


def test_a_report_too_big_for_an_event_is_fetched_from_the_worker(backend):
    run, _ = run_job(backend, task("bulky", "print('made it')\nbytes(3_000_000)"))
    assert len(run.results["bulky"].result) == 3_000_000  # beyond EVENT_REPORT_LIMIT
    assert stdout(run, "bulky") == "made it\n"


def test_display_and_figures_come_back_as_rich_outputs(backend):
    run, _ = run_job(backend, task("plot", (
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3])\n"
        "plt.show()\n"
        "display({'a': 1})\n"
    )))
    displays = [o.data for o in run.results["plot"].outputs if o.kind == "display"]
    assert len(displays) == 2, run.results["plot"].outputs
    assert displays[0]["image/png"]  # the figure, at plt.show()
    assert displays[1]["text/plain"] == "{'a': 1}"


def test_a_bash_task_streams_its_output(backend):
    run, _ = run_job(backend, task("shell", "echo one\necho two >&2",
                                          language="Linux_Bash"))
    assert stdout(run, "shell") == "one\n"
    assert [o.text for o in run.results["shell"].outputs if o.name == "stderr"] == ["two\n"]


def test_output_reaches_the_listener_while_the_task_still_runs(backend, tmp_path):
    go_on = tmp_path / "go-on"
    recorder = Recorder()
    run = backend.submit(plan_of(task("talker", (
        "import pathlib, time\n"
        "print('first', flush=True)\n"
        f"while not pathlib.Path({str(go_on)!r}).exists():\n"
        "    time.sleep(0.02)\n"
        "print('second')\n"
    ))), recorder)
    recorder.wait_for_output("talker", "first\n")
    assert run.results["talker"].state == TaskState.RUNNING  # it waits for go_on
    go_on.touch()
    assert run.wait(60)
    assert [e.output.text for e in recorder.outputs("talker")] == ["first\n", "second\n"]


@pytest.fixture(scope="module")
def threaded_backend():
    """A worker with two threads, as ``dask worker`` starts by default on a 2-core machine."""
    cluster = DaskTestCluster(workers=1, threads=2).start()
    try:
        backend = DaskBackend.connect(cluster.address)
        yield backend
        backend.close()
    finally:
        cluster.stop()


def test_workers_with_several_threads_keep_each_tasks_output_apart(threaded_backend):
    assert "tasks run one at a time per worker process" in threaded_backend.describe()
    code = "import time\nfor n in range(50):\n    print('{name}', n)\n    time.sleep(0.002)"
    tasks = [task(f"t{i}", code.format(name=f"t{i}")) for i in range(4)]
    run, _ = run_job(threaded_backend, *tasks)
    for i in range(4):
        assert stdout(run, f"t{i}") == "".join(f"t{i} {n}\n" for n in range(50))


def test_a_cancelled_task_waiting_for_its_turn_on_a_worker_never_starts(threaded_backend,
                                                                        tmp_path):
    code = ("import pathlib, time\n"
            f"pathlib.Path({str(tmp_path)!r}, '{{name}}').touch()\n"
            "for _ in range(1200):\n    time.sleep(0.05)")
    recorder = Recorder()
    run = threaded_backend.submit(plan_of(task("one", code.format(name="one")),
                                          task("two", code.format(name="two"))), recorder)
    while not any(e.state == TaskState.RUNNING for e in recorder.events):
        recorder.wait_for_any_event()
    (started,) = [t for t in ("one", "two") if TaskState.RUNNING in recorder.states(t)]
    run.cancel()
    assert {r.state for r in run.results.values()} == {TaskState.CANCELLED}
    after, _ = run_job(threaded_backend, task("after", "print('ran')"))
    client = threaded_backend.client
    deadline = time.monotonic() + 60
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.05)  # the waiting one has had its turn by now
    assert not any(client.processing().values())
    assert stdout(after, "after") == "ran\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [started]


# --- failures ------------------------------------------------------------------------------


def test_a_failed_task_skips_its_dependents_and_independent_branches_finish(backend):
    run, _ = run_job(
        backend,
        task("bad", "x = 1\nprint('before')\n1 / 0", line=5, exports=["x"]),
        task("after_bad", "print(x)", dep=["bad"], imports=["x"]),
        task("further", "pass", dep=["after_bad"]),
        task("fine", "ok = 'yes'", exports=["ok"]),
        task("after_fine", "print(ok)", dep=["fine"], imports=["ok"]),
    )
    states = {n: r.state for n, r in run.results.items()}
    assert states == {"bad": TaskState.FAILED, "after_bad": TaskState.SKIPPED,
                      "further": TaskState.SKIPPED, "fine": TaskState.DONE,
                      "after_fine": TaskState.DONE}
    error = run.results["bad"].error
    assert (error.ename, error.platform) == ("ZeroDivisionError", False)
    assert 'File "Cell In[bad]", line 7' in "\n".join(error.traceback)
    assert error.traceback[-1] == "ZeroDivisionError: division by zero"
    assert stdout(run, "bad") == "before\n"
    assert run.results["after_bad"].notes == ["skipped: bad failed"]
    assert run.results["further"].notes == ["skipped: bad failed"]  # the cause, as on local
    assert stdout(run, "after_fine") == "yes\n"
    assert len(run.results["bad"].exports) == 0


def test_retries_run_a_failed_task_again(backend, tmp_path):
    marker = tmp_path / "tried"
    run, _ = run_job(backend, task("flaky", (
        "import pathlib\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.touch()\n"
        "    raise RuntimeError('first attempt fails')\n"
        "print('second attempt')\n"
    ), retries=2))
    result = run.results["flaky"]
    assert result.state == TaskState.DONE
    assert result.attempts == 2
    assert result.notes == ["flaky: attempt 1 failed (RuntimeError); retrying"]
    assert stdout(run, "flaky") == "second attempt\n"


def test_retries_exhausted_fail_with_the_last_error(backend):
    run, _ = run_job(backend, task("always", "raise ValueError('no')", retries=1))
    result = run.results["always"]
    assert (result.state, result.attempts, result.error.ename) == (
        TaskState.FAILED, 2, "ValueError")


def test_timeout_stops_a_busy_task(backend):
    run, _ = run_job(backend, task("spin", "while True:\n    pass", timeout=1))
    error = run.results["spin"].error
    assert run.results["spin"].state == TaskState.FAILED
    assert (error.ename, error.platform) == ("TimeoutError", True)
    assert error.evalue == "task spin exceeded its timeout of 1 s"
    assert 'File "Cell In[spin]"' in "\n".join(error.traceback)  # where it was stopped


def test_timeout_of_a_task_blocked_in_a_call_is_reported_at_the_deadline(backend):
    run, _ = run_job(backend, task("sleepy", "import time\ntime.sleep(4)", timeout=1))
    error = run.results["sleepy"].error
    assert error.ename == "TimeoutError"
    assert "blocked in a call" in error.evalue


def test_an_unserialisable_export_is_the_task_error(backend):
    run, _ = run_job(backend, task("gen", "g = (i for i in range(3))", exports=["g"]))
    error = run.results["gen"].error
    assert error.ename == "SerialisationError"
    assert "export 'g'" in error.evalue


# --- cancellation and lost workers ---------------------------------------------------------


def test_cancel_stops_running_tasks_and_cancels_the_rest(backend):
    recorder = Recorder()
    plan = plan_of(
        task("long", "import time\nfor _ in range(1200):\n    time.sleep(0.05)"),
        task("next", "print('never')", dep=["long"]),
    )
    run = backend.submit(plan, recorder)
    recorder.wait_for("long", TaskState.RUNNING)
    run.cancel()
    assert run.done
    assert run.results["long"].state == TaskState.CANCELLED
    assert run.results["next"].state == TaskState.CANCELLED
    # the worker is free again: a new job runs (it would wait a minute behind a live task)
    again, _ = run_job(backend, task("after", "print('ran')"), task("after2", "print('ran')"))
    assert stdout(again, "after") == stdout(again, "after2") == "ran\n"


def test_a_killed_worker_is_survived_and_the_result_says_so(backend, cluster):
    recorder = Recorder()
    run = backend.submit(plan_of(task("long", "import time\ntime.sleep(3)\nprint('done')")),
                         recorder)
    recorder.wait_for("long", TaskState.RUNNING)
    worker = run.replicas["long"][0].workers[run.replicas["long"][0].attempts[0]]
    pid = backend.client.run(os.getpid, workers=[worker])[worker]
    os.kill(pid, signal.SIGKILL)
    assert run.wait(120)
    result = run.results["long"]
    assert result.state == TaskState.DONE
    assert stdout(run, "long") == "done\n"
    assert result.attempts == 2
    assert result.notes[0].startswith(f"long: the worker {worker} running it was lost; "
                                      "Dask rescheduled it on tcp://")
    stderr = [o.text for o in result.outputs if o.name == "stderr"]
    assert stderr == [f"Note: {result.notes[0]}\n"]  # told in the notebook as it happened
    cluster.wait_for_workers(2)


def test_a_task_that_kills_every_worker_fails_after_the_allowed_failures(backend, cluster):
    run, _ = run_job(
        backend,
        task("crash", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
        task("after", "pass", dep=["crash"]),
        task("unrelated", "print('fine')"),
    )
    error = run.results["crash"].error
    assert run.results["crash"].state == TaskState.FAILED
    assert (error.ename, error.platform) == ("KilledWorker", True)
    assert "killed every worker it ran on" in error.evalue
    assert run.results["after"].state == TaskState.SKIPPED
    assert run.results["unrelated"].state == TaskState.DONE
    cluster.wait_for_workers(2)


# --- connecting ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_scheduler_fails_the_connect_with_address_and_reason():
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(DaskConnectError) as caught:
        DaskBackend.connect(address, timeout=2)
    assert f"cannot reach the Dask scheduler at {address}" in str(caught.value)
    assert isinstance(caught.value, ConnectionError)


def test_code_shipped_by_another_version_is_refused_with_the_remedy(tmp_path):
    cluster = DaskTestCluster(workers=1).start()  # its own: its code is tampered with
    try:
        DaskBackend.connect(cluster.address).close()  # ships this version's code
        other = tmp_path / "other_version.zip"
        with zipfile.ZipFile(other, "w") as zipped:
            zipped.writestr("pragma_kernel_shipped.py", "FINGERPRINT = 'another'\n")
        with Client(cluster.address, timeout=10, set_as_default=False) as client:
            client.upload_file(str(other))
        with pytest.raises(StaleCodeError, match="restart its scheduler and workers"):
            DaskBackend.connect(cluster.address)
    finally:
        cluster.stop()


def test_workers_with_a_url_is_refused(cluster):
    with pytest.raises(DaskConnectError, match="workers= sizes a cluster started here"):
        DaskBackend.connect(cluster.address, workers=3)


def test_an_address_without_scheme_means_tcp(cluster):
    backend = DaskBackend.connect(cluster.address.removeprefix("tcp://"))
    try:
        assert backend.address == cluster.address
    finally:
        backend.close()


def test_describe_names_the_scheduler_and_its_workers(backend, cluster):
    text = backend.describe()
    assert text.startswith(f"Dask scheduler at {cluster.address}: 2 workers, 2 threads")
    dashboard = backend.dashboard_url()  # no bokeh here: the scheduler's plain worker list
    assert dashboard is not None and dashboard.startswith("http://127.0.0.1:")


def test_without_url_a_local_cluster_is_started_and_closed_with_the_backend():
    backend = DaskBackend.connect(workers=1)
    try:
        assert backend.describe().startswith("a local cluster started by this kernel at tcp://")
        run, _ = run_job(backend, task("here", "import os\npid = os.getpid()", exports=["pid"]))
        pid = run.results["here"].exports["pid"]
        assert pid != os.getpid()
    finally:
        backend.close()
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# --- keeping exports on the cluster ------------------------------------------------------


def test_a_runs_outcomes_leave_the_cluster_when_its_results_let_go_of_them(backend):
    plan = plan_of(task("make", "value = 'x'", runs=2, exports=["value"]),
                   task("other", "print(value)", dep=["make"], imports=["value"]))
    plan.fetch_exports = False
    run = backend.submit(plan, Recorder())
    assert run.wait(60)
    keys = [k for k, task_name in run.task_of_key.items() if task_name == "make"]
    assert keys and all(k in backend.client.futures for k in keys)  # held by the exports
    for result in run.results.values():
        result.exports = {}  # what the running pragmas do with the values of older jobs
    gc.collect()
    deadline = time.monotonic() + 30
    while any(k in backend.client.futures for k in keys) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(k in backend.client.futures for k in keys)


def test_cache_reuse_takes_the_earlier_outcome_without_running_the_task(backend):
    maker = task("maker", "print('made')\nvalue = [replication]", runs=2, exports=["value"])
    user = task("user", "print(value)", dep=["maker"], imports=["value"])
    earlier, _ = run_job(backend, maker, user)
    plan = plan_of(maker, user)
    plan.reuse = {"maker": earlier.results["maker"]}
    recorder = Recorder()
    run = backend.submit(plan, recorder)
    assert run.wait(60)
    assert run.results["maker"].notes == ["reused from an earlier run (cache=on)"]
    assert recorder.states("maker") == [TaskState.PENDING, TaskState.DONE]
    assert stdout(run, "user") == "[[0], [1]]\n"


def test_cache_reuse_of_values_held_in_the_kernel_scatters_them(backend):
    maker = task("maker", "value = 'x'", exports=["value"])
    user = task("user", "print(value * 3)", dep=["maker"], imports=["value"])
    earlier, _ = run_job(backend, maker)
    earlier_result = earlier.results["maker"]
    earlier_result.exports = {"value": "y"}  # as another backend leaves them: plain values
    plan = plan_of(maker, user)
    plan.reuse = {"maker": earlier_result}
    run = backend.submit(plan, Recorder())
    assert run.wait(60)
    assert stdout(run, "user") == "yyy\n"


def test_closing_the_backend_says_why_unpulled_exports_are_gone(cluster):
    backend = DaskBackend.connect(cluster.address)
    plan = plan_of(task("kept", "a = 1\nb = 2", exports=["a", "b"]))
    plan.fetch_exports = False
    run = backend.submit(plan, Recorder())
    assert run.wait(60)
    assert run.results["kept"].exports["a"] == 1
    backend.close()
    assert run.results["kept"].exports["a"] == 1  # pulled before: still here
    with pytest.raises(ExportsReleasedError, match="disconnected from the Dask scheduler"):
        run.results["kept"].exports["b"]


def test_cache_reuse_of_released_unpulled_exports_runs_the_task_again(backend):
    maker = task("maker", "print('ran')\nvalue = 5", exports=["value"])
    user = task("user", "print(value + 1)", dep=["maker"], imports=["value"])
    first = plan_of(maker, name="cached")
    first.fetch_exports = False
    earlier = backend.submit(first, Recorder())
    assert earlier.wait(60)
    earlier.results["maker"].exports.release("as when the backend disconnects")
    plan = plan_of(maker, user, name="cached")
    plan.reuse = {"maker": earlier.results["maker"]}
    run = backend.submit(plan, Recorder())
    assert run.wait(60)
    assert run.results["maker"].notes == []
    assert stdout(run, "maker") == "ran\n"
    assert stdout(run, "user") == "6\n"


# --- losing the scheduler ------------------------------------------------------------------


def test_a_lost_scheduler_fails_the_unfinished_tasks_instead_of_hanging():
    cluster = DaskTestCluster(workers=1).start()  # its own: this test kills the scheduler
    try:
        backend = DaskBackend.connect(cluster.address)
        recorder = Recorder()
        run = backend.submit(plan_of(
            task("long", "import time\nfor _ in range(600):\n    time.sleep(0.05)"),
            task("next", "pass", dep=["long"])), recorder)
        recorder.wait_for("long", TaskState.RUNNING)
        os.killpg(cluster.processes[0].pid, signal.SIGKILL)
        assert run.wait(60)
        error = run.results["long"].error  # the job's one message, on the task that ran
        assert run.results["long"].state == TaskState.FAILED
        assert (error.ename, error.platform) == ("ClusterLostError", True)
        assert f"the connection to the Dask scheduler at {cluster.address} was lost" in (
            error.evalue)
        assert run.results["next"].state == TaskState.CANCELLED
        assert backend.describe().startswith(f"Dask scheduler at {cluster.address}")
        backend.close()
    finally:
        cluster.stop()


def test_a_loud_task_shows_its_head_one_line_and_its_tail_and_loses_nothing(backend):
    run, recorder = run_job(backend, task("loud", "for i in range(3000):\n    print(f'line {i}')",
                                          output_limit=OutputLimit(100)))
    everything = "".join(f"line {i}\n" for i in range(3000))
    shown = "".join(e.output.text for e in recorder.outputs("loud"))
    assert shown.startswith("".join(f"line {i}\n" for i in range(100)) + "… output limit")
    left_out = next(line for line in shown.splitlines() if "left out" in line)
    assert left_out.startswith("… 2,890 lines") and "job_id=" in left_out
    assert shown.endswith("".join(f"line {i}\n" for i in range(2990, 3000)))
    assert Path(left_out.rsplit(" or ", 1)[1]).read_text() == everything
    replayed = "".join(o.text if o.kind == "stream" else "".join(read_omitted(o))
                       for o in run.results["loud"].outputs)
    assert replayed == everything
