"""Item 2: a task's process tree is the task's. A ``sleep`` grandchild and a daemon (forked
twice, in a session of its own) end when the task ends, when its job is cancelled, and when the
kernel shuts down or restarts. Real processes, real signals; every wait is bounded."""

from __future__ import annotations

import os
import queue
import signal
from pathlib import Path

import pytest

from tests.conftest import execute, shell_reply, start_kernel, stop_kernel
from tests.reliability.wire_helpers import wait_until

#: a daemon: forks, leaves the session and the process group, forks again, writes its pid
#: (whole: written aside, then renamed, so a reader never sees an empty file)
DAEMON = ("import os, sys, time\nif os.fork(): os._exit(0)\nos.setsid()\n"
          "if os.fork(): os._exit(0)\nopen(sys.argv[1] + '.tmp', 'w').write(str(os.getpid()))\n"
          "os.rename(sys.argv[1] + '.tmp', sys.argv[1])\ntime.sleep(300)")


def task_starting_processes(folder: Path, then: str = "") -> str:
    """A task cell: starts ``sleep 300`` and the daemon, writes both pids to ``folder/pids``,
    then runs ``then``."""
    return (
        "#%task(name=starter)\n"
        "import subprocess, sys, os, time\n"
        "sleeper = subprocess.Popen(['sleep', '300'])\n"
        f"subprocess.run([sys.executable, '-c', {DAEMON!r}, {str(folder / 'daemon')!r}])\n"
        f"for _ in range(6000):\n    if os.path.exists({str(folder / 'daemon')!r}): break\n"
        "    time.sleep(0.01)\n"
        f"daemon = int(open({str(folder / 'daemon')!r}).read())\n"
        f"open({str(folder / 'pids.tmp')!r}, 'w').write(f'{{sleeper.pid}} {{daemon}}')\n"
        f"os.rename({str(folder / 'pids.tmp')!r}, {str(folder / 'pids')!r})\n"
        f"{then}"
    )


def started_pids(folder: Path, still_running: bool = True, kc=None) -> list[int]:
    """The pids the task wrote once both processes were up (``still_running``: its task has
    not ended, so they must be running). With ``kc``, a job that ends first fails the test
    with what its cell said."""
    path = folder / "pids"

    def reported() -> bool:
        if kc is not None:
            try:
                reply = kc.get_shell_msg(timeout=0.01)
            except queue.Empty:
                pass
            else:
                raise AssertionError(f"the job ended first: {reply['content']}")
        return path.exists()

    wait_until(reported, 120, "the task never reported the processes it started")
    pids = [int(pid) for pid in path.read_text().split()]
    if still_running:
        assert all(running(pid) for pid in pids), "the task's processes did not start"
    return pids


def running(pid: int) -> bool:
    """The process exists and has not exited (a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(b")", 1)[1].split()[0] != b"Z"


def assert_all_ended(pids: list[int], when: str) -> None:
    try:
        wait_until(lambda: not any(running(pid) for pid in pids), 30,
                   f"processes still running after {when}: {[p for p in pids if running(p)]}")
    except AssertionError:
        # never leave them behind; only those still running: an ended one's pid may already
        # be another process's
        for pid in pids:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        raise


@pytest.fixture
def own_kernel():
    km, kc = start_kernel()
    yield km, kc
    stop_kernel(km, kc)


def test_processes_end_when_the_task_ends(own_kernel, tmp_path):
    _, kc = own_kernel
    execute(kc, task_starting_processes(tmp_path))
    reply, _ = execute(kc, "#%submit_job()", timeout=120)
    assert reply["content"]["status"] == "ok"
    assert_all_ended(started_pids(tmp_path, still_running=False), "the task ended")


def test_a_bash_tasks_background_job_ends_with_it(own_kernel, tmp_path):
    _, kc = own_kernel
    pid_file = tmp_path / "sleep.pid"
    execute(kc, f"#%task(name=shell, language=Linux_Bash)\nsleep 300 &\necho $! > {pid_file}")
    reply, _ = execute(kc, "#%submit_job()", timeout=120)  # before: waited for the sleep
    assert reply["content"]["status"] == "ok"
    assert_all_ended([int(pid_file.read_text())], "the Bash task ended")


def test_processes_end_when_the_job_is_cancelled(own_kernel, tmp_path):
    km, kc = own_kernel
    execute(kc, task_starting_processes(tmp_path, then="time.sleep(300)"))
    msg_id = kc.execute("#%submit_job()")
    pids = started_pids(tmp_path, kc=kc)
    km.interrupt_kernel()
    assert shell_reply(kc, msg_id, timeout=60)["content"]["status"] == "error"
    assert_all_ended(pids, "the job was cancelled")


@pytest.mark.parametrize("how", ["shutdown", "restart"])
def test_processes_end_when_the_kernel_shuts_down_or_restarts(tmp_path, how):
    km, kc = start_kernel()
    try:
        execute(kc, task_starting_processes(tmp_path, then="time.sleep(300)"))
        execute(kc, "#%submit_job(wait=off)")
        pids = started_pids(tmp_path)
        if how == "restart":
            km.restart_kernel(now=False)
        else:
            km.shutdown_kernel(now=False)
        assert_all_ended(pids, f"the kernel's {how}")
    finally:
        stop_kernel(km, kc)
