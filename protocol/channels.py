"""The kernel's sockets: ROUTER shell/control/stdin, XPUB iopub, bound to the connection's address.

Heartbeat lives in :mod:`protocol.heartbeat` (own thread, own context).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import zmq
from pragma_kernel.protocol.connection import ConnectionInfo

SOCKET_TYPES = {"shell": zmq.ROUTER, "control": zmq.ROUTER, "stdin": zmq.ROUTER, "iopub": zmq.XPUB}


class BoundSockets(NamedTuple):
    sockets: dict[str, zmq.Socket]
    ports: dict[str, int]  #: the bound ports (differ from the file's only where it said 0)

    def __getitem__(self, channel: str) -> zmq.Socket:
        return self.sockets[channel]


def bind_socket(socket: zmq.Socket, info: ConnectionInfo, channel: str) -> int:
    """Bind exactly the connection's endpoint (never a wildcard); port 0 picks a free port."""
    if info.ip.count(":") > 1:
        socket.setsockopt(zmq.IPV6, 1)
    port = info.port(channel)
    if port == 0 and info.transport == "tcp":
        host = f"[{info.ip}]" if ":" in info.ip else info.ip
        return socket.bind_to_random_port(f"tcp://{host}")
    socket.bind(info.endpoint(channel))
    return port


def open_sockets(
    context: zmq.Context, info: ConnectionInfo, channels: Iterable[str]
) -> BoundSockets:
    """Create and bind the sockets of ``channels`` (shell, control, stdin, iopub)."""
    sockets: dict[str, zmq.Socket] = {}
    ports: dict[str, int] = {}
    for channel in channels:
        socket = context.socket(SOCKET_TYPES[channel])
        socket.setsockopt(zmq.LINGER, 1000)
        if channel == "iopub":
            # Every subscription must be reported (JEP 65), not only the first one to a topic.
            socket.setsockopt(zmq.XPUB_VERBOSE, 1)
            # A subscription takes effect only when the kernel applies it, after reading it,
            # right before its welcome: a message published meanwhile cannot reach the new
            # subscriber ahead of the welcome (JEP 65: the welcome is its first message).
            socket.setsockopt(zmq.XPUB_MANUAL, 1)
            # A slow subscriber must not silently lose interior output chunks: the default
            # 1000-message high-water mark is far below what a chatty cell may publish.
            socket.setsockopt(zmq.SNDHWM, 100_000)
        ports[channel] = bind_socket(socket, info, channel)
        sockets[channel] = socket
    return BoundSockets(sockets, ports)
