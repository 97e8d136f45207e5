"""input() and getpass() through the stdin channel.

The kernel sends ``input_request`` on its stdin ROUTER to the identities of the execute request
(the client's stdin DEALER shares its shell identity) and waits for the signed ``input_reply``.
The wait is a zmq poll on the main thread, so SIGINT interrupts it with KeyboardInterrupt.
"""

from __future__ import annotations

import builtins
import getpass
import logging
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
    def __init__(
        self, socket: zmq.Socket, factory: MessageFactory, signer: Signer, history: DigestHistory
    ):
        self._socket = socket
        self._factory = factory
        self._signer = signer
        self._history = history
        self._lock = threading.Lock()  # one pending input_request at a time
        #: entered around the send (the kernel sets InterruptGate.uninterrupted)
        self.critical_section: AbstractContextManager = nullcontext()

    def request(self, prompt: str, password: bool, parent: Message) -> str:
        """Ask the frontend of ``parent`` for a line; EOFError on Ctrl-D (``\\x04``)."""
        with self._lock:
            self._drain_stale_replies()
            message = self._factory.message(
                "input_request",
                {"prompt": str(prompt), "password": bool(password)},
                parent_header=parent.header,
                idents=parent.idents,
            )
            with self.critical_section:
                self._socket.send_multipart(serialize(message, self._signer))
            value = self._wait_for_reply()
        if value == "\x04":
            raise EOFError("end of input (Ctrl-D)")
        return value

    def _drain_stale_replies(self) -> None:
        while True:
            try:
                self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return

    def _wait_for_reply(self) -> str:
        while True:
            # A finite timeout keeps the loop responsive; the poll itself returns on SIGINT.
            if not self._socket.poll(1000):
                continue
            frames = self._socket.recv_multipart(copy=False)
            try:
                reply = deserialize(frames, self._signer, self._history)
            except InvalidMessage as error:
                log.warning("stdin: %s", error)
                continue
            if reply.msg_type != "input_reply":
                log.warning("stdin: unexpected %s dropped", reply.msg_type)
                continue
            return str(reply.content.get("value", ""))


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
