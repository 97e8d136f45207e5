"""Subshells (JEP 91), through jupyter_client: made, listed and deleted on control; requests
whose header names a subshell answered by its thread while the main shell is busy, their output
under their own parent header; comms, pragma cells, interrupt and shutdown with subshells."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict

import pytest

from tests.conftest import shell_reply

TIMEOUT = 30


# -- helpers -------------------------------------------------------------------------------------
def control(kc, msg_type: str, content: dict | None = None) -> dict:
    """Send a control request; its reply's content."""
    message = kc.session.msg(msg_type, content or {})
    kc.control_channel.send(message)
    while True:
        reply = kc.control_channel.get_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == message["header"]["msg_id"]:
            return reply["content"]


def create_subshell(kc) -> str:
    reply = control(kc, "create_subshell_request")
    assert reply["status"] == "ok"
    return reply["subshell_id"]


def send(kc, msg_type: str, content: dict, subshell_id: str | None = None) -> str:
    """Send a shell request (to ``subshell_id``'s subshell when given); its msg_id."""
    message = kc.session.msg(msg_type, content)
    if subshell_id is not None:
        message["header"]["subshell_id"] = subshell_id
    kc.shell_channel.send(message)
    return message["header"]["msg_id"]


def run(kc, code: str, subshell_id: str | None = None, **options) -> str:
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
               "allow_stdin": False, "stop_on_error": True, **options}
    return send(kc, "execute_request", content, subshell_id)


