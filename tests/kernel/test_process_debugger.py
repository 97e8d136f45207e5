"""JupyterLab's debugger, driven as JupyterLab drives it: DAP requests in ``debug_request``
messages on the control channel of a real kernel, debugpy answering in the kernel's process,
``debug_event`` messages on IOPub."""

from __future__ import annotations

import queue
import re
import time

import pytest
from pragma_kernel.kernel.debug_cells import murmur2_x86

from tests.conftest import collect_iopub, execute, shell_reply, start_kernel, stop_kernel

TIMEOUT = 60  #: seconds for any one answer (debugpy's adapter is a new process)

CELL = "def f(a):\n    b = a + 1\n    return b\nx = 10\ny = f(x)\nz = y * 2\n"


class DapSession:
    """A frontend's side of the DAP: requests over control, events from IOPub."""

    def __init__(self, kc):
        self.kc = kc
        self.seq = 0

    def request(self, command: str, **arguments) -> dict:
        self.seq += 1
        dap = {"type": "request", "seq": self.seq, "command": command, "arguments": arguments}
        message = self.kc.session.msg("debug_request", dap)
        self.kc.control_channel.send(message)
        while True:
            reply = self.kc.get_control_msg(timeout=TIMEOUT)
            if reply["parent_header"].get("msg_id") == message["header"]["msg_id"]:
                assert reply["msg_type"] == "debug_reply"
                return reply["content"]

    def start(self) -> None:
        """What JupyterLab sends when its debugger is switched on."""
        initialize = self.request(
            "initialize", clientID="JupyterLab", clientName="JupyterLab", adapterID="python",
            pathFormat="path", linesStartAt1=True, columnsStartAt1=True,
            supportsVariableType=True, supportsVariablePaging=True,
            supportsRunInTerminalRequest=True, locale="en",
        )
        assert initialize["success"], initialize
        attach = self.request("attach")
        assert attach["success"], attach

    def event(self, name: str, timeout: float = TIMEOUT) -> dict:
        """The next debug_event called ``name`` (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {name!r} debug_event within {timeout} s")
            try:
                message = self.kc.get_iopub_msg(timeout=remaining)
            except queue.Empty:
                continue
            if message["msg_type"] == "debug_event" and message["content"]["event"] == name:
                return message["content"]

    def top_frame(self, thread_id: int) -> dict:
        trace = self.request("stackTrace", threadId=thread_id)
        assert trace["success"], trace
        return trace["body"]["stackFrames"][0]

    def local_values(self, frame_id: int) -> dict[str, str]:
        scopes = self.request("scopes", frameId=frame_id)["body"]["scopes"]
        local = next(scope for scope in scopes if scope["name"] == "Locals")
        variables = self.request("variables", variablesReference=local["variablesReference"])
        return {v["name"]: v["value"] for v in variables["body"]["variables"]}


@pytest.fixture
def debugged():
    """A new kernel with a debugger attached (one per test: breakpoints are process state)."""
    km, kc = start_kernel()
    session = DapSession(kc)
    session.start()
    yield kc, session
    session.request("disconnect", restart=False, terminateDebuggee=True)
    stop_kernel(km, kc)


def value_after_the_cell(kc, msg_id: str, name: str) -> str:
    """Once the continued cell ``msg_id`` ended well, the text/plain of ``name``."""
    assert shell_reply(kc, msg_id, TIMEOUT)["content"]["status"] == "ok"
    collect_iopub(kc, msg_id, TIMEOUT)
    _, outputs = execute(kc, name)
    return outputs[0]["content"]["data"]["text/plain"]


def test_kernel_info_advertises_the_debugger(kernel):
    _, kc = kernel
    content = kc.kernel_info(reply=True, timeout=TIMEOUT)["content"]
    assert content["debugger"] is True
    assert "debugger" in content["supported_features"]


def test_debugpy_is_not_loaded_until_the_debugger_is_used(kernel):
    _, kc = kernel
    _, outputs = execute(kc, "import sys\n'debugpy' in sys.modules, 'pydevd' in sys.modules")
    assert outputs[0]["content"]["data"]["text/plain"] == "(False, False)"


def test_the_kernelspec_advertises_the_debugger(kernel):
    km, _ = kernel
    assert km.kernel_spec.metadata.get("debugger") is True


def test_a_breakpoint_stops_the_cell_and_its_locals_can_be_read_stepped_and_continued(debugged):
    kc, dap = debugged
    path = dap.request("dumpCell", code=CELL)["body"]["sourcePath"]
    points = dap.request("setBreakpoints", source={"path": path},
                         breakpoints=[{"line": 2}], sourceModified=False)
    assert points["success"] and [p["verified"] for p in points["body"]["breakpoints"]] == [True]
    assert dap.request("configurationDone")["success"]

    msg_id = kc.execute(CELL)
    stopped = dap.event("stopped")
    assert stopped["body"]["reason"] == "breakpoint"
    thread = stopped["body"]["threadId"]
    frame = dap.top_frame(thread)
    assert (frame["name"], frame["line"], frame["source"]["path"]) == ("f", 2, path)
    assert dap.local_values(frame["id"]) == {"a": "10"}

    assert dap.request("next", threadId=thread)["success"]
    assert dap.event("stopped")["body"]["reason"] == "step"
    frame = dap.top_frame(thread)
    assert frame["line"] == 3
    assert dap.local_values(frame["id"]) == {"a": "10", "b": "11"}
    evaluated = dap.request("evaluate", expression="b * 100", frameId=frame["id"], context="repl")
    assert evaluated["body"]["result"] == "1100"
    info = dap.request("debugInfo")["body"]
    assert info["stoppedThreads"] == [thread]

    assert dap.request("continue", threadId=thread)["success"]
    assert value_after_the_cell(kc, msg_id, "z") == "22"


def test_step_in_and_step_out_follow_the_call(debugged):
    kc, dap = debugged
    path = dap.request("dumpCell", code=CELL)["body"]["sourcePath"]
    dap.request("setBreakpoints", source={"path": path}, breakpoints=[{"line": 5}])
    dap.request("configurationDone")
    msg_id = kc.execute(CELL)
    thread = dap.event("stopped")["body"]["threadId"]
    assert dap.top_frame(thread)["name"] == "<module>"

    dap.request("stepIn", threadId=thread)
    dap.event("stopped")
    frame = dap.top_frame(thread)
    assert (frame["name"], frame["line"]) == ("f", 2)

    dap.request("stepOut", threadId=thread)
    dap.event("stopped")
    frame = dap.top_frame(thread)
    assert (frame["name"], frame["line"]) == ("<module>", 5)

    dap.request("continue", threadId=thread)
    assert shell_reply(kc, msg_id, TIMEOUT)["content"]["status"] == "ok"


def test_debug_info_tells_how_cell_files_are_named(debugged):
    """JupyterLab computes a cell's path itself from these fields, before any dumpCell."""
    _, dap = debugged
    path = dap.request("dumpCell", code=CELL)["body"]["sourcePath"]
    dap.request("setBreakpoints", source={"path": path}, breakpoints=[{"line": 4}])
    info = dap.request("debugInfo")["body"]
    assert info["isStarted"] is True
    assert info["hashMethod"] == "Murmur2"
    expected = f"{info['tmpFilePrefix']}{murmur2_x86(CELL, info['hashSeed'])}{info['tmpFileSuffix']}"
    assert path == expected
    assert info["breakpoints"] == [{"source": path, "breakpoints": [{"line": 4}]}]
    source = dap.request("source", source={"path": path})
    assert source["body"]["content"] == CELL


