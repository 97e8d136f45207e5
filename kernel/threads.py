"""The kernel's own threads, as opposed to the threads that run the user's code."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class ServiceThread(threading.Thread):
    """A daemon thread of the kernel's machinery (control, IOPub, the debug adapter's reader).

    debugpy (pydevd) reads the two class attributes below: it neither traces nor suspends such a
    thread, so the control channel keeps answering the debugger while a cell is stopped at a
    breakpoint, and the kernel's own frames never show in the debugger.
    """

    pydev_do_not_trace = True
    is_pydev_daemon_thread = True

    def __init__(self, target: Callable[..., Any], name: str, args: tuple = ()):
        super().__init__(target=target, name=name, args=args, daemon=True)
