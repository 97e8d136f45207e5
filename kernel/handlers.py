"""One function per request type: protocol in, reply content out. The tables are at the bottom."""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
from typing import TYPE_CHECKING, Any

from pragma_kernel.kernel.context import CellContext, activate
from pragma_kernel.kernel.dispatch import Handler
from pragma_kernel.protocol.messages import PROTOCOL_VERSION
from pragma_kernel.protocol.wire import Message

if TYPE_CHECKING:
    from pragma_kernel.kernel.app import KernelApp
    from pragma_kernel.kernel.debugger import Debugger

log = logging.getLogger(__name__)

IMPLEMENTATION = "pragma-kernel"
#: kept equal to setup.cfg's version (tests/kernel/test_protocol_install.py checks it); reading
#: package metadata at start-up would cost more than the whole kernel_info round trip
IMPLEMENTATION_VERSION = "0.1.0"


def kernel_info_content() -> dict[str, Any]:
    python = "{}.{}.{}".format(*sys.version_info[:3])
    return {
        "status": "ok",
        "protocol_version": PROTOCOL_VERSION,
        "implementation": IMPLEMENTATION,
        "implementation_version": IMPLEMENTATION_VERSION,
        "language_info": {
            "name": "python",
            "version": python,
            "mimetype": "text/x-python",
            "file_extension": ".py",
            "pygments_lexer": "ipython3",
            "codemirror_mode": {"name": "ipython", "version": sys.version_info[0]},
            "nbconvert_exporter": "python",
        },
        "banner": (
            f"Python {sys.version.split()[0]} - {IMPLEMENTATION} {IMPLEMENTATION_VERSION}\n"
            "Ordinary cells run here; cells starting with #% pragmas build task graphs "
            "(#%help() lists them)."
        ),
        "help_links": [{"text": "Python Reference", "url": "https://docs.python.org/3/"}],
        "debugger": debugger_available(),
        "supported_features": [
            *(["debugger"] if debugger_available() else []),
            "kernel subshells",
        ],
    }


@functools.cache
def debugger_available() -> bool:
    """debugpy can be imported (checked without importing it: it loads on first use)."""
    return importlib.util.find_spec("debugpy") is not None


