"""SIGINT: KeyboardInterrupt while user code runs, ignored while the kernel is idle.

jupyter_client interrupts with SIGINT to the kernel's process group (``signal`` mode) and sends
one before every shutdown; an idle kernel must not die of it. In ``message`` mode the control
thread turns ``interrupt_request`` into a real SIGINT, which (unlike ``_thread.interrupt_main``)
also breaks blocking calls such as ``time.sleep`` and a zmq poll.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class InterruptGate:
    """Where a SIGINT goes: nowhere while idle; into the user code running (KeyboardInterrupt);
    and, while a request is busy but user code has not started yet (publishing execute_input,
    loading the shell), into the user code as soon as it starts, so no interrupt is lost."""

    def __init__(self) -> None:
        self.busy = False
        self.armed = False
        self.pending = False
        self.deferring = 0  #: > 0 while the main thread is inside an uninterrupted section
        #: ``with gate.uninterrupted:`` around a multipart send: an interrupt arriving between
        #: two frames would leave half a message on the socket, which corrupts the next one
        self.uninterrupted = _Uninterrupted(self)

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: object) -> None:
        if self.armed and not self.deferring:
            raise KeyboardInterrupt
        if self.busy or self.armed:
            self.pending = True

    @contextmanager
    def request(self) -> Iterator[None]:
        """Around a request that runs user code; an interrupt left over afterwards is void."""
        self.busy, self.pending = True, False
        try:
            yield
        finally:
            self.busy = self.pending = False

    @contextmanager
    def user_code(self) -> Iterator[None]:
        """Around user code (main thread): SIGINT raises KeyboardInterrupt inside the block."""
        self.armed = True
        try:
            if self.pending:
                self.pending = False
                raise KeyboardInterrupt
            yield
        finally:
            self.armed = False


class _Uninterrupted:
    """Defers KeyboardInterrupt to the end of the block (main thread; no-op elsewhere, since
    signals are only handled on the main thread)."""

    def __init__(self, gate: InterruptGate):
        self._gate = gate
        self._main = threading.main_thread().ident

    def __enter__(self) -> None:
        if threading.get_ident() == self._main:
            self._gate.deferring += 1

    def __exit__(self, *exc_info: object) -> None:
        if threading.get_ident() != self._main:
            return
        gate = self._gate
        gate.deferring -= 1
        if not gate.deferring and gate.pending and gate.armed:
            gate.pending = False
            raise KeyboardInterrupt


def interrupt_kernel() -> None:
    """Deliver SIGINT as jupyter_client's signal mode would: to the process group when the
    kernel leads it (children such as ``!cmd`` stop too), else to the main thread."""
    if hasattr(os, "killpg") and os.getpgid(0) == os.getpid():
        os.killpg(os.getpid(), signal.SIGINT)
    elif hasattr(signal, "pthread_kill"):
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    else:  # Windows: only the flag can be set; blocking calls finish first
        import _thread

        _thread.interrupt_main()
