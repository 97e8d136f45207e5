"""The process: heartbeat and control while a cell runs, shutdown, restart, memory, history."""

from __future__ import annotations

import os
import threading

import zmq
from jupyter_client.session import Session

from tests.conftest import execute, shell_reply

HOLD_GIL = "n = 0\nwhile True:\n    n += 1"


def wait_for_execute_input(kc, msg_id: str) -> None:
    while True:
        message = kc.get_iopub_msg(timeout=30)
        if message["parent_header"].get("msg_id") == msg_id and message["msg_type"] == "execute_input":
            return


def kernel_pid(km) -> int:
    return km.provisioner.process.pid


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_heartbeat_answers_every_ping_while_a_cell_holds_the_gil(fresh_kernel):
    km, kc = fresh_kernel
    msg_id = kc.execute(HOLD_GIL)
    wait_for_execute_input(kc, msg_id)
    context = zmq.Context()
    ping = context.socket(zmq.REQ)
    ping.setsockopt(zmq.LINGER, 0)
    ping.connect(f"tcp://{km.ip}:{km.hb_port}")
    try:
        for index in range(50):
            payload = f"ping {index}".encode()
            ping.send(payload)
            assert ping.poll(5000), f"ping {index} unanswered while the cell runs"
            assert ping.recv() == payload
    finally:
        context.destroy(linger=0)
    km.interrupt_kernel()
    assert shell_reply(kc, msg_id)["content"]["ename"] == "KeyboardInterrupt"


def test_control_answers_kernel_info_while_a_cell_runs(fresh_kernel):
    km, kc = fresh_kernel
    msg_id = kc.execute(HOLD_GIL)
    wait_for_execute_input(kc, msg_id)
    request = kc.session.msg("kernel_info_request", {})
    kc.control_channel.send(request)
    reply = kc.get_control_msg(timeout=30)
    assert reply["parent_header"]["msg_id"] == request["header"]["msg_id"]
    assert reply["content"]["status"] == "ok"
    assert kc.shell_channel.msg_ready() is False, "the cell should still be running"
    km.interrupt_kernel()
    assert shell_reply(kc, msg_id)["content"]["ename"] == "KeyboardInterrupt"


def test_shutdown_request_on_control_ends_the_process(fresh_kernel):
    km, kc = fresh_kernel
    request = kc.session.msg("shutdown_request", {"restart": False})
    kc.control_channel.send(request)
    reply = kc.get_control_msg(timeout=30)
    assert reply["content"] == {"status": "ok", "restart": False}
    km.provisioner.process.wait(10)
    assert not km.is_alive()


def test_shutdown_request_on_shell_ends_the_process(fresh_kernel):
    km, kc = fresh_kernel
    request = kc.session.msg("shutdown_request", {"restart": True})
    kc.shell_channel.send(request)  # old clients; kc.shutdown() uses control
    reply = shell_reply(kc, request["header"]["msg_id"])
    assert reply["content"] == {"status": "ok", "restart": True}
    km.provisioner.process.wait(10)


def test_shutdown_while_a_cell_runs_and_children_are_terminated(fresh_kernel):
    km, kc = fresh_kernel
    _, outputs = execute(
        kc, "import subprocess\nchild = subprocess.Popen(['sleep', '600'])\nchild.pid"
    )
    child = int(outputs[-1]["content"]["data"]["text/plain"])
    msg_id = kc.execute(HOLD_GIL)
    wait_for_execute_input(kc, msg_id)
    request = kc.session.msg("shutdown_request", {"restart": False})
    kc.control_channel.send(request)
    assert kc.get_control_msg(timeout=30)["content"]["status"] == "ok"
    km.provisioner.process.wait(10)
    assert not os.path.exists(f"/proc/{child}") or _is_zombie(child)


def _is_zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "Z"


def test_restart_gives_a_fresh_namespace_and_keeps_history(fresh_kernel):
    km, kc = fresh_kernel
    execute(kc, "before_restart = 1")
    old_session = shell_reply(kc, kc.kernel_info())["header"]["session"]
    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=60)
    reply, _ = execute(kc, "'before_restart' in globals()")
    assert reply["content"]["execution_count"] == 1
    assert shell_reply(kc, kc.kernel_info())["header"]["session"] != old_session
    history = shell_reply(kc, kc.history(hist_access_type="range", session=-1, start=1, stop=2))
    assert history["content"]["history"][0][2] == "before_restart = 1"


def test_a_thousand_executes_do_not_grow_memory_beyond_history(fresh_kernel):
    km, kc = fresh_kernel
    pid = kernel_pid(km)
    for _ in range(200):
        execute(kc, "x = 1")
    before = rss_kib(pid)
    for _ in range(1000):
        reply, _ = execute(kc, "x = 1")
        assert reply["content"]["status"] == "ok"
    growth = rss_kib(pid) - before
    assert growth < 8 * 1024, f"RSS grew by {growth} KiB over 1000 executes"


def test_output_from_many_threads_is_not_lost(kernel):
    _, kc = kernel
    code = (
        "import sys, threading\n"
        "def chatter(k):\n"
        "    for i in range(200):\n"
        "        sys.stdout.write(f'{k}:{i}\\n')  # one write is one write; print() is two\n"
        "threads = [threading.Thread(target=chatter, args=(k,)) for k in range(4)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads];"
    )
    _, outputs = execute(kc, code)
    lines = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream").split()
    assert sorted(lines) == sorted(f"{k}:{i}" for k in range(4) for i in range(200))


def test_kernel_survives_a_flood_of_requests_from_several_threads(kernel):
    km, _ = kernel
    errors = []

    def client_thread():
        # each frontend has its own session (its shell identity), as separate processes do
        kc = km.client(session=Session(key=km.session.key))
        kc.start_channels()
        try:
            for _ in range(20):
                reply = shell_reply(kc, kc.kernel_info())
                if reply["content"]["status"] != "ok":
                    errors.append(reply)
        finally:
            kc.stop_channels()

    threads = [threading.Thread(target=client_thread) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


ORPHANING_PARENT = """
import os, subprocess, sys
env = dict(os.environ, JPY_PARENT_PID=str(os.getpid()))
kernel = subprocess.Popen([sys.executable, "-m", "pragma_kernel.kernel", "-f", sys.argv[1]], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(kernel.pid, flush=True)
"""


def test_kernel_exits_when_its_parent_dies(tmp_path):
    import subprocess
    import sys
    import time

    from jupyter_client import BlockingKernelClient
    from jupyter_client.connect import write_connection_file

    from tests.conftest import ROOT

    connection_file, _ = write_connection_file(str(tmp_path / "c.json"), ip="127.0.0.1")
    parent = subprocess.run(
        [sys.executable, "-c", ORPHANING_PARENT, connection_file],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )
    pid = int(parent.stdout.strip())
    client = BlockingKernelClient(connection_file=connection_file)
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)  # it started, then noticed the orphaning
    except RuntimeError:
        pass  # it may already have left: what matters is that it is gone below
    finally:
        client.stop_channels()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}") and not _is_zombie(pid):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid), "orphaned kernel still runs"


def test_ipc_transport(tmp_path):
    from jupyter_client import KernelManager

    km = KernelManager(kernel_name="pragma", transport="ipc", ip=str(tmp_path / "kernel"))
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        _, outputs = execute(kc, "6 * 7")
        assert outputs[-1]["content"]["data"]["text/plain"] == "42"
        assert any(path.name.startswith("kernel-") for path in tmp_path.iterdir())
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