class RequestHandlers:
    """The handlers of both channels; each takes the request and returns the reply content."""

    def __init__(self, app: KernelApp):
        self.app = app
        self.executor = app.executor
        self._debugger: Debugger | None = None
        self._debug_parent: dict[str, Any] = {}

    # -- shell -------------------------------------------------------------------------------
    def kernel_info(self, request: Message) -> dict[str, Any]:
        return kernel_info_content()

    def execute(self, request: Message) -> dict[str, Any]:
        self.app.comms.install()
        return self.executor.execute(request)

    def _code_and_cursor(self, request: Message) -> tuple[str, int]:
        code = request.content.get("code", "")
        if not isinstance(code, str):
            raise TypeError(f"{request.msg_type} content.code must be a string")
        cursor = request.content.get("cursor_pos")
        cursor = len(code) if cursor is None else int(cursor)
        return code, max(0, min(cursor, len(code)))

    def _pragma_engine(self, code: str):
        """The engine when it should see this request first (loaded, or a pragma cell)."""
        return self.executor.engine or self.executor.engine_for(code)

    def complete(self, request: Message) -> dict[str, Any]:
        code, cursor = self._code_and_cursor(request)
        engine = self._pragma_engine(code)
        reply = None
        if engine is not None:
            reply = engine.complete(code, cursor, self.executor.shell.user_variables())
        if reply is None:
            reply = self.executor.shell.complete(code, cursor)
        return {"status": "ok", "metadata": {}, **reply}

    def inspect(self, request: Message) -> dict[str, Any]:
        code, cursor = self._code_and_cursor(request)
        detail = int(request.content.get("detail_level", 0) or 0)
        engine = self._pragma_engine(code)
        reply = engine.inspect(code, cursor, detail) if engine is not None else None
        if reply is None:
            reply = self.executor.shell.inspect(code, cursor, detail)
        return {"status": "ok", "metadata": {}, **reply}

    def is_complete(self, request: Message) -> dict[str, Any]:
        code, _ = self._code_and_cursor(request)
        engine = self._pragma_engine(code)
        reply = engine.is_complete(code) if engine is not None else None
        if reply is None:
            reply = self.executor.shell.is_complete(code)
        return {"status": "unknown", **reply}

    def history(self, request: Message) -> dict[str, Any]:
        content = request.content
        store = self.app.history
        output = bool(content.get("output", False))
        kind = content.get("hist_access_type", "tail")
        if kind == "tail":
            entries = store.tail(int(content.get("n") or 10), output)
        elif kind == "range":
            stop = content.get("stop")
            entries = store.range(
                int(content.get("session") or 0),
                int(content.get("start") or 0),
                None if stop is None else int(stop),
                output,
            )
        elif kind == "search":
            n = content.get("n")
            entries = store.search(
                str(content.get("pattern") or "*"),
                None if n is None else int(n),
                bool(content.get("unique", False)),
                output,
            )
        else:
            raise ValueError(f"hist_access_type {kind!r} is not one of tail, range, search")
        return {"status": "ok", "history": entries}

    def comm_info(self, request: Message) -> dict[str, Any]:
        target = request.content.get("target_name")
        return {"status": "ok", "comms": self.app.comms.info(target if target else None)}

    def comm(self, request: Message) -> None:
        """comm_open / comm_msg / comm_close: callbacks may print, so they get a context."""
        context = CellContext(
            io=self.app.io,
            request=request,
            execution_count=self.executor.execution_count,
            namespace={},
        )
        activate(context)
        try:
            with self.app.gate.request(), self.app.gate.user_code():
                self.app.comms.handle(request, context)
        except KeyboardInterrupt:
            log.warning("%s interrupted", request.msg_type)

    def connect(self, request: Message) -> dict[str, Any]:
        ports = self.app.ports
        return {"status": "ok", **{f"{name}_port": port for name, port in ports.items()}}

    # -- control (and shell, for old clients) ------------------------------------------------
    def shutdown(self, request: Message) -> dict[str, Any]:
        restart = bool(request.content.get("restart", False))
        self.app.request_exit(restart=restart)
        return {"status": "ok", "restart": restart}

    def debug(self, request: Message) -> dict[str, Any]:
        """debug_request: a DAP request in, the DAP response out (events go to IOPub)."""
        if not debugger_available():
            raise RuntimeError("the debugger needs debugpy: pip install debugpy")
        self._debug_parent = request.header
        return self.debugger.handle(request.content)

    @property
    def debugger(self) -> Debugger:
        if self._debugger is None:
            from pragma_kernel.kernel.debugger import Debugger

            self._debugger = Debugger(self._publish_debug_event, self._user_namespace,
                                      self._rich_value)
            self.executor.before_cell = self._debugger.trace_this_thread
        return self._debugger

    def _publish_debug_event(self, event: dict[str, Any]) -> None:
        self.app.publisher.publish("debug_event", event, self._debug_parent)

    def _user_namespace(self) -> dict[str, Any]:
        return self.executor.shell.namespace

    def _rich_value(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        from pragma_kernel.kernel.display import format_mimebundle

        return format_mimebundle(self._user_namespace()[name])

    def create_subshell(self, request: Message) -> dict[str, Any]:
        return {"status": "ok", "subshell_id": self.app.subshells.create()}

    def delete_subshell(self, request: Message) -> dict[str, Any]:
        from pragma_kernel.kernel.subshells import UnknownSubshell

        try:
            self.app.subshells.delete(request.content.get("subshell_id"))
        except UnknownSubshell as unknown:
            return unknown.reply()
        return {"status": "ok"}

    def list_subshell(self, request: Message) -> dict[str, Any]:
        return {"status": "ok", "subshell_id": self.app.subshells.ids()}

    def interrupt(self, request: Message) -> dict[str, Any]:
        from pragma_kernel.kernel.interrupts import interrupt_kernel

        if self.app.gate.busy:  # an idle kernel (and its children) has nothing to interrupt
            interrupt_kernel()
        return {"status": "ok"}


def shell_table(handlers: RequestHandlers) -> dict[str, Handler]:
    return {
        "kernel_info_request": handlers.kernel_info,
        "execute_request": handlers.execute,
        "complete_request": handlers.complete,
        "inspect_request": handlers.inspect,
        "is_complete_request": handlers.is_complete,
        "history_request": handlers.history,
        "comm_info_request": handlers.comm_info,
        "comm_open": handlers.comm,
        "comm_msg": handlers.comm,
        "comm_close": handlers.comm,
        "connect_request": handlers.connect,
        "shutdown_request": handlers.shutdown,
    }


def control_table(handlers: RequestHandlers) -> dict[str, Handler]:
    return {
        "kernel_info_request": handlers.kernel_info,
        "shutdown_request": handlers.shutdown,
        "interrupt_request": handlers.interrupt,
        "debug_request": handlers.debug,
        "create_subshell_request": handlers.create_subshell,
        "delete_subshell_request": handlers.delete_subshell,
        "list_subshell_request": handlers.list_subshell,
    }
