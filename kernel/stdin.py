"""input() and getpass() through the stdin channel.

The kernel sends ``input_request`` on its stdin ROUTER to the identities of the execute request
(the client's stdin DEALER shares its shell identity) and waits for the signed ``input_reply``.

A thread of its own owns the stdin socket and reads it all the time: a reply while an
``input()`` waits is handed to it; anything else (no ``input()`` pending, not a valid
``input_reply``) is discarded as it arrives, so no peer can park data in the kernel. The main
thread hands its ``input_request`` to that thread through an in-process pipe and waits on a
queue, which SIGINT interrupts with KeyboardInterrupt.
"""

from __future__ import annotations

import builtins
import getpass
import itertools
import logging
import queue
import threading
from contextlib import AbstractContextManager, nullcontext

import zmq
from pragma_kernel.protocol.messages import MessageFactory
from pragma_kernel.protocol.wire import (
    DigestHistory,
    InvalidMessage,
    Message,
    Signer,
    deserialize,
    serialize,
)

log = logging.getLogger(__name__)

_channel_numbers = itertools.count(1)


class StdinNotImplementedError(NotImplementedError):
    """input() in a request whose frontend cannot answer (allow_stdin=False): the class of
    ``IPython.core.error`` under the same name, for when IPython is not installed."""


def stdin_not_implemented(function: str) -> NotImplementedError:
    """The error ipykernel raises when ``function`` ("raw_input", "getpass") needs a frontend
    that cannot answer: IPython's ``StdinNotImplementedError`` when IPython is installed, as
    library code catches that class (imported only now, on this rare path), else ours. Both
    are ``NotImplementedError`` subclasses, with ipykernel's message."""
    message = f"{function} was called, but this frontend does not support input requests."
    try:
        from IPython.core.error import StdinNotImplementedError as error_class
    except ImportError:
        error_class = StdinNotImplementedError
    return error_class(message)


class StdinChannel:
    def __init__(self, socket: zmq.Socket, factory: MessageFactory, signer: Signer):
        self._socket = socket
        self._factory = factory
        self._signer = signer
        self._history = DigestHistory()
        self._lock = threading.Lock()  # one pending input_request at a time
        self._replies: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._waiting = False  #: an input() waits: the next valid input_reply is its answer
        self.discarded = 0  #: messages dropped because no input() was waiting
        address = f"inproc://pragma-stdin-{next(_channel_numbers)}"
        self._outbox_in = socket.context.socket(zmq.PAIR)  # the reader's end
        self._outbox_in.bind(address)
        self._outbox = socket.context.socket(zmq.PAIR)  # the requesting threads' end
        self._outbox.connect(address)
        #: entered around the send (the kernel sets InterruptGate.uninterrupted)
        self.critical_section: AbstractContextManager = nullcontext()
        self._reader = threading.Thread(target=self._read, name="stdin", daemon=True)
        self._reader.start()

    def request(self, prompt: str, password: bool, parent: Message) -> str:
        """Ask the frontend of ``parent`` for a line; EOFError on Ctrl-D (``\\x04``)."""
        with self._lock:
            message = self._factory.message(
                "input_request",
                {"prompt": str(prompt), "password": bool(password)},
                parent_header=parent.header,
                idents=parent.idents,
            )
            self._drop_stale_replies()
            self._waiting = True
            try:
                with self.critical_section:
                    self._outbox.send_multipart(serialize(message, self._signer))
                value = self._wait_for_reply()
            finally:
                self._waiting = False
        if value == "\x04":
            raise EOFError("end of input (Ctrl-D)")
        return value

    def close(self) -> None:
        """Close the requesting end (the reader closes its sockets when the context ends)."""
        self._outbox.close(linger=0)

    def _drop_stale_replies(self) -> None:
        while True:
            try:
                self._replies.get_nowait()
            except queue.Empty:
                return

    def _wait_for_reply(self) -> str:
        while True:
            # A finite timeout keeps the wait responsive; SIGINT interrupts it anyway.
            try:
                return self._replies.get(timeout=1.0)
            except queue.Empty:
                continue

    # -- the reader thread -----------------------------------------------------------------
    def _read(self) -> None:
        from pragma_kernel.kernel.interrupts import keep_sigint_off_this_thread

        keep_sigint_off_this_thread()
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(self._outbox_in, zmq.POLLIN)
        try:
            while True:
                ready = dict(poller.poll())
                if self._outbox_in in ready:
                    self._socket.send_multipart(self._outbox_in.recv_multipart(copy=False))
                if self._socket in ready:
                    self._receive()
        except zmq.ContextTerminated:
            self._socket.close(linger=1000)
            self._outbox_in.close(linger=0)

    def _receive(self) -> None:
        frames = self._socket.recv_multipart(copy=False)
        if not self._waiting:
            self.discarded += 1
            if str(self.discarded).rstrip("0") == "1":  # the 1st, 10th, 100th...: a bounded log
                log.warning("stdin: %d message(s) arrived while no input() was waiting: "
                            "discarded", self.discarded)
            return
        try:
            reply = deserialize(frames, self._signer, self._history)
        except InvalidMessage as error:
            log.warning("stdin: %s", error)
            return
        if reply.msg_type != "input_reply":
            log.warning("stdin: unexpected %s dropped", reply.msg_type)
            return
        self._replies.put(str(reply.content.get("value", "")))


def _prompt_input(prompt: object = "") -> str:
    from pragma_kernel.kernel.context import current_context

    context = current_context()
    if context is None:  # no request to answer (a thread after every cell): no frontend
        raise stdin_not_implemented("raw_input")
    return context.input(str(prompt), password=False)


def _prompt_getpass(prompt: str = "Password: ", stream: object = None) -> str:
    from pragma_kernel.kernel.context import current_context

    context = current_context()
    if context is None:
        raise stdin_not_implemented("getpass")
    return context.input(prompt, password=True)


def install_input_functions() -> None:
    """Route builtins.input and getpass.getpass through the current request's frontend."""
    builtins.input = _prompt_input
    getpass.getpass = _prompt_getpass