class IOPub:
    """Every IOPub message read so far, by the msg_id of its parent (requests overlap here)."""

    def __init__(self, kc):
        self.kc = kc
        self.by_parent: dict[str, list[dict]] = defaultdict(list)

    def until_idle(self, msg_id: str, timeout: float = TIMEOUT) -> list[dict]:
        """The messages of ``msg_id`` through its idle."""
        deadline = time.monotonic() + timeout
        while not self._idle(msg_id):
            message = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            self.by_parent[message["parent_header"].get("msg_id")].append(message)
        return self.by_parent[msg_id]

    def _idle(self, msg_id: str) -> bool:
        return any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                   for m in self.by_parent[msg_id])

    def until(self, msg_id: str, predicate, timeout: float = TIMEOUT) -> dict:
        """The first message of ``msg_id`` for which ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((m for m in self.by_parent[msg_id] if predicate(m)), None)
            if found is not None:
                return found
            message = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            self.by_parent[message["parent_header"].get("msg_id")].append(message)


def replies(kc, *msg_ids: str) -> dict[str, dict]:
    """The shell replies to ``msg_ids``, in whatever order they come (shell_reply would drop
    the replies it does not wait for)."""
    found: dict[str, dict] = {}
    while len(found) < len(msg_ids):
        reply = kc.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") in msg_ids:
            found[reply["parent_header"]["msg_id"]] = reply
    return found


def stdout(messages: list[dict]) -> str:
    return "".join(m["content"]["text"] for m in messages
                   if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")


def wait_for_file(path) -> str:
    """Code that waits (sleeping) until ``path`` exists: the main shell stays busy until the
    test lets it go, however slow the machine."""
    return (f"import os, time\nwhile not os.path.exists({str(path)!r}):\n    time.sleep(0.02)\n"
            "print('main released')")


@pytest.fixture
def busy_main(kernel, tmp_path):
    """The shared kernel with a subshell, its main shell kept busy by a waiting cell until the
    test ends: ``(kc, subshell_id, iopub, main_msg_id)``."""
    _, kc = kernel
    subshell_id = create_subshell(kc)
    iopub = IOPub(kc)
    release = tmp_path / f"release-{uuid.uuid4().hex}"
    main = run(kc, wait_for_file(release))
    iopub.until(main, lambda m: m["msg_type"] == "execute_input")
    yield kc, subshell_id, iopub, main
    release.touch()
    assert shell_reply(kc, main)["content"]["status"] == "ok"
    iopub.until_idle(main)
    assert control(kc, "delete_subshell_request", {"subshell_id": subshell_id})["status"] == "ok"


# -- the control requests ------------------------------------------------------------------------
def test_kernel_info_advertises_kernel_subshells(kernel):
    _, kc = kernel
    content = shell_reply(kc, kc.kernel_info())["content"]
    assert "kernel subshells" in content["supported_features"]


def test_subshells_are_created_listed_and_deleted(kernel):
    _, kc = kernel
    before = control(kc, "list_subshell_request")["subshell_id"]
    first, second = create_subshell(kc), create_subshell(kc)
    assert first != second
    assert control(kc, "list_subshell_request")["subshell_id"] == [*before, first, second]
    assert control(kc, "delete_subshell_request", {"subshell_id": first}) == {"status": "ok"}
    assert control(kc, "list_subshell_request")["subshell_id"] == [*before, second]
    again = control(kc, "delete_subshell_request", {"subshell_id": first})
    assert again["status"] == "error" and again["ename"] == "UnknownSubshell"
    assert first in again["evalue"]
    control(kc, "delete_subshell_request", {"subshell_id": second})
    assert control(kc, "list_subshell_request")["subshell_id"] == before


def test_a_request_for_an_unknown_subshell_gets_an_error_reply(kernel):
    _, kc = kernel
    subshell_id = create_subshell(kc)  # routing on: the router answers
    for msg_type, content in [("execute_request", {"code": "1"}), ("kernel_info_request", {})]:
        msg_id = send(kc, msg_type, content, subshell_id="no-such-subshell")
        reply = shell_reply(kc, msg_id)
        assert reply["msg_type"] == msg_type.replace("_request", "_reply")
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "UnknownSubshell"
        assert "no-such-subshell" in reply["content"]["evalue"]
    control(kc, "delete_subshell_request", {"subshell_id": subshell_id})


def test_no_thread_is_started_before_the_first_subshell_and_each_ends_with_its_subshell(
        fresh_kernel):
    _, kc = fresh_kernel
    iopub = IOPub(kc)
    names = "import threading\nprint(sorted(t.name for t in threading.enumerate()))"
    before = stdout(iopub.until_idle(run(kc, names)))
    assert "shell-router" not in before and "subshell-" not in before
    subshell_id = create_subshell(kc)
    during = stdout(iopub.until_idle(run(kc, names)))
    assert "'shell-router'" in during and f"'subshell-{subshell_id}'" in during
    control(kc, "delete_subshell_request", {"subshell_id": subshell_id})
    deadline = time.monotonic() + TIMEOUT
    while f"subshell-{subshell_id}" in stdout(iopub.until_idle(msg_id := run(kc, names))):
        assert time.monotonic() < deadline, "the deleted subshell's thread never ended"
        time.sleep(0.05)
    assert "'shell-router'" in stdout(iopub.by_parent[msg_id])  # stays: it owns the socket


# -- concurrency ---------------------------------------------------------------------------------
def test_a_subshell_cell_runs_and_returns_while_the_main_shell_sleeps(busy_main):
    kc, subshell_id, iopub, main = busy_main
    code = "import threading\nprint('in', threading.current_thread().name)\n6 * 7"
    cell = run(kc, code, subshell_id)
    reply = shell_reply(kc, cell)
    assert reply["content"]["status"] == "ok"
    assert reply["parent_header"]["subshell_id"] == subshell_id
    messages = iopub.until_idle(cell)
    assert stdout(messages) == f"in subshell-{subshell_id}\n"
    result = next(m for m in messages if m["msg_type"] == "execute_result")
    assert result["content"]["data"]["text/plain"] == "42"
    assert not iopub._idle(main), "the main shell's cell was to be still running"
    for request in (main, cell):  # busy and idle, each with its own request as parent
        states = [m["content"]["execution_state"] for m in iopub.by_parent[request]
                  if m["msg_type"] == "status"]
        assert states[0] == "busy"
    assert [m["content"]["execution_state"] for m in messages if m["msg_type"] == "status"] == [
        "busy", "idle"]


def test_other_requests_are_answered_by_a_subshell_during_a_busy_cell(busy_main):
    kc, subshell_id, _, _ = busy_main
    completed = shell_reply(kc, send(kc, "complete_request", {"code": "import o", "cursor_pos": 8},
                                     subshell_id))["content"]
    assert completed["status"] == "ok" and "os" in completed["matches"]
    inspected = shell_reply(kc, send(kc, "inspect_request",
                                     {"code": "len", "cursor_pos": 3, "detail_level": 0},
                                     subshell_id))["content"]
    assert inspected["found"] is True
    info = shell_reply(kc, send(kc, "kernel_info_request", {}, subshell_id))["content"]
    assert info["implementation"] == "pragma-kernel"


def test_the_output_of_concurrent_cells_carries_each_cells_parent(kernel):
    _, kc = kernel
    subshell_id = create_subshell(kc)
    iopub = IOPub(kc)
    # both cells print and display at once, for a while, each after the other started
    code = ("import threading, time\n"
            "ready.wait(10)\n"
            "for i in range(40):\n"
            "    print('{who}', i)\n"
            "    display({{'text/plain': '{who} shown ' + str(i)}}, raw=True)\n"
            "    time.sleep(0.005)\n")
    iopub.until_idle(run(kc, "import threading\nready = threading.Barrier(2)"))
    main = run(kc, code.format(who="main"))
    sub = run(kc, code.format(who="sub"), subshell_id)
    answered = replies(kc, main, sub)
    for msg_id, who in ((main, "main"), (sub, "sub")):
        assert answered[msg_id]["content"]["status"] == "ok"
        messages = iopub.until_idle(msg_id)
        assert stdout(messages) == "".join(f"{who} {i}\n" for i in range(40))
        shown = [m["content"]["data"]["text/plain"] for m in messages
                 if m["msg_type"] == "display_data"]
        assert shown == [f"{who} shown {i}" for i in range(40)]
        expected_subshell = subshell_id if who == "sub" else None
        assert {m["parent_header"].get("subshell_id") for m in messages} == {expected_subshell}
    control(kc, "delete_subshell_request", {"subshell_id": subshell_id})


def test_counter_is_shared_and_a_failure_aborts_only_its_own_subshells_queue(kernel, tmp_path):
    _, kc = kernel
    subshell_id = create_subshell(kc)
    iopub = IOPub(kc)
    release = tmp_path / "release"
    main = run(kc, wait_for_file(release))
    iopub.until(main, lambda m: m["msg_type"] == "execute_input")  # it has its number
    failing = run(kc, "import time\ntime.sleep(0.5)  # the next request is queued by now\n1 / 0",
                  subshell_id)
    aborted = run(kc, "print('never')", subshell_id)
    queued_main = run(kc, "'main goes on'")
    failed = shell_reply(kc, failing)["content"]
    assert failed["status"] == "error" and failed["ename"] == "ZeroDivisionError"
    assert shell_reply(kc, aborted)["content"]["status"] == "aborted"
    after = shell_reply(kc, run(kc, "'the subshell goes on'", subshell_id))["content"]
    assert after["status"] == "ok"
    release.touch()
    first = shell_reply(kc, main)["content"]
    assert first["status"] == "ok"
    assert shell_reply(kc, queued_main)["content"]["status"] == "ok"
    # one counter: each stored cell took the next number, whichever shell ran it
    assert failed["execution_count"] == first["execution_count"] + 1
    assert after["execution_count"] == failed["execution_count"] + 1  # an aborted cell: none
    for msg_id in (main, failing, aborted, queued_main):
        iopub.until_idle(msg_id)
    control(kc, "delete_subshell_request", {"subshell_id": subshell_id})


# -- comms -----------------------------------------------------------------------------------------
ECHO_TARGET = """
import comm, threading
def on_open(c, msg):
    c.on_msg(lambda m: c.send({'echo': m['content']['data'],
                               'thread': threading.current_thread().name}))
    c.send({'opened': threading.current_thread().name})
