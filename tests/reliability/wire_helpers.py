"""Raw frames for the reliability tests: signed messages built by hand (jupyter_client's own
packer refuses what these tests must send), and sockets of their own on 127.0.0.1."""

from __future__ import annotations

import json
import time
from pathlib import Path

import zmq
from jupyter_client.session import Session
from pragma_kernel.protocol.wire import DELIMITER


def signed_frames(session: Session, msg_type: str, content: bytes | dict,
                  header: dict | None = None) -> list[bytes]:
    """``[delimiter, signature, header, parent, metadata, content]`` signed with the session's
    key; ``content`` as bytes is sent exactly as given."""
    header = header or session.msg_header(msg_type)
    signed = [json.dumps(header, default=str).encode(), b"{}", b"{}",
              content if isinstance(content, bytes) else json.dumps(content).encode()]
    return [DELIMITER, session.sign(signed), *signed]


def dealer(kc, channel: str) -> zmq.Socket:
    """A DEALER of its own connected to one of the kernel's ports (closed by the caller)."""
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(f"tcp://{kc.ip}:{getattr(kc, channel + '_port')}")
    return socket


def kernel_pid(km) -> int:
    return km.provisioner.process.pid


def resident_mb(pid: int) -> float:
    """The process's resident memory (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def wait_until(condition, timeout: float, what: str, interval: float = 0.05):
    """Poll ``condition`` until it returns something true; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"after {timeout:g} s: {what}")
        time.sleep(interval)