def test_cell_files_are_named_as_jupyterlab_recognises_cells(debugged):
    """JupyterLab (4.5+) shows a frame, breakpoint or source as ``Cell [n]`` only when its path
    contains ``ipykernel_``; any other path is shown as it is, a temporary file's name."""
    kc, dap = debugged
    assert "ipykernel_" in dap.request("debugInfo")["body"]["tmpFilePrefix"]
    path = dap.request("dumpCell", code=CELL)["body"]["sourcePath"]
    assert "ipykernel_" in path
    dap.request("setBreakpoints", source={"path": path}, breakpoints=[{"line": 4}])
    msg_id = kc.execute(CELL)
    thread = dap.event("stopped")["body"]["threadId"]
    assert dap.top_frame(thread)["source"]["path"] == path
    dap.request("continue", threadId=thread)
    assert shell_reply(kc, msg_id, TIMEOUT)["content"]["status"] == "ok"


def test_the_namespace_is_inspected_while_no_cell_is_stopped(debugged):
    kc, dap = debugged
    execute(kc, "answer = 42\n_hidden = 1")
    variables = dap.request("inspectVariables")["body"]["variables"]
    by_name = {v["name"]: v for v in variables}
    assert by_name["answer"]["value"] == "42" and by_name["answer"]["type"] == "int"
    assert "In" not in by_name and "_i1" not in by_name
    rich = dap.request("richInspectVariables", variableName="answer")["body"]
    assert rich["data"]["text/plain"] == "42"


def test_tracebacks_still_name_the_cell_while_debugging(debugged):
    kc, _ = debugged
    reply, outputs = execute(kc, "1 / 0")
    assert reply["content"]["status"] == "error"
    error = next(m for m in outputs if m["msg_type"] == "error")
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["content"]["traceback"]))
    assert "Cell In[1], line 1" in text
    assert "pragma_ipykernel_" not in text  # the cell's file is the debugger's business


def test_run_local_stops_at_a_breakpoint_in_the_tasks_cell(debugged):
    """A task's code runs under the debugger with #%run_local: the breakpoint is set in the
    cell that declared the task, as JupyterLab sets it (dumpCell of that cell's text)."""
    kc, dap = debugged
    task_cell = "#%task(name=scaled)\nv = 5\nw = v * 3\n"
    reply, outputs = execute(kc, task_cell)
    assert reply["content"]["status"] == "ok", outputs
    path = dap.request("dumpCell", code=task_cell)["body"]["sourcePath"]
    dap.request("setBreakpoints", source={"path": path}, breakpoints=[{"line": 3}])
    dap.request("configurationDone")

    msg_id = kc.execute("#%run_local(name=scaled)")
    thread = dap.event("stopped")["body"]["threadId"]
    frame = dap.top_frame(thread)
    assert (frame["line"], frame["source"]["path"]) == (3, path)
    assert dap.local_values(frame["id"])["v"] == "5"
    dap.request("continue", threadId=thread)
    assert value_after_the_cell(kc, msg_id, "w") == "15"


def test_an_exception_breakpoint_stops_where_the_exception_is_raised(debugged):
    kc, dap = debugged
    execute(kc, "warm = 1")  # what the kernel loads on its first cells raises and catches too
    assert dap.request("setExceptionBreakpoints", filters=["raised"])["success"]
    dap.request("configurationDone")
    msg_id = kc.execute("values = [1, 2]\nvalues[5]\n")
    stopped = dap.event("stopped")
    assert stopped["body"]["reason"] == "exception"
    thread = stopped["body"]["threadId"]
    assert dap.top_frame(thread)["line"] == 2
    dap.request("setExceptionBreakpoints", filters=[])
    dap.request("continue", threadId=thread)
    assert shell_reply(kc, msg_id, TIMEOUT)["content"]["status"] == "error"