comm.get_comm_manager().register_target('subshell-echo', on_open)
"""


def test_comm_traffic_is_answered_in_a_subshell_during_a_busy_cell(kernel, tmp_path):
    _, kc = kernel
    iopub = IOPub(kc)
    iopub.until_idle(run(kc, ECHO_TARGET))
    subshell_id = create_subshell(kc)
    release = tmp_path / "release"
    main = run(kc, wait_for_file(release))
    iopub.until(main, lambda m: m["msg_type"] == "execute_input")
    comm_id = uuid.uuid4().hex
    opened = send(kc, "comm_open", {"comm_id": comm_id, "target_name": "subshell-echo",
                                    "data": {}}, subshell_id)
    said = [m for m in iopub.until_idle(opened) if m["msg_type"] == "comm_msg"]
    assert said[0]["content"]["data"] == {"opened": f"subshell-{subshell_id}"}
    message = send(kc, "comm_msg", {"comm_id": comm_id, "data": {"n": 1}}, subshell_id)
    echoed = [m for m in iopub.until_idle(message) if m["msg_type"] == "comm_msg"]
    assert echoed[0]["content"]["data"] == {"echo": {"n": 1}, "thread": f"subshell-{subshell_id}"}
    assert echoed[0]["parent_header"]["msg_id"] == message
    info = shell_reply(kc, send(kc, "comm_info_request", {"target_name": "subshell-echo"},
                                subshell_id))["content"]
    assert info["comms"] == {comm_id: {"target_name": "subshell-echo"}}
    assert not iopub._idle(main)
    closed = send(kc, "comm_close", {"comm_id": comm_id, "data": {}}, subshell_id)
    iopub.until_idle(closed)
    release.touch()
    assert shell_reply(kc, main)["content"]["status"] == "ok"
    info = shell_reply(kc, kc.comm_info(target_name="subshell-echo"))["content"]
    assert info["comms"] == {}
    control(kc, "delete_subshell_request", {"subshell_id": subshell_id})


# -- pragma cells ------------------------------------------------------------------------------
def test_while_the_main_shell_waits_for_a_job_a_subshell_lists_jobs_and_runs_python(
        fresh_kernel, tmp_path):
    _, kc = fresh_kernel
    iopub = IOPub(kc)
    release = tmp_path / "release"
    task = ("#%task(name=waiting)\nimport os, time\nprint('started', flush=True)\n"
            f"while not os.path.exists({str(release)!r}):\n    time.sleep(0.05)")
    assert shell_reply(kc, run(kc, task), timeout=60)["content"]["status"] == "ok"
    subshell_id = create_subshell(kc)
    job = run(kc, "#%submit_job()")
    iopub.until(job, lambda m: m["msg_type"] == "stream" and "started" in m["content"]["text"],
                timeout=60)
    try:
        listed = run(kc, "#%list_submitted_jobs()", subshell_id)
        assert shell_reply(kc, listed)["content"]["status"] == "ok"
        table = next(m for m in iopub.until_idle(listed) if m["msg_type"] == "display_data")
        assert "running" in table["content"]["data"]["text/plain"]
        refused = shell_reply(kc, run(kc, "#%task(name=other)\nx = 1", subshell_id))["content"]
        assert refused["status"] == "error" and refused["ename"] == "ConcurrentPragmaCell"
        assert "another pragma cell is running (Cell In[" in refused["evalue"]
        python = shell_reply(kc, run(kc, "2 + 2", subshell_id))["content"]
        assert python["status"] == "ok"
        assert not iopub._idle(job)
    finally:
        release.touch()
    assert shell_reply(kc, job, timeout=60)["content"]["status"] == "ok"
    iopub.until_idle(job, timeout=60)
    # once the job is over, a subshell runs any pragma cell
    defined = shell_reply(kc, run(kc, "#%task(name=other)\nx = 1", subshell_id))["content"]
    assert defined["status"] == "ok"


# -- interrupt, shutdown, restart ----------------------------------------------------------------
def test_interrupt_stops_the_main_cell_and_leaves_the_subshells_working(fresh_kernel):
    km, kc = fresh_kernel
    iopub = IOPub(kc)
    subshell_id = create_subshell(kc)
    sleeper = run(kc, "import time\ntime.sleep(60)")
    iopub.until(sleeper, lambda m: m["msg_type"] == "execute_input")
    time.sleep(0.2)
    km.interrupt_kernel()
    reply = shell_reply(kc, sleeper, timeout=10)["content"]
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    assert shell_reply(kc, run(kc, "'still here'", subshell_id))["content"]["status"] == "ok"
    assert shell_reply(kc, run(kc, "'main too'"))["content"]["status"] == "ok"


@pytest.mark.parametrize("how", ["control", "main shell", "subshell"])
def test_shutdown_with_busy_subshells_ends_the_process_at_once(fresh_kernel, how):
    km, kc = fresh_kernel
    subshells = [create_subshell(kc) for _ in range(2)]
    iopub = IOPub(kc)
    busy = run(kc, "import time\ntime.sleep(60)", subshells[0])
    iopub.until(busy, lambda m: m["msg_type"] == "execute_input")
    started = time.monotonic()
    if how == "control":
        kc.shutdown()
    else:
        msg_id = send(kc, "shutdown_request", {"restart": False},
                      subshells[1] if how == "subshell" else None)
        assert shell_reply(kc, msg_id, timeout=10)["content"]["status"] == "ok"
    while km.is_alive():
        assert time.monotonic() - started < 10, "the kernel did not exit"
        time.sleep(0.05)
    assert time.monotonic() - started < 5


def test_restart_with_a_busy_subshell_gives_a_kernel_without_subshells(fresh_kernel):
    km, kc = fresh_kernel
    subshell_id = create_subshell(kc)
    iopub = IOPub(kc)
    busy = run(kc, "import time\ntime.sleep(60)", subshell_id)
    iopub.until(busy, lambda m: m["msg_type"] == "execute_input")
    started = time.monotonic()
    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=TIMEOUT)
    assert time.monotonic() - started < 10
    assert control(kc, "list_subshell_request")["subshell_id"] == []
    assert shell_reply(kc, kc.execute("1 + 1"))["content"]["status"] == "ok"
