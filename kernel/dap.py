"""The Debug Adapter Protocol over TCP, as debugpy's adapter speaks it.

A message is a ``Content-Length: N\\r\\n\\r\\n`` header and N bytes of JSON.
:func:`encode_message` and :class:`MessageReader` are pure (bytes in, messages out);
:class:`DapConnection` is one TCP connection to the adapter with a reader thread: responses go
to the request that waits for them (matched by ``request_seq``), events to a callback.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from pragma_kernel.kernel.threads import ServiceThread

log = logging.getLogger(__name__)

_HEADER = b"Content-Length: "
_SEPARATOR = b"\r\n\r\n"
#: seq numbers of the kernel's own requests, far from the frontend's (which count from 1)
_OWN_SEQ_START = 1 << 30


class DapError(RuntimeError):
    """The adapter did not answer, or the connection is gone."""


def encode_message(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    return _HEADER + str(len(body)).encode("ascii") + _SEPARATOR + body


class MessageReader:
    """Reassembles messages from the chunks a stream delivers."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        """The messages completed by ``chunk``, in order."""
        self._buffer += chunk
        messages = []
        while True:
            start = self._buffer.find(_HEADER)
            separator = self._buffer.find(_SEPARATOR, start + len(_HEADER))
            if start < 0 or separator < 0:
                return messages
            size = int(self._buffer[start + len(_HEADER):separator])
            body_start = separator + len(_SEPARATOR)
            if len(self._buffer) - body_start < size:
                return messages
            messages.append(json.loads(self._buffer[body_start:body_start + size]))
            self._buffer = self._buffer[body_start + size:]


class _Pending:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.response: dict[str, Any] | None = None


class DapConnection:
    """One client connection to a debug adapter; any thread may send requests."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None],
                 reader_setup: Callable[[], None] | None = None):
        self._on_event = on_event
        self._reader_setup = reader_setup
        self._socket: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._pending_lock = threading.Lock()
        self._seq = itertools.count(_OWN_SEQ_START)

    def connect(self, host: str, port: int, timeout: float = 10.0) -> None:
        self._socket = socket.create_connection((host, port), timeout=timeout)
        self._socket.settimeout(None)
        ServiceThread(self._read, "dap-reader", (self._socket,)).start()

    def close(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the adapter
            sock.close()
        self._fail_pending()

    def next_seq(self) -> int:
        return next(self._seq)

    def send(self, request: dict[str, Any]) -> _Pending:
        """Send ``request`` (its ``seq`` set if missing); wait on the result with :meth:`wait`."""
        if self._socket is None:
            raise DapError("not connected to the debug adapter")
        request.setdefault("seq", self.next_seq())
        pending = _Pending()
        with self._pending_lock:
            self._pending[request["seq"]] = pending
        with self._send_lock:
            self._socket.sendall(encode_message(request))
        return pending

    def wait(self, request: dict[str, Any], pending: _Pending, timeout: float) -> dict[str, Any]:
        if not pending.done.wait(timeout):
            with self._pending_lock:
                self._pending.pop(request["seq"], None)
            raise DapError(f"debugpy did not answer {request.get('command')!r} in {timeout:.0f} s")
        if pending.response is None:
            raise DapError("the connection to debugpy was closed")
        return pending.response

    def request(self, request: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        return self.wait(request, self.send(request), timeout)

    def _read(self, sock: socket.socket) -> None:
        if self._reader_setup is not None:
            self._reader_setup()
        reader = MessageReader()
        try:
            while chunk := sock.recv(65536):
                for message in reader.feed(chunk):
                    self._deliver(message)
        except OSError:
            pass  # closed: close() or the adapter went away
        finally:
            self._fail_pending()

    def _deliver(self, message: dict[str, Any]) -> None:
        if message.get("type") == "event":
            try:
                self._on_event(message)
            except Exception:  # a bug in publishing one event must not stop the reader
                log.exception("debug event %r failed", message.get("event"))
            return
        with self._pending_lock:
            pending = self._pending.pop(message.get("request_seq"), None)
        if pending is None:
            log.warning("debugpy answered a request nobody waits for: %s", message)
            return
        pending.response = message
        pending.done.set()

    def _fail_pending(self) -> None:
        with self._pending_lock:
            pending, self._pending = list(self._pending.values()), {}
        for waiting in pending:
            waiting.done.set()
