"""execute_request: the counter, the cell's context, Python shell or pragma engine, the reply.

The Python shell (``pragma_kernel.kernel.shell.PythonShell``) and the pragma engine are loaded on the first
cell that needs them, so start-up pays for neither.
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from pragma_kernel.kernel.context import CellContext, KernelIO, activate, in_subshell
from pragma_kernel.kernel.history import HistoryStore
from pragma_kernel.kernel.interrupts import InterruptGate
from pragma_kernel.pragmas.cells import is_pragma_cell
from pragma_kernel.protocol.messages import error_content
from pragma_kernel.protocol.wire import Message

log = logging.getLogger(__name__)

INTERRUPTED_TRACEBACK = ["\x1b[0;31mKeyboardInterrupt\x1b[0m: "]


class Outcome(NamedTuple):
    """What running a cell produced: status and, on error, what the user sees."""

    status: str = "ok"
    ename: str = ""
    evalue: str = ""
    traceback: list[str] = []  # noqa: RUF012 - never mutated


def interrupted() -> Outcome:
    return Outcome("error", "KeyboardInterrupt", "", list(INTERRUPTED_TRACEBACK))


def failure(error: BaseException) -> Outcome:
    """An unexpected exception (a bug of the engine, a shell that cannot load) as the user's
    error: its whole traceback, last line ``ename: evalue``."""
    lines = "".join(traceback.format_exception(error)).rstrip("\n").split("\n")
    return Outcome("error", type(error).__name__, str(error), lines)


def notebook_name_from_env() -> str | None:
    """Jupyter Server passes the notebook's path as JPY_SESSION_NAME; its stem names jobs."""
    path = os.environ.get("JPY_SESSION_NAME")
    if not path:
        return None
    name = os.path.basename(path)
    return name.removesuffix(".ipynb") or None


class ConcurrentPragmaCell(Exception):
    """A pragma cell sent to a subshell while another pragma cell runs."""


class _ShellState(threading.local):
    """What each shell (the main one, each subshell: one thread each) keeps to itself."""

    abort_pending = False  #: set after a failed cell with stop_on_error
    pending_history: tuple[int, str, CellContext] | None = None


