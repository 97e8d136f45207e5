"""Message construction: headers, replies, IOPub messages. The protocol version lives here only."""

from __future__ import annotations

import getpass
import itertools
import os
import uuid
from datetime import datetime, timezone
from typing import Any

from pragma_kernel.protocol.wire import Message

#: The messaging-spec version this kernel implements and puts in every header: 5.5 because IOPub
#: is an XPUB that sends iopub_welcome (JEP 65) and kernel_info is answered on control; the
#: optional features of 5.5 (debugger, subshells) are not claimed in supported_features.
PROTOCOL_VERSION = "5.5"


def utc_timestamp() -> str:
    """ISO-8601 with timezone, as jupyter_client expects (naive dates raise warnings there)."""
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (containers)
        return os.environ.get("USER", "kernel")


class MessageFactory:
    """Builds the kernel's outgoing messages; one per kernel process (its ``session`` id)."""

    def __init__(self, session: str | None = None, username: str | None = None):
        self.session = session or uuid.uuid4().hex
        self.username = username or _username()
        # msg_id = session + counter, as jupyter_client's Session does: unique without a
        # random draw per message (next() on itertools.count is atomic under the GIL)
        self._counter = itertools.count(1)

    def header(self, msg_type: str) -> dict[str, Any]:
        return {
            "msg_id": f"{self.session}_{os.getpid()}_{next(self._counter)}",
            "msg_type": msg_type,
            "session": self.session,
            "username": self.username,
            "date": utc_timestamp(),
            "version": PROTOCOL_VERSION,
        }

    def reply(
        self,
        request: Message,
        content: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        buffers: list[bytes] | None = None,
    ) -> Message:
        """``<type>_reply`` to ``request``, addressed to the request's routing identities."""
        reply_type = request.msg_type.removesuffix("_request") + "_reply"
        return Message(
            header=self.header(reply_type),
            parent_header=request.header,
            metadata=metadata or {},
            content=content,
            buffers=buffers or [],
            idents=request.idents,
        )

    def message(
        self,
        msg_type: str,
        content: dict[str, Any],
        parent_header: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[bytes] | None = None,
        idents: list[bytes] | None = None,
    ) -> Message:
        return Message(
            header=self.header(msg_type),
            parent_header=parent_header or {},
            metadata=metadata or {},
            content=content,
            buffers=buffers or [],
            idents=idents or [],
        )

    def iopub(
        self,
        msg_type: str,
        content: dict[str, Any],
        parent_header: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[bytes] | None = None,
    ) -> Message:
        """An IOPub message with its one informational topic frame (``kernel.<session>.<type>``)."""
        topic = f"kernel.{self.session}.{msg_type}".encode()
        return self.message(msg_type, content, parent_header, metadata, buffers, [topic])


def error_content(ename: str, evalue: str, traceback: list[str]) -> dict[str, Any]:
    return {"status": "error", "ename": ename, "evalue": evalue, "traceback": traceback}
