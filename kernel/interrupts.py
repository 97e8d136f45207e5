"""SIGINT: KeyboardInterrupt while user code runs, ignored while the kernel is idle.

jupyter_client interrupts with SIGINT to the kernel's process group (``signal`` mode) and sends
one before every shutdown; an idle kernel must not die of it. In ``message`` mode the control
thread turns ``interrupt_request`` into a real SIGINT, which (unlike ``_thread.interrupt_main``)
also breaks blocking calls such as ``time.sleep`` and a zmq poll.

CPython has a window in which a SIGINT is lost for a while: arriving after ``time.sleep`` (or
another blocking call) checked for signals but before it entered the system call, the signal is
noted and the call then blocks for its whole duration. A watchdog thread learns of every SIGINT
through ``signal.set_wakeup_fd``; if no KeyboardInterrupt reached the running cell shortly after,
it sends SIGINT to the main thread again, which breaks the call.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_MAIN_THREAD_ID = threading.main_thread().ident


class InterruptGate:
    """Where a SIGINT goes: nowhere while idle; into the user code running (KeyboardInterrupt);
    and, while a request is busy but user code has not started yet (publishing execute_input,
    loading the shell), into the user code as soon as it starts, so no interrupt is lost."""

    def __init__(self) -> None:
        self.busy = False
        self.armed = False
        self.pending = False
        self.deferring = 0  #: > 0 while the main thread is inside an uninterrupted section
        self.section = 0  #: counts user-code sections, so the watchdog never hits a later one
        self.delivered = False  #: a KeyboardInterrupt was raised in the current section
        #: SIGINTs whose Python handler ran (delivered, deferred or ignored while idle): the
        #: watchdog compares it with the SIGINTs it was told of, to resend only a lost one
        self.handled = 0
        #: ``with gate.uninterrupted:`` around a multipart send: an interrupt arriving between
        #: two frames would leave half a message on the socket, which corrupts the next one
        self.uninterrupted = _Uninterrupted(self)

    def install(self) -> None:
        """Install the SIGINT handler and the watchdog (main thread, once)."""
        signal.signal(signal.SIGINT, self._on_sigint)
        if hasattr(signal, "pthread_kill"):
            reader, writer = socket.socketpair()
            writer.setblocking(False)
            signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
            self._wakeup = (reader, writer)  # kept alive with the gate
            threading.Thread(
                target=_watch_interrupts, args=(self, reader), name="interrupts", daemon=True
            ).start()

    def _on_sigint(self, signum: int, frame: object) -> None:
        self.handled += 1
        if self.armed and not self.deferring:
            self.interrupt_now()
        if self.busy or self.armed:
            self.pending = True

    def interrupt_now(self) -> None:
        self.delivered = True
        self.pending = False
        raise KeyboardInterrupt

    @contextmanager
    def request(self) -> Iterator[None]:
        """Around a request that runs user code; an interrupt left over afterwards is void.
        Only the main shell's: SIGINT never reaches a subshell's thread (see kernel.subshells),
        whose requests leave the gate alone."""
        if threading.get_ident() != _MAIN_THREAD_ID:
            yield
            return
        self.busy, self.pending = True, False
        try:
            yield
        finally:
            self.busy = self.pending = False

    @contextmanager
    def user_code(self) -> Iterator[None]:
        """Around user code (main thread): SIGINT raises KeyboardInterrupt inside the block."""
        if threading.get_ident() != _MAIN_THREAD_ID:
            yield
            return
        self.section += 1
        self.delivered = False
        self.armed = True
        try:
            if self.pending:
                self.interrupt_now()
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
            gate.interrupt_now()


RESEND_AFTER = 0.05  #: seconds a SIGINT may take to reach the cell before it is sent again
MAX_RESENDS = 20


def _watch_interrupts(gate: InterruptGate, wakeup: socket.socket) -> None:
    """Resend SIGINT to the main thread while a cell stays uninterrupted (see module doc)."""
    keep_sigint_off_this_thread()
    main = threading.main_thread().ident
    told = 0  #: SIGINTs the wakeup socket reported (the resent ones included)
    while True:
        received = wakeup.recv(256)
        told += received.count(signal.SIGINT)
        # Every SIGINT told of was handled already (one ignored while idle, read late by this
        # thread on a busy machine): none is lost, and the cell now running was not interrupted.
        if signal.SIGINT not in received or not gate.armed or gate.handled >= told:
            continue
        section = gate.section
        for _ in range(MAX_RESENDS):
            deadline = time.monotonic() + RESEND_AFTER
            while time.monotonic() < deadline and _still_waiting(gate, section):
                time.sleep(0.005)
            if not _still_waiting(gate, section):
                break
            signal.pthread_kill(main, signal.SIGINT)
        told += _drain(wakeup)


def _still_waiting(gate: InterruptGate, section: int) -> bool:
    return gate.armed and gate.section == section and not gate.delivered and not gate.deferring


def _drain(wakeup: socket.socket) -> int:
    """Forget the bytes of the signals this watchdog sent itself; return how many SIGINTs."""
    wakeup.setblocking(False)
    count = 0
    try:
        while chunk := wakeup.recv(256):
            count += chunk.count(signal.SIGINT)
    except BlockingIOError:
        pass
    finally:
        wakeup.setblocking(True)
    return count


def keep_sigint_off_this_thread() -> None:
    """Block SIGINT in a kernel thread (call it first thing in the thread).

    A process-directed SIGINT goes to any thread that does not block it. If one of the kernel's
    own threads took it, Python would still raise KeyboardInterrupt on the main thread, but only
    once that thread returns to the interpreter: a cell in ``time.sleep(600)`` would not be
    interrupted. With the kernel's threads blocking it, SIGINT wakes the main thread itself.
    """
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


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