class Executor:
    """Runs execute requests, of the main shell and of the subshells at the same time: the
    execution counter, the history, the namespace and the pragma engine are shared (as in
    ipykernel 7), pragma cells take turns (:meth:`_engine_turn`)."""

    def __init__(self, io: KernelIO, history: HistoryStore, gate: InterruptGate):
        self.io = io
        self.history = history
        self.gate = gate
        self.execution_count = 0
        self.notebook_name = notebook_name_from_env()
        self._shell = None
        self._engine = None
        self._engine_missing = False
        self._state = _ShellState()
        self._count_lock = threading.Lock()
        self._loading = threading.Lock()  #: the shell and the engine are made once
        #: held while a pragma cell runs: the engine runs one cell at a time
        self._engine_busy = threading.Lock()
        self._engine_cell: CellContext | None = None  #: the pragma cell holding it
        #: called on the thread of each cell before it runs (the debugger traces that thread)
        self.before_cell: Callable[[], None] | None = None

    @property
    def abort_pending(self) -> bool:
        """This shell's last cell failed with stop_on_error: its queued executes are aborted."""
        return self._state.abort_pending

    @abort_pending.setter
    def abort_pending(self, value: bool) -> None:
        self._state.abort_pending = value

    # -- lazily loaded collaborators ---------------------------------------------------------
    @property
    def shell(self):
        if self._shell is None:
            from pragma_kernel.kernel.shell import PythonShell

            with self._loading:
                if self._shell is None:
                    self._shell = PythonShell()
        return self._shell

    @property
    def engine(self):
        """The pragma engine if it is loaded (it never is before the first pragma cell)."""
        return self._engine

    def engine_for(self, code: str):
        """The engine when it takes this cell (loading it on the first pragma cell), else None."""
        if self._engine is not None:
            return self._engine if is_pragma_cell(code) or self._engine.claims(code) else None
        if self._engine_missing or not is_pragma_cell(code):
            return None
        try:
            from pragma_kernel.pragmas import create_engine

            with self._loading:
                if self._engine is None:
                    self._engine = create_engine()
        except ImportError as error:
            if error.name != "pragma_kernel.pragmas.engine":
                raise
            # Until the engine exists a pragma cell is an ordinary cell (pragmas are comments).
            log.warning("no pragma engine (%s): pragma cells run as Python", error)
            self._engine_missing = True
            return None
        return self._engine

    # -- execute_request ---------------------------------------------------------------------
    def execute(self, request: Message) -> dict[str, Any]:
        with self.gate.request():
            return self._execute(request)

    def _execute(self, request: Message) -> dict[str, Any]:
        content = request.content
        code = content.get("code", "")
        if not isinstance(code, str):
            raise TypeError("execute_request content.code must be a string")
        silent = bool(content.get("silent", False))
        store_history = bool(content.get("store_history", not silent)) and not silent
        with self._count_lock:
            if store_history:
                self.execution_count += 1
            count = self.execution_count
        context = CellContext(
            io=self.io,
            request=request,
            execution_count=count,
            namespace={},
            silent=silent,
            allow_stdin=bool(content.get("allow_stdin", True)),
            notebook_name=self.notebook_name,
        )
        activate(context)
        if not silent:
            self.io.publisher.publish(
                "execute_input", {"code": code, "execution_count": context.execution_count},
                request.header,
            )
        outcome = self._run(code, context, store_history)
        context.flush()
        if store_history:
            self._state.pending_history = (context.execution_count, code, context)
        return self._reply(outcome, context, content)

    def _run(self, code: str, context: CellContext, store_history: bool) -> Outcome:
        # Armed from the start: loading the shell or the engine is part of running this cell,
        # and an interrupt sent meanwhile must not be lost.
        try:
            with self.gate.user_code():
                if self.before_cell is not None:
                    self.before_cell()
                engine = self.engine_for(code)
                shell = self.shell
                context.namespace = shell.namespace
                if engine is not None:
                    if store_history:  # the shell records the cells it runs itself
                        self._record_input(shell.namespace, context.execution_count, code)
                    with self._engine_turn(engine, code, context):
                        return self._run_with_engine(engine, code, context)
                result = shell.execute(code, context, store_history=store_history)
            return Outcome(result.status, result.ename, result.evalue, list(result.traceback))
        except KeyboardInterrupt:
            return interrupted()
        except ConcurrentPragmaCell as busy:
            return Outcome("error", "ConcurrentPragmaCell", str(busy),
                           [f"\x1b[0;31mConcurrentPragmaCell\x1b[0m: {busy}"])
        except SystemExit as exit_:  # the shell turns it into an error; never end the kernel
            return Outcome("error", "SystemExit", str(exit_.code), [f"SystemExit: {exit_.code}"])
        except Exception as error:  # noqa: BLE001 - loading the shell/engine failed: shown
            return failure(error)

    @contextmanager
    def _engine_turn(self, engine, code: str, context: CellContext) -> Iterator[None]:
        """The engine runs one pragma cell at a time. The main shell waits for its turn
        (interruptibly); a subshell does not wait but refuses the cell, unless the engine says
        the cell only reads its state (``runs_alongside``: ``#%list_submitted_jobs()``), which
        then runs alongside the one running (a job being waited for, typically)."""
        if in_subshell():
            alongside = getattr(engine, "runs_alongside", None)
            if alongside is not None and alongside(code):
                yield
                return
            if not self._engine_busy.acquire(blocking=False):
                running = self._engine_cell
                where = f" ({running.cell_label})" if running is not None else ""
                raise ConcurrentPragmaCell(
                    f"another pragma cell is running{where}; a subshell runs a pragma cell only "
                    "when no other one runs, except those that only read the jobs' state (such "
                    "as #%list_submitted_jobs()). Run it again when that cell has finished.")
        else:
            self._engine_busy.acquire()
        self._engine_cell = context
        try:
            yield
        finally:
            self._engine_cell = None
            self._engine_busy.release()

    @staticmethod
    def _run_with_engine(engine, code: str, context: CellContext) -> Outcome:
        from pragma_kernel.kernel.cell_sources import cells
        from pragma_kernel.kernel.seam import CellError

        cells.remember_engine_cell(context.cell_label, code)

        try:
            engine.run_cell(code, context)
        except CellError as error:
            return Outcome("error", error.ename, error.evalue, list(error.traceback))
        except KeyboardInterrupt:
            raise
        except Exception as error:  # noqa: BLE001 - an engine bug, shown as a traceback
            return failure(error)
        return Outcome()

    @staticmethod
    def _record_input(namespace: dict[str, Any], count: int, code: str) -> None:
        """IPython's input history names: In[n], _i, _ii, _iii, _i<n>."""
        inputs = namespace.setdefault("In", [""])
        while len(inputs) <= count:
            inputs.append("")
        inputs[count] = code
        namespace["_iii"] = namespace.get("_ii", "")
        namespace["_ii"] = namespace.get("_i", "")
        namespace["_i"] = code
        namespace[f"_i{count}"] = code

    def _reply(self, outcome: Outcome, context: CellContext, content: dict) -> dict[str, Any]:
        reply: dict[str, Any] = {"status": outcome.status, "execution_count": context.execution_count}
        if outcome.status == "ok":
            reply["payload"] = context.payload
            reply["user_expressions"] = self._user_expressions(content.get("user_expressions"))
            return reply
        if not context.silent:
            context.io.publisher.publish(
                "error",
                {"ename": outcome.ename, "evalue": outcome.evalue, "traceback": outcome.traceback},
                context.parent_header,
            )
            if content.get("stop_on_error", True):
                self.abort_pending = True
        reply.update(error_content(outcome.ename, outcome.evalue, outcome.traceback))
        reply["payload"] = []
        reply["user_expressions"] = {}
        return reply

    def _user_expressions(self, expressions: Any) -> dict[str, Any]:
        if not expressions or not isinstance(expressions, dict):
            return {}
        try:
            with self.gate.user_code():
                return self.shell.user_expressions({str(k): str(v) for k, v in expressions.items()})
        except KeyboardInterrupt:
            return {}

    def aborted_reply(self) -> dict[str, Any]:
        """The reply to an execute_request dropped because an earlier cell failed."""
        return {"status": "aborted", "execution_count": self.execution_count}

    def write_pending_history(self) -> None:
        """Store the last cell; called after its idle, so the round trip never waits on disk."""
        pending = self._state.pending_history
        if pending is None:
            return
        count, code, context = pending
        self._state.pending_history = None
        self.history.store(count, code, context.result_text)

    def shutdown_engine(self, reason: str = "kernel shutting down") -> None:
        if self._engine is not None:
            self._engine.shutdown(reason)
