"""IOPub: every thread publishes straight to the XPUB socket, one at a time under a lock.

pyzmq sockets are not thread-safe, but a socket may be used by several threads one after the
other (the lock orders them and gives the memory barrier). Sending directly keeps a request's
messages on the thread that made them: no hand-off to another thread, no GIL ping-pong per frame.

A small watcher thread does what no publisher can do while the kernel is idle:

- answer each new subscription with ``iopub_welcome`` (JEP 65). It waits, without the GIL and
  without touching the socket, on the socket's ``ZMQ_FD``; that descriptor is edge-triggered, so
  every send also checks ``ZMQ_EVENTS`` and answers subscriptions that arrived meanwhile;
- run the deferred flushes of batched stream output (:mod:`kernel.iostream`); a write to a
  socketpair wakes it when a new flush is scheduled.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

import zmq
from pragma_kernel.kernel.interrupts import keep_sigint_off_this_thread
from pragma_kernel.kernel.threads import ServiceThread
from pragma_kernel.protocol.messages import MessageFactory
from pragma_kernel.protocol.wire import Message, Signer, serialize

log = logging.getLogger(__name__)


class Flushable(Protocol):
    def flush(self) -> None: ...


class IOPubPublisher:
    def __init__(self, xpub: zmq.Socket, factory: MessageFactory, signer: Signer):
        self.factory = factory
        self.signer = signer
        self._xpub = xpub
        self._lock = threading.Lock()
        #: entered around every send (the kernel sets InterruptGate.uninterrupted)
        self.critical_section: AbstractContextManager = nullcontext()
        self._closed = False
        self._schedule: dict[Flushable, float] = {}
        self._schedule_lock = threading.Lock()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._thread = ServiceThread(self._watch, "iopub")

    def start(self) -> None:
        self._thread.start()

    # -- any thread ------------------------------------------------------------------------
    def send(self, message: Message) -> None:
        frames = serialize(message, self.signer)
        with self.critical_section, self._lock:
            if self._closed:
                log.debug("IOPub closed: %s dropped", message.msg_type)
                return
            # Welcome subscribers that arrived meanwhile first: JEP 65 promises the welcome is
            # a new subscriber's first message. Checking ZMQ_EVENTS also re-arms the edge-
            # triggered ZMQ_FD the watcher waits on.
            if self._xpub.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                self._answer_subscriptions()
            self._xpub.send_multipart(frames)
            if self._xpub.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                self._answer_subscriptions()

    def publish(
        self,
        msg_type: str,
        content: dict[str, Any],
        parent_header: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[bytes] | None = None,
    ) -> None:
        self.send(self.factory.iopub(msg_type, content, parent_header, metadata, buffers))

    def status(self, state: str, parent_header: dict[str, Any] | None = None) -> None:
        self.publish("status", {"execution_state": state}, parent_header)

    def flush_later(self, target: Flushable, delay: float) -> None:
        """Have the watcher call ``target.flush()`` in ``delay`` seconds (once)."""
        with self._schedule_lock:
            if target in self._schedule:
                return
            self._schedule[target] = time.monotonic() + delay
        self._wake_writer.send(b"w")

    def close(self) -> None:
        """Close the XPUB (its pending messages leave within its linger); later sends are
        dropped. Deferred flushes are run first so no batched text is lost."""
        self._run_due_flushes(everything=True)
        with self._lock:
            self._closed = True
            self._xpub.close(linger=1000)
        self._wake_writer.send(b"w")

    # -- the watcher thread ------------------------------------------------------------------
    def _watch(self) -> None:
        keep_sigint_off_this_thread()
        xpub_fd = self._xpub.getsockopt(zmq.FD)
        while not self._closed:
            try:
                readable, _, _ = select.select(
                    [xpub_fd, self._wake_reader], [], [], self._next_flush_in()
                )
            except (OSError, ValueError):
                if self._closed:  # the descriptor went away with the socket at exit
                    return
                raise
            if self._wake_reader in readable:
                self._drain_wakes()
            if xpub_fd in readable:
                with self._lock:
                    if self._closed:
                        return
                    if self._xpub.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                        self._answer_subscriptions()
            self._run_due_flushes()

    def _next_flush_in(self) -> float | None:
        with self._schedule_lock:
            if not self._schedule:
                return None
            soonest = min(self._schedule.values())
        return max(0.0, soonest - time.monotonic())

    def _drain_wakes(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except BlockingIOError:
            return

    def _answer_subscriptions(self) -> None:
        """Welcome every new subscriber (the lock is held)."""
        while True:
            try:
                event = self._xpub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if event[:1] != b"\x01":
                if event[:1] == b"\x00":  # unsubscribe (manual mode: applied by us)
                    self._xpub.setsockopt(zmq.UNSUBSCRIBE, event[1:])
                continue
            self._xpub.setsockopt(zmq.SUBSCRIBE, event[1:])  # from now on it gets messages
            try:
                topic = event[1:].decode("utf-8")
            except UnicodeDecodeError:
                continue
            welcome = self.factory.message("iopub_welcome", {"subscription": topic})
            welcome.idents = [topic.encode()] if topic else []
            self._xpub.send_multipart(serialize(welcome, self.signer))

    def _run_due_flushes(self, everything: bool = False) -> None:
        now = time.monotonic()
        with self._schedule_lock:
            due = [t for t, when in self._schedule.items() if everything or when <= now]
            for target in due:
                del self._schedule[target]
        for target in due:
            try:
                target.flush()
            except Exception:  # a broken stream must not stop IOPub; the error is logged
                log.exception("deferred flush of %r failed", target)
