"""Shells serving requests one at a time: the main shell, and the subshells of JEP 91.

A subshell is a thread of its own with its own queue of shell requests: those whose header
carries its ``subshell_id`` (:mod:`kernel.shell_router` hands them over). It runs them like the
main shell does (busy, handler, flush, reply, idle; stop_on_error aborts its own queue only), in
the same namespace, with the same execution counter and history, while the main shell may be
busy. Output goes to the request that made it: each subshell thread has its own current request
(:func:`kernel.context.current_context`).

What a subshell does not do: SIGINT only reaches the main thread, so ``interrupt_request``
stops the main shell's cell, not a subshell's (as in ipykernel 7); a pragma cell runs in a
subshell only when no other pragma cell runs, unless it only reads the jobs' state
(:meth:`kernel.execution.Executor._engine_turn`).
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from pragma_kernel.kernel.context import subshell_thread
from pragma_kernel.kernel.dispatch import NO_REPLY, Channel
from pragma_kernel.kernel.interrupts import keep_sigint_off_this_thread
from pragma_kernel.protocol.messages import error_content
from pragma_kernel.protocol.wire import Message

if TYPE_CHECKING:
    from pragma_kernel.kernel.app import KernelApp
    from pragma_kernel.kernel.execution import Executor

log = logging.getLogger(__name__)


class UnknownSubshell(KeyError):
    def __init__(self, subshell_id: object):
        super().__init__(subshell_id)
        self.subshell_id = subshell_id

    def __str__(self) -> str:
        return (f"no subshell {self.subshell_id!r} in this kernel (never created, or deleted): "
                "list_subshell_request lists them")

    def reply(self) -> dict:
        return error_content("UnknownSubshell", str(self), [])


class ShellLoop:
    """One shell's requests, one at a time, on one thread, with stop_on_error: after a failed
    cell, the execute requests queued before its reply left are answered ``aborted``."""

    def __init__(self, channel: Channel, executor: Executor,
                 queued_requests: Callable[[], list[Message]]):
        self.channel = channel
        self._executor = executor
        self._queued_requests = queued_requests
        self._set_aside: list[Message] = []
        channel.before_reply = self._set_aside_queued_requests

    def serve(self, request: Message) -> None:
        self.channel.dispatch(request)
        self._executor.write_pending_history()
        if self._executor.abort_pending:
            self._abort_queued_executes()

    def _set_aside_queued_requests(self, request: Message) -> None:
        """After a failed cell with stop_on_error, before its reply leaves: take what is queued
        now. Those requests were all sent before the frontend could know of the error."""
        if self._executor.abort_pending:
            self._set_aside.extend(self._queued_requests())

    def _abort_queued_executes(self) -> None:
        """Each execute set aside is aborted (busy, aborted reply, idle); other requests set
        aside are served normally."""
        self._executor.abort_pending = False
        queued, self._set_aside = self._set_aside, []
        for request in queued:
            if request.msg_type == "execute_request":
                self.channel.dispatch(request, lambda _request: self._executor.aborted_reply())
            else:
                self.channel.dispatch(request)
                self._executor.write_pending_history()


class Subshell:
    """One subshell: its thread serves the requests put in its queue until it is deleted."""

    def __init__(self, subshell_id: str, app: KernelApp):
        self.id = subshell_id
        self._app = app
        self._requests: queue.SimpleQueue[Message | None] = queue.SimpleQueue()
        channel = Channel(f"subshell {subshell_id}", None, app.shell.handlers, app,
                          send=app.router.send)
        self._loop = ShellLoop(channel, app.executor, self._queued_requests)
        # Not a ServiceThread: it runs user code, which the debugger must see.
        self._thread = threading.Thread(target=self._serve, name=f"subshell-{subshell_id}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, request: Message) -> None:
        self._requests.put(request)

    def stop(self) -> None:
        """End the thread once the requests queued before are answered (not waited for)."""
        self._requests.put(None)

    def _queued_requests(self) -> list[Message]:
        taken: list[Message] = []
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                return taken
            if request is None:  # deleted: end after these
                self._requests.put(None)
                return taken
            taken.append(request)

    def _serve(self) -> None:
        keep_sigint_off_this_thread()
        with subshell_thread():
            while (request := self._requests.get()) is not None:
                try:
                    self._loop.serve(request)
                except Exception:  # a kernel bug must not end the subshell: log it, go on
                    log.exception("subshell %s: request failed", self.id)
                if self._app.exit_requested:
                    self._app.exit()


class Subshells:
    """The subshells of the kernel: made, listed and deleted on the control thread; their
    requests routed on the shell router's thread."""

    def __init__(self, app: KernelApp):
        self._app = app
        self._lock = threading.Lock()
        self._subshells: dict[str, Subshell] = {}
        #: answers requests for an unknown subshell (on the router's thread)
        self._refusals = Channel("shell router", None, {}, app, send=app.router.send)

    def create(self) -> str:
        subshell = Subshell(str(uuid.uuid4()), self._app)
        with self._lock:
            self._subshells[subshell.id] = subshell
        subshell.start()
        self._app.router.start_routing(self.deliver)
        return subshell.id

    def delete(self, subshell_id: object) -> None:
        with self._lock:
            subshell = self._subshells.pop(subshell_id, None) if isinstance(
                subshell_id, str) else None
        if subshell is None:
            raise UnknownSubshell(subshell_id)
        subshell.stop()

    def ids(self) -> list[str]:
        """The subshells' ids, oldest first."""
        with self._lock:
            return list(self._subshells)

    def deliver(self, request: Message) -> None:
        """To the main shell, or the subshell the header names (the router's thread)."""
        subshell_id = request.header.get("subshell_id")
        if subshell_id is None:
            self._app.router.to_main(request)
            return
        with self._lock:
            subshell = self._subshells.get(subshell_id) if isinstance(subshell_id, str) else None
        if subshell is not None:
            subshell.put(request)
            return
        log.warning("%s for unknown subshell %r refused", request.msg_type, subshell_id)
        refusal = None if request.msg_type in NO_REPLY else UnknownSubshell(subshell_id).reply()
        self._refusals.dispatch(request, lambda _request: refusal)
