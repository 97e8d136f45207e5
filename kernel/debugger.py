"""JupyterLab's debugger: ``debug_request`` on control, answered with debugpy in this process.

The layering is ipykernel's: the frontend speaks the Debug Adapter Protocol inside
``debug_request``/``debug_reply``/``debug_event``; most requests go to debugpy's adapter
unchanged, a few are the kernel's own (:data:`Debugger.own_commands`): ``dumpCell`` (a cell as a
file, :mod:`kernel.debug_cells`), ``debugInfo`` (how JupyterLab names those files, the
breakpoints it set), ``inspectVariables``/``richInspectVariables`` (the namespace when no cell is
stopped), ``configurationDone`` (already sent during ``attach``), ``source``.

debugpy is imported on the first ``initialize``: a kernel nobody debugs never loads it. From
then on cells are compiled under their file's path (``CellSources.debug_files``) and the thread
that runs them is traced. The kernel's own threads (control, IOPub, the reader of the adapter's
replies) are never traced, so a stopped cell does not stop the requests that inspect it.
"""

from __future__ import annotations

import ast
import importlib.util
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from pragma_kernel.kernel import debug_cells
from pragma_kernel.kernel.cell_sources import cells
from pragma_kernel.kernel.dap import DapConnection, DapError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
ATTACH_TIMEOUT = 30.0  #: seconds for debugpy to attach (its adapter is a new process)
#: the kernel's own package: its frames are hidden from stack traces and stepping
KERNEL_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: names of the namespace the variables panel does not list (IPython's bookkeeping)
HIDDEN_VARIABLES = frozenset({
    "__name__", "__doc__", "__package__", "__loader__", "__spec__", "__annotations__",
    "__builtins__", "__builtin__", "__display__", "get_ipython", "debugpy", "exit", "quit",
    "In", "Out", "_oh", "_ih", "_dh", "_", "__", "___",
})
_VALUE_PREVIEW = 1000  #: characters of a value's repr shown by inspectVariables


def debugpy_available() -> bool:
    """True when debugpy can be imported (checked without importing it)."""
    return importlib.util.find_spec("debugpy") is not None


def shown_variable(name: str) -> bool:
    if name in HIDDEN_VARIABLES or name.startswith("_i"):
        return False
    return not (name.startswith("_") and name[1:].isdigit())


class Debugger:
    """The DAP session of one kernel: at most one frontend attached at a time."""

    def __init__(
        self,
        publish_event: Callable[[dict[str, Any]], None],
        namespace: Callable[[], dict[str, Any]],
        rich_value: Callable[[str], tuple[dict[str, Any], dict[str, Any]]],
    ):
        self._publish_event = publish_event
        self._namespace = namespace
        self._rich_value = rich_value
        self._connection: DapConnection | None = None
        self._port: int | None = None  # debugpy listens once per process, on this port
        self._attached = False
        self.started = False
        self.breakpoints: dict[str, list[dict[str, Any]]] = {}
        self.stopped_threads: set[int] = set()
        self._traced: set[int] = set()
        self._initialized = threading.Event()  # debugpy's "initialized" event, during attach
        self.own_commands: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "dumpCell": self.dump_cell,
            "debugInfo": self.debug_info,
            "inspectVariables": self.inspect_variables,
            "richInspectVariables": self.rich_inspect_variables,
            "configurationDone": lambda request: response(request),
            "source": self.source,
        }

    # -- the request table -------------------------------------------------------------------
    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """The DAP response to one DAP request (the content of a debug_reply)."""
        command = request.get("command")
        own = self.own_commands.get(command)
        if own is not None:
            return own(request)
        if command == "initialize":
            self._start()
        elif not self.started:
            return response(request, success=False, message="the debugger is not started")
        try:
            if command == "attach":
                return self.attach(request)
            reply = self._connection.request(request)
        except DapError as error:
            return response(request, success=False, message=str(error))
        if command == "setBreakpoints" and reply.get("success"):
            path = request["arguments"]["source"]["path"]
            self.breakpoints[path] = [
                {"line": point["line"]} for point in reply["body"].get("breakpoints", [])
            ]
        elif command == "variables" and reply.get("success"):
            body = reply.get("body", {})
            body["variables"] = [v for v in body.get("variables", []) if shown_variable(v["name"])]
        elif command == "disconnect":
            self._stop()
        return reply

    # -- the session ---------------------------------------------------------------------------
    def _start(self) -> None:
        if self.started:
            return
        import debugpy  # noqa: T100 - the debugger is the point

        if self._port is None:
            self._port = _free_port()
            debugpy.listen((HOST, self._port))  # noqa: T100
        debugpy.trace_this_thread(False)  # the control thread answers while a cell is stopped
        self._connection = DapConnection(self._on_event, lambda: debugpy.trace_this_thread(False))
        self._connection.connect(HOST, self._port)
        cells.debug_files = True
        self.started = True

    def attach(self, request: dict[str, Any]) -> dict[str, Any]:
        """Attach, then finish debugpy's configuration (it answers attach only after
        ``configurationDone``, which JupyterLab sends only after the attach reply)."""
        arguments = request.setdefault("arguments", {})
        arguments["connect"] = {"host": HOST, "port": self._port}
        arguments["rules"] = [{"path": KERNEL_PACKAGE, "include": False}]
        arguments.setdefault("justMyCode", True)  # stop in cells and the user's files only
        connection = self._connection
        self._initialized.clear()
        pending = connection.send(request)
        if not self._initialized.wait(ATTACH_TIMEOUT):
            raise DapError("debugpy did not send its initialized event")
        done = {"type": "request", "command": "configurationDone", "seq": connection.next_seq()}
        connection.request(done)
        reply = connection.wait(request, pending, ATTACH_TIMEOUT)
        self._attached = bool(reply.get("success"))
        return reply

    def _stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None
        cells.debug_files = False
        self.started = self._attached = False
        self.breakpoints = {}
        self.stopped_threads = set()

    def trace_this_thread(self) -> None:
        """Called by the thread that runs cells, before each cell."""
        if not self.started or threading.get_ident() in self._traced:
            return
        import debugpy  # noqa: T100 - the debugger is the point

        debugpy.trace_this_thread(True)
        self._traced.add(threading.get_ident())

    def _on_event(self, event: dict[str, Any]) -> None:
        body = event.get("body", {})
        if event.get("event") == "initialized":
            self._initialized.set()
        elif event.get("event") == "stopped":
            self.stopped_threads.add(body.get("threadId"))
        elif event.get("event") == "continued":
            if body.get("allThreadsContinued", True):
                self.stopped_threads = set()
            else:
                self.stopped_threads.discard(body.get("threadId"))
        self._publish_event(event)

    # -- the kernel's own commands ---------------------------------------------------------------
    def dump_cell(self, request: dict[str, Any]) -> dict[str, Any]:
        path = debug_cells.write_cell(request["arguments"]["code"])
        return response(request, body={"sourcePath": path})

    def debug_info(self, request: dict[str, Any]) -> dict[str, Any]:
        return response(request, body={
            "isStarted": self.started,
            "hashMethod": "Murmur2",
            "hashSeed": debug_cells.HASH_SEED,
            "tmpFilePrefix": debug_cells.cells_directory() + os.sep,
            "tmpFileSuffix": debug_cells.SUFFIX,
            "breakpoints": [
                {"source": path, "breakpoints": points}
                for path, points in self.breakpoints.items()
            ],
            "stoppedThreads": sorted(self.stopped_threads),
            "richRendering": True,
            "exceptionPaths": ["Python Exceptions"],
            "copyToGlobals": False,
        })

    def source(self, request: dict[str, Any]) -> dict[str, Any]:
        path = request["arguments"]["source"]["path"]
        try:
            with open(path, encoding="utf-8") as file:
                return response(request, body={"content": file.read()})
        except OSError as error:
            return response(request, success=False, message=f"source unavailable: {error}")

    def inspect_variables(self, request: dict[str, Any]) -> dict[str, Any]:
        """The user namespace, for the variables panel while no cell is stopped (values are
        shown as their repr; they cannot be expanded)."""
        variables = [
            {
                "name": name,
                "value": _preview(value),
                "type": type(value).__name__,
                "evaluateName": name,
                "variablesReference": 0,
            }
            for name, value in list(self._namespace().items())
            if shown_variable(name) and not name.startswith("__")
        ]
        return response(request, body={"variables": variables})

    def rich_inspect_variables(self, request: dict[str, Any]) -> dict[str, Any]:
        """A variable's mime bundle: from the namespace, or evaluated in a stopped frame."""
        name = request["arguments"].get("variableName", "")
        if not str(name).isidentifier():
            return response(request, body={"data": {}, "metadata": {}})
        frame_id = request["arguments"].get("frameId")
        if self.stopped_threads and frame_id is not None and self._connection is not None:
            data, metadata = self._rich_in_frame(name, frame_id)
        elif name in self._namespace():
            data, metadata = self._rich_value(name)
        else:
            data, metadata = {}, {}
        return response(request, body={
            "data": data, "metadata": {k: v for k, v in metadata.items() if k in data}
        })

    def _rich_in_frame(self, name: str, frame_id: int) -> tuple[dict, dict]:
        expression = (
            "__import__('pragma_kernel.kernel.display', fromlist=['display'])"
            f".format_mimebundle({name})"
        )
        evaluate = {
            "type": "request", "command": "evaluate", "seq": self._connection.next_seq(),
            "arguments": {"expression": expression, "frameId": frame_id, "context": "clipboard"},
        }
        reply = self._connection.request(evaluate)
        if not reply.get("success"):
            return {}, {}
        return ast.literal_eval(reply["body"]["result"])


def response(request: dict[str, Any], success: bool = True, body: dict | None = None,
             message: str | None = None) -> dict[str, Any]:
    """A DAP response to ``request``."""
    reply: dict[str, Any] = {
        "type": "response",
        "request_seq": request.get("seq"),
        "success": success,
        "command": request.get("command"),
        "body": body if body is not None else {},
    }
    if message is not None:
        reply["message"] = message
    return reply


def _preview(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as error:  # noqa: BLE001 - a broken __repr__ is shown, not raised
        text = f"<repr failed: {type(error).__name__}: {error}>"
    return text if len(text) <= _VALUE_PREVIEW else text[:_VALUE_PREVIEW] + "…"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]
