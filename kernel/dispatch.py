"""Dispatch by table, with the lifecycle every frontend relies on, on shell and on control::

    busy -> handler -> flush stdout/stderr -> reply -> idle

Both statuses and the reply carry the request's header as parent. A handler returns the reply
content, or None for requests without a reply (comm messages). Unknown types get busy/idle and
no reply. A handler that fails is a kernel bug: it is logged and answered with an error reply,
so the frontend never waits forever.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import zmq
from pragma_kernel.protocol.messages import MessageFactory, error_content
from pragma_kernel.protocol.wire import (
    DigestHistory,
    InvalidMessage,
    Message,
    Signer,
    deserialize,
    serialize,
)

if TYPE_CHECKING:
    from pragma_kernel.kernel.publisher import IOPubPublisher

log = logging.getLogger(__name__)

Handler = Callable[[Message], "dict[str, Any] | None"]

#: requests that have no reply (the spec: comm messages are one-way)
NO_REPLY = frozenset({"comm_open", "comm_msg", "comm_close"})


class ChannelOwner(Protocol):
    """What a channel needs from the kernel (KernelApp provides it)."""

    signer: Signer
    factory: MessageFactory
    publisher: IOPubPublisher

    def flush_output(self) -> None: ...


class Channel:
    """One ROUTER socket (shell or control) with its handler table; used by one thread only.

    A subshell is a channel of its own without a socket: its requests come from the shell
    router and its replies leave through ``send`` (:mod:`kernel.shell_router`)."""

    def __init__(
        self,
        name: str,
        socket: zmq.Socket | None,
        handlers: dict[str, Handler],
        kernel: ChannelOwner,
        send: Callable[[list[bytes]], None] | None = None,
    ):
        self.name = name
        self.socket = socket
        self.handlers = handlers
        self._kernel = kernel
        self._send = send if send is not None else socket.send_multipart
        self.digests = DigestHistory()  #: this channel's accepted signatures (replays)
        #: called after the handler, before its reply leaves (see KernelApp: stop_on_error)
        self.before_reply: Callable[[Message], None] | None = None

    def receive(self, flags: int = 0) -> Message | None:
        """The next valid request, or None when the frames were invalid (dropped, logged)."""
        frames = self.socket.recv_multipart(flags)
        return self.parse(frames)

    def parse(self, frames: list[bytes]) -> Message | None:
        try:
            return deserialize(frames, self._kernel.signer, self.digests)
        except InvalidMessage as error:
            log.warning("%s: invalid message dropped: %s", self.name, error)
            return None

    def dispatch(self, request: Message, handler: Handler | None = None) -> None:
        publisher = self._kernel.publisher
        publisher.status("busy", request.header)
        try:
            handler = handler or self.handlers.get(request.msg_type)
            if handler is None:
                log.warning("%s: unknown message type %r ignored", self.name, request.msg_type)
                return
            content = self._run(handler, request)
            self._kernel.flush_output()
            if self.before_reply is not None:
                self.before_reply(request)
            if content is not None:
                self.send_reply(request, content)
        finally:
            publisher.status("idle", request.header)

    def _run(self, handler: Handler, request: Message) -> dict[str, Any] | None:
        try:
            return handler(request)
        except Exception as error:  # a kernel bug or a malformed request: answer, keep serving
            log.exception("%s: %s failed", self.name, request.msg_type)
            if request.msg_type in NO_REPLY:
                return None
            lines = traceback.format_exception(error)
            return error_content(type(error).__name__, str(error), lines)

    def send_reply(self, request: Message, content: dict[str, Any]) -> None:
        reply = self._kernel.factory.reply(request, content)
        self._send(serialize(reply, self._kernel.signer))
