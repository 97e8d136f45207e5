"""Items 3 and 4: a Dask scheduler that dies, or a cluster left without workers, is detected.
The job fails with a clear message, its display says what is true, a task's time counts only
the time it worked, and the backend can be switched or reconnected. Each test has a cluster of
its own (real scheduler and worker processes on 127.0.0.1), since it kills parts of it."""

from __future__ import annotations

import os
import re
import signal

import pytest

from tests.conftest import collect_iopub, execute, shell_reply, start_kernel, stop_kernel
from tests.e2e.dask_cluster import DaskTestCluster

ANSI = re.compile(r"\x1b\[[0-9;]*m")
LONG_TASK = ("#%task(name=long)\nimport time\nprint('started', flush=True)\n"
             "for _ in range(1200):\n    time.sleep(0.05)")


@pytest.fixture
def cluster():
    # one worker: once it is killed, Dask has nowhere to retry the task, so its running task
    # waits for a worker (two could both die under it, and Dask would blame the task)
    cluster = DaskTestCluster(workers=1).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def kernel_waiting(monkeypatch, request):
    """A kernel whose Dask jobs wait ``request.param`` seconds for a worker (the setting)."""
    monkeypatch.setenv("DASK_PRAGMA_KERNEL__NO_WORKERS_TIMEOUT", str(request.param))
    km, kc = start_kernel()
    yield km, kc
    stop_kernel(km, kc)


def ok(kc, code: str, timeout: float = 60) -> list[dict]:
    reply, outputs = execute(kc, code, timeout=timeout)
    assert reply["content"]["status"] == "ok", reply["content"]
    return outputs


def start_long_job(kc, address: str) -> str:
    ok(kc, f"#%connect(backend=dask, url={address})")
    ok(kc, LONG_TASK)
    msg_id = kc.execute("#%submit_job()")
    while True:  # bounded by get_iopub_msg's timeout
        message = kc.get_iopub_msg(timeout=60)
        if (message["parent_header"].get("msg_id") == msg_id and message["msg_type"] == "stream"
                and "started" in message["content"]["text"]):
            return msg_id


def kill(process) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def final_display(outputs: list[dict]) -> str:
    shown = [m["content"]["data"]["text/plain"] for m in outputs
             if m["msg_type"] in ("display_data", "update_display_data")
             and m["content"]["data"].get("text/plain", "").startswith("Job ")]
    return shown[-1]


def failure_text(reply: dict) -> str:
    assert reply["content"]["status"] == "error", reply["content"]
    return ANSI.sub("", "\n".join(reply["content"]["traceback"]))


@pytest.mark.parametrize("kernel_waiting", [30], indirect=True)
def test_a_dead_scheduler_fails_the_job_and_the_backend_can_be_switched(kernel_waiting, cluster,
                                                                        tmp_path):
    _, kc = kernel_waiting
    msg_id = start_long_job(kc, cluster.address)
    kill(cluster.processes[0])  # the scheduler
    text = failure_text(shell_reply(kc, msg_id, timeout=60))
    assert "ClusterLostError: the connection to the Dask scheduler at" in text
    assert "AttributeError" not in text
    collect_iopub(kc, msg_id)

    reply, _ = execute(kc, "#%submit_job()", timeout=60)
    assert reply["content"]["ename"] == "ClusterLostError", reply["content"]
    assert f"scheduler at {cluster.address} was lost" in reply["content"]["evalue"]
    outputs = ok(kc, "#%connect(backend=local, workers=1)")
    assert "Connected: local" in "".join(m["content"].get("text", "") for m in outputs)
    ok(kc, "#%task(name=long, export=[answer])\nanswer = 42")
    ok(kc, "#%submit_job()")

    again = DaskTestCluster(workers=1).start()  # and back to Dask, on a new scheduler
    try:
        ok(kc, f"#%connect(backend=dask, url={again.address})")
        ok(kc, "#%submit_job()")
        _, outputs = execute(kc, "print(answer)")
        assert "42" in "".join(m["content"].get("text", "") for m in outputs)
    finally:
        again.stop()


@pytest.mark.parametrize("kernel_waiting", [3], indirect=True)
def test_a_cluster_without_workers_fails_the_job_and_counts_only_time_worked(kernel_waiting,
                                                                             cluster):
    _, kc = kernel_waiting
    msg_id = start_long_job(kc, cluster.address)
    kill(cluster.processes[1])  # the only worker
    text = failure_text(shell_reply(kc, msg_id, timeout=90))
    assert "NoWorkersError: the Dask cluster at" in text and "no worker for 3 s" in text
    shown = final_display(collect_iopub(kc, msg_id))
    assert "0 workers" in shown.splitlines()[0], shown
    assert_task_time_is_time_worked(shown, without_workers=3)


@pytest.mark.parametrize("kernel_waiting", [600], indirect=True)
def test_an_interrupt_after_the_workers_died_counts_only_time_worked(kernel_waiting, cluster):
    km, kc = kernel_waiting
    msg_id = start_long_job(kc, cluster.address)
    kill(cluster.processes[1])  # the only worker
    while True:  # the display says it before anyone is told to interrupt (bounded by timeout)
        message = kc.get_iopub_msg(timeout=60)
        data = message["content"].get("data", {}).get("text/plain", "")
        waited = re.search(r": 0 workers \(none for (\d+) s\)", data)
        if message["parent_header"].get("msg_id") == msg_id and waited and int(waited[1]) >= 3:
            break
    km.interrupt_kernel()
    reply = shell_reply(kc, msg_id, timeout=60)
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    shown = final_display(collect_iopub(kc, msg_id))
    assert "cancelled" in shown
    assert_task_time_is_time_worked(shown, without_workers=3)


def assert_task_time_is_time_worked(shown: str, without_workers: float) -> None:
    """At least ``without_workers`` seconds of the wall time had no worker: not task time."""
    summary = re.search(r"wall time ([\d.]+) s · task time ([\d.]+) s", shown)
    assert summary, shown
    wall, busy = float(summary[1]), float(summary[2])
    assert busy <= wall - without_workers + 1.0, shown
