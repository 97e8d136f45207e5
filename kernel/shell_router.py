"""The shell socket, and which thread reads it.

Until the first subshell exists the main thread reads the shell ROUTER itself: no thread, no
hand-off, the round trip of a kernel without subshells is what it always was. The main thread
waits on the socket and on a wake-up pipe together; :meth:`ShellRouter.start_routing` (the
control thread, at the first ``create_subshell_request``) wakes it, takes the socket over under
``_lock`` (held by the main thread whenever it uses the socket) and starts the *router* thread.

From then on the router owns the socket (pyzmq sockets are not thread-safe): it reads every
request, checks it (signature, replay) and hands it to the thread of its ``subshell_id`` (the
main shell's queue when there is none), and it sends every reply, which the shell threads push
to it through an in-process socket. This is ipykernel 7's shell channel thread, started only
when subshells are used.
"""

from __future__ import annotations

import itertools
import logging
import queue
import socket
import threading
from collections.abc import Callable

import zmq
from pragma_kernel.kernel.interrupts import keep_sigint_off_this_thread
from pragma_kernel.kernel.threads import ServiceThread
from pragma_kernel.protocol.wire import Message

log = logging.getLogger(__name__)

_numbers = itertools.count(1)
STOP = [b""]  #: pushed by :meth:`ShellRouter.stop`; a reply always has several frames
STOP_WAIT = 1.0  #: seconds the router has at exit to send the replies queued before it stopped


class ShellRouter:
    def __init__(self, shell: zmq.Socket, parse: Callable[[list[bytes]], Message | None]):
        self._socket = shell
        self._parse = parse
        self._lock = threading.Lock()  #: held by the thread using the socket directly
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._poller = zmq.Poller()
        self._poller.register(shell, zmq.POLLIN)
        self._poller.register(self._wake_reader, zmq.POLLIN)
        self.routing = False
        self._routing_started = threading.Event()
        self._main_requests: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._deliver: Callable[[Message], None] = self.to_main
        self._outbox: zmq.Socket | None = None  #: the shell threads' end (under _send_lock)
        self._outbox_in: zmq.Socket | None = None  #: the router's end
        self._send_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- the main thread ---------------------------------------------------------------------
    def next_request(self) -> Message | None:
        """The main shell's next request (None: invalid frames, dropped)."""
        while not self.routing:
            with self._lock:
                if self.routing:
                    break
                ready = dict(self._poller.poll())
                if self._socket in ready and (frames := self._receive_directly()) is not None:
                    return self._parse(frames)
                if self._wake_reader not in ready:
                    continue
            self._routing_started.wait()  # woken: the router takes the socket over
        return self._main_requests.get()

    def queued_requests(self) -> list[Message]:
        """The main shell's requests waiting now (stop_on_error aborts them)."""
        taken: list[Message | None] = []
        with self._lock:
            if not self.routing:
                while (frames := self._receive_directly()) is not None:
                    taken.append(self._parse(frames))
                return [request for request in taken if request is not None]
        while True:
            try:
                taken.append(self._main_requests.get_nowait())
            except queue.Empty:
                return [request for request in taken if request is not None]

    def _receive_directly(self) -> list[bytes] | None:
        try:
            return self._socket.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return None

    # -- any thread --------------------------------------------------------------------------
    def send(self, frames: list[bytes]) -> None:
        """Send a reply on the shell socket (from any shell thread)."""
        if threading.current_thread() is self._thread:
            self._socket.send_multipart(frames)
            return
        if not self.routing:
            with self._lock:
                if not self.routing:
                    self._socket.send_multipart(frames)
                    return
        with self._send_lock:
            if self._outbox is None:
                log.debug("shell closed: reply dropped")
                return
            self._outbox.send_multipart(frames)

    def to_main(self, request: Message) -> None:
        self._main_requests.put(request)

    # -- the control thread ------------------------------------------------------------------
    def start_routing(self, deliver: Callable[[Message], None]) -> None:
        """Take the socket from the main thread and start the router thread, which hands each
        request to ``deliver`` (once; the router then runs until the kernel exits)."""
        if self.routing:
            return
        context = self._socket.context
        address = f"inproc://pragma-shell-replies-{next(_numbers)}"
        self._outbox_in = context.socket(zmq.PULL)
        self._outbox_in.bind(address)
        self._outbox = context.socket(zmq.PUSH)
        self._outbox.connect(address)
        self._deliver = deliver
        self._wake_writer.send(b"w")
        with self._lock:  # the main thread is out of its poll and will not use the socket
            self.routing = True
            self._thread = ServiceThread(self._route, "shell-router")
            self._thread.start()
        self._routing_started.set()

    # -- exit --------------------------------------------------------------------------------
    def stop(self) -> None:
        """At exit: the router sends what is queued, closes the socket (its last replies leave
        within its linger) and ends. A no-op before routing started."""
        with self._send_lock:
            if self._outbox is None:
                return
            self._outbox.send_multipart(STOP)
            self._outbox.close(linger=1000)
            self._outbox = None
        if self._thread is not None:
            self._thread.join(STOP_WAIT)

    # -- the router thread -------------------------------------------------------------------
    def _route(self) -> None:
        keep_sigint_off_this_thread()
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(self._outbox_in, zmq.POLLIN)
        try:
            while True:
                ready = dict(poller.poll())
                if self._outbox_in in ready and not self._send_replies():
                    break
                if self._socket in ready:
                    self._hand_out_requests()
        except zmq.ContextTerminated:
            pass
        self._socket.close(linger=1000)
        self._outbox_in.close(linger=0)

    def _send_replies(self) -> bool:
        """Send the replies pushed so far; False once the stop marker came."""
        while True:
            try:
                frames = self._outbox_in.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return True
            if frames == STOP:
                return False
            self._socket.send_multipart(frames)

    def _hand_out_requests(self) -> None:
        while True:
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            request = self._parse(frames)
            if request is None:
                continue
            try:
                self._deliver(request)
            except Exception:  # a kernel bug must not stop the shell channel
                log.exception("shell: routing %s failed", request.msg_type)
