"""The heartbeat: raw frames echoed back by ``zmq.proxy`` on its own thread and own context.

The proxy loop runs in C without the GIL, so pings are answered while a cell holds the GIL; a
separate context keeps it independent of the kernel's other sockets (ipykernel does the same).
"""

from __future__ import annotations

import errno
import logging
import signal
import threading

import zmq
from pragma_kernel.protocol.channels import bind_socket
from pragma_kernel.protocol.connection import ConnectionInfo

log = logging.getLogger(__name__)


class Heartbeat(threading.Thread):
    def __init__(self, info: ConnectionInfo):
        super().__init__(name="heartbeat", daemon=True)
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.port = bind_socket(self.socket, info, "hb")

    def run(self) -> None:
        # SIGINT belongs to the kernel's main thread (interrupting a cell); see
        # kernel.interrupts.keep_sigint_off_this_thread
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            while True:
                try:
                    zmq.proxy(self.socket, self.socket)
                except zmq.ZMQError as error:
                    if error.errno == errno.EINTR:
                        continue
                    if error.errno not in (zmq.ETERM, zmq.ENOTSOCK):
                        log.error("heartbeat stopped: %s", error)
                    return
        finally:
            self.socket.close(linger=0)

    def stop(self) -> None:
        """End the proxy: terminating the heartbeat's own context makes it return ETERM."""
        self.context.term()
