"""IOPub: one thread owns the XPUB socket; every other thread hands it signed frames.

pyzmq sockets are not thread-safe, so publishers (the shell loop, the control thread, stream
flushes, user threads printing) serialize and sign in their own thread and push the frames
through one lock-guarded inproc PUSH socket. The IOPub thread forwards them to the XPUB in the
order they were pushed, answers each new subscription with ``iopub_welcome`` (JEP 65), and runs
the deferred flushes of batched stream output (:mod:`kernel.iostream`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any, Protocol

import zmq

from protocol.messages import MessageFactory
from protocol.wire import Message, Signer, serialize

log = logging.getLogger(__name__)

_WAKE = b""  # a one-frame message on the pipe: "look at the flush schedule again"
_STOP = b"stop"


class Flushable(Protocol):
    def flush(self) -> None: ...


class IOPubPublisher:
    def __init__(
        self, context: zmq.Context, xpub: zmq.Socket, factory: MessageFactory, signer: Signer
    ):
        self.factory = factory
        self.signer = signer
        self._xpub = xpub
        address = f"inproc://iopub-{uuid.uuid4().hex}"
        self._pull = context.socket(zmq.PULL)
        self._pull.setsockopt(zmq.RCVHWM, 0)
        self._pull.bind(address)
        self._push = context.socket(zmq.PUSH)
        self._push.setsockopt(zmq.SNDHWM, 0)  # never drop or block on a burst of output
        self._push.connect(address)
        self._push_lock = threading.Lock()
        self._schedule: dict[Flushable, float] = {}
        self._schedule_lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="iopub", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # -- any thread ------------------------------------------------------------------------
    def send(self, message: Message) -> None:
        frames = serialize(message, self.signer)
        with self._push_lock:
            self._push.send_multipart(frames)

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
        """Have the IOPub thread call ``target.flush()`` in ``delay`` seconds (once)."""
        with self._schedule_lock:
            if target in self._schedule:
                return
            self._schedule[target] = time.monotonic() + delay
        with self._push_lock:
            self._push.send(_WAKE)

    def close(self, timeout: float = 2.0) -> None:
        """Forward everything already pushed, then stop the thread (the XPUB stays open)."""
        if not self._thread.is_alive():
            return
        with self._push_lock:
            self._push.send(_STOP)
            self._thread.join(timeout)
            self._push.close(linger=0)

    # -- the IOPub thread --------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._pull.close(linger=0)
            self._xpub.close(linger=1000)

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self._pull, zmq.POLLIN)
        poller.register(self._xpub, zmq.POLLIN)
        while True:
            events = dict(poller.poll(self._poll_timeout_ms()))
            if self._xpub in events:
                self._answer_subscriptions()
            if self._pull in events and not self._forward_pushed():
                return
            self._run_due_flushes()

    def _poll_timeout_ms(self) -> int | None:
        with self._schedule_lock:
            if not self._schedule:
                return None
            soonest = min(self._schedule.values())
        return max(0, int((soonest - time.monotonic()) * 1000) + 1)

    def _forward_pushed(self) -> bool:
        """Forward every frame set waiting on the pipe; False once the stop marker came."""
        while True:
            try:
                frames = self._pull.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return True
            if len(frames) == 1:
                if frames[0].bytes == _STOP:
                    return False
                continue  # _WAKE: the schedule is re-read by the loop
            self._xpub.send_multipart(frames)

    def _answer_subscriptions(self) -> None:
        while True:
            try:
                event = self._xpub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if event[:1] != b"\x01":
                continue  # unsubscribe
            try:
                topic = event[1:].decode("utf-8")
            except UnicodeDecodeError:
                continue
            welcome = self.factory.message("iopub_welcome", {"subscription": topic})
            welcome.idents = [topic.encode()] if topic else []
            self._xpub.send_multipart(serialize(welcome, self.signer))

    def _run_due_flushes(self) -> None:
        now = time.monotonic()
        with self._schedule_lock:
            due = [target for target, when in self._schedule.items() if when <= now]
            for target in due:
                del self._schedule[target]
        for target in due:
            try:
                target.flush()
            except Exception:  # a broken stream must not stop IOPub; the error is logged
                log.exception("deferred flush of %r failed", target)
