"""A running task's text on its way out: in batches, in order, never long delayed.

A task that prints every step must not cost the kernel a message per line, nor re-copy what it
printed so far. :class:`OutputBatcher` gathers the text written to stdout and stderr and hands
it on as :class:`Output` items, each a run of whole lines of one stream:

- at once when ``BATCH_CHARS`` have piled up (a line longer than that is cut);
- otherwise at most ``DELAY`` seconds after the text was written, from a timer thread shared
  by the whole process (started when first needed), so a line printed before a long sleep is
  seen within that delay;
- with the unfinished line too when the task flushes (``print(..., flush=True)``, logging) —
  also within ``DELAY``, so a flush per line costs nothing more — and at once before a
  display and at the end.

The task runtime imports this module; it imports nothing of the kernel.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable

from pragma_kernel.pragmas.backends.base import Output

BATCH_CHARS = 64 * 1024  #: pending text this large is handed on at once
DELAY = 0.08  #: seconds written text may wait for a batch


class OutputBatcher:
    """Text written by a task, handed to ``send`` in batches (see the module docstring).

    ``timed`` False: no timer, text leaves only when a batch is full or on :meth:`send_all`
    (nobody is watching the task live).
    """

    def __init__(self, send: Callable[[Output], None], timed: bool = True):
        self._send = send
        self._timed = timed
        self._lock = threading.Lock()  #: guards the pending text below
        self._order = threading.Lock()  #: one batch handed on at a time, in the written order
        self._stream = "stdout"  #: the stream of ``_chunks``
        self._chunks: list[str] = []
        self._size = 0  #: characters in ``_chunks`` and ``_ready``
        self._ready: list[Output] = []  #: whole lines of streams written before the current one
        self._unfinished: dict[str, str] = {}  #: the unfinished line of the other stream
        self._scheduled = False
        self._flush_asked = False

    def write(self, name: str, text: str) -> None:
        with self._lock:
            if name != self._stream:
                self._switch_to(name)
            self._chunks.append(text)
            self._size += len(text)
            if self._size < BATCH_CHARS:
                if self._timed and not self._scheduled:
                    self._scheduled = True
                    _timer.call_later(self, DELAY)
                return
        self._send_pending(everything=False)

    def flush(self) -> None:
        """Hand on everything written so far, unfinished line included, within ``DELAY``."""
        with self._lock:
            self._flush_asked = True
            if not self._timed:
                return
            if not self._scheduled:
                self._scheduled = True
                _timer.call_later(self, DELAY)

    def send_all(self, then: Output | None = None) -> None:
        """Hand on everything written so far now, then ``then`` (a display) if given."""
        with self._order:
            with self._lock:
                batch = self._take(everything=True)
            for output in batch:
                self._send(output)
            if then is not None:
                self._send(then)

    def on_timer(self) -> None:
        with self._lock:
            self._scheduled = False
            everything, self._flush_asked = self._flush_asked, False
        self._send_pending(everything)

    # -- with the lock held ----------------------------------------------------------------
    def _switch_to(self, name: str) -> None:
        """Another stream writes: the current one's whole lines are ready, its unfinished line
        waits for its next write (each stream's lines stay whole)."""
        text = "".join(self._chunks)
        cut = text.rfind("\n") + 1
        if cut:
            self._ready.append(Output("stream", name=self._stream, text=text[:cut]))
        if cut < len(text):
            self._unfinished[self._stream] = text[cut:]
        self._size -= len(text) - cut
        self._stream = name
        rest = self._unfinished.pop(name, "")
        self._chunks = [rest] if rest else []
        self._size += len(rest)

    def _take(self, everything: bool) -> list[Output]:
        batch, self._ready = self._ready, []
        if everything:
            batch += [Output("stream", name=n, text=t) for n, t in self._unfinished.items()]
            self._unfinished.clear()
        text = "".join(self._chunks)
        cut = len(text) if everything else text.rfind("\n") + 1
        if not cut and len(text) >= BATCH_CHARS:
            cut = len(text)  # one very long line: cut it rather than hold it all
        if cut:
            batch.append(Output("stream", name=self._stream, text=text[:cut]))
        rest = text[cut:]
        self._chunks = [rest] if rest else []
        self._size = len(rest)
        return batch

    def _send_pending(self, everything: bool) -> None:
        with self._order:
            with self._lock:
                batch = self._take(everything)
            for output in batch:
                self._send(output)


class _BatchTimer:
    """The process's one thread that hands on batches whose delay is up."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._due: dict[OutputBatcher, float] = {}
        self._started_in: int | None = None  #: the pid the thread runs in

    def call_later(self, batcher: OutputBatcher, delay: float) -> None:
        with self._condition:
            if self._started_in != os.getpid():
                self._started_in = os.getpid()
                threading.Thread(target=self._run, name="output-batches", daemon=True).start()
            self._due.setdefault(batcher, time.monotonic() + delay)
            self._condition.notify()

    def _run(self) -> None:
        while True:
            for batcher in self._wait_for_due():
                try:
                    batcher.on_timer()
                # The task goes on if its output cannot be sent (a closed pipe: the kernel is
                # gone and ends this process); said where the process's own errors go.
                except Exception:  # noqa: BLE001
                    traceback.print_exc(file=sys.__stderr__)

    def _wait_for_due(self) -> list[OutputBatcher]:
        with self._condition:
            while True:
                now = time.monotonic()
                due = [b for b, when in self._due.items() if when <= now]
                if due:
                    for batcher in due:
                        del self._due[batcher]
                    return due
                soonest = min(self._due.values(), default=None)
                self._condition.wait(None if soonest is None else soonest - now)


_timer = _BatchTimer()


def _reset_after_fork() -> None:
    # A child forked while the timer thread held its lock would wait forever on it.
    global _timer
    _timer = _BatchTimer()


os.register_at_fork(after_in_child=_reset_after_fork)
