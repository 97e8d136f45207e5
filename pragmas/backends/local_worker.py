"""The worker process of the embedded local backend (see ``pragma_kernel.pragmas.backends.local``).

A worker runs one task replica at a time through :func:`pragma_kernel.pragmas.runtime.run_task` and talks to
the kernel's scheduler over its pipe: ``("run", unit id, spec, input refs)``, ``("release",
unit ids)`` and ``("stop",)`` come in; ``("out", unit id, Output)`` while the replica runs and
``("done", unit id, UnitReport)`` go out (the outputs in batches, see
:mod:`pragmas.output_batch`; the kernel keeps them, the worker does not). It keeps the large values it made until released.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from pragma_kernel.pragmas import process_tree, transfer
from pragma_kernel.pragmas.backends.base import Output, TaskError
from pragma_kernel.pragmas.runtime import FILES_KEY, VARIABLES_KEY, TaskSpec, run_task
from pragma_kernel.pragmas.task_files import FileRef, FileTraffic

#: seconds the processes a task left running get between SIGTERM and SIGKILL
TERMINATE_GRACE = 1.0


def worker_main(conn: Connection, remote: bool, kernel_pid: int) -> None:
    """A worker: run each replica it is sent and stream its outputs. Large values stay here
    (``remote``: read by address) until the kernel releases them, or in memory files whose
    descriptors it holds until the kernel's next message (by then the kernel opened its own)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the kernel cancels by killing the worker
    os.setpgrp()  # so that a kill also reaches the processes a task started
    process_tree.become_subreaper()  # ... and those that left the group (daemons), on Linux
    threading.Thread(target=_end_with, args=(kernel_pid,), daemon=True, name="watch").start()
    conn = _LockedConnection(conn)
    descriptors = _DescriptorOutput()
    held_files: list[int] = []
    kept: dict[int, list[transfer.Packed]] = {}  #: unit id -> values read by address
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return  # the kernel is gone
        for fd in held_files:
            os.close(fd)
        held_files.clear()
        if message[0] == "stop":
            _end_task_processes()
            return
        if message[0] == "release":
            for unit_id in message[1]:
                kept.pop(unit_id, None)
            continue
        _, unit_id, spec, refs = message
        store = ValueStore(remote, held_files, kept.setdefault(unit_id, []))
        descriptors.emit = lambda output, unit_id=unit_id: conn.send(("out", unit_id, output))
        report = _run_unit(conn, unit_id, spec, refs, store)
        _end_task_processes()  # what the task started ends with it
        descriptors.drain()  # what subprocesses wrote belongs to this replica
        descriptors.emit = None
        conn.send(("done", unit_id, report))


def _end_with(kernel_pid: int) -> None:
    """End this worker and what its task started when the kernel is gone, even mid-task (its
    own process group no longer gets the kernel's signals, and the fork server stays up while
    it has children)."""
    try:
        watched = os.pidfd_open(kernel_pid)
    except (AttributeError, OSError):  # no pidfd here: look once a second
        while _alive(kernel_pid):
            time.sleep(1.0)
    else:
        select.select([watched], [], [])
    process_tree.end_descendants(os.getpid(), grace=0)
    os.killpg(0, signal.SIGKILL)


def _end_task_processes() -> None:
    """End every process the last task started (none: one waitpid, nothing else)."""
    if process_tree.reap_children():
        process_tree.end_descendants(os.getpid(), grace=TERMINATE_GRACE)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _LockedConnection:
    """The worker's pipe, shared by the task's thread and the descriptor relays."""

    def __init__(self, conn: Connection):
        self._conn, self._lock = conn, threading.Lock()

    def send(self, message: Any) -> None:
        with self._lock:
            self._conn.send(message)

    def recv(self) -> Any:
        return self._conn.recv()


_DRAIN_MARK = b"\x00pragma-drain\x00\n"
_RELAY_LINE = 65536  #: a line longer than this is relayed in pieces rather than held


class _DescriptorOutput:
    """Output written to file descriptors 1 and 2 (subprocesses, C libraries) reaches the
    running replica like its prints do; between replicas it goes where it went before."""

    def __init__(self) -> None:
        self.emit: Any = None
        self._drained = {1: threading.Event(), 2: threading.Event()}
        for fd, name in ((1, "stdout"), (2, "stderr")):
            original = os.dup(fd)
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            threading.Thread(target=self._relay, args=(fd, name, read_end, original),
                             daemon=True, name=f"relay-{name}").start()  # fmt: skip

    def drain(self) -> None:
        """Wait until everything written so far has been relayed."""
        for fd, drained in self._drained.items():
            drained.clear()
            os.write(fd, _DRAIN_MARK)
        for drained in self._drained.values():
            drained.wait(1.0)

    def _relay(self, fd: int, name: str, read_end: int, original: int) -> None:
        pending = b""
        while chunk := os.read(read_end, 65536):
            pending += chunk
            while (index := pending.find(_DRAIN_MARK)) >= 0:
                self._forward(name, pending[:index], original)
                pending = pending[index + len(_DRAIN_MARK) :]
                self._drained[fd].set()
            cut = pending.rfind(b"\n") + 1
            if not cut and len(pending) >= _RELAY_LINE:  # a long line (\r progress bars): cut
                cut = len(pending) - len(_DRAIN_MARK)  # (the start of a mark may end it)
            if cut:
                self._forward(name, pending[:cut], original)
                pending = pending[cut:]

    def _forward(self, name: str, data: bytes, original: int) -> None:
        if not data:
            return
        emit = self.emit
        if emit is None:
            os.write(original, data)
        else:
            emit(Output("stream", name=name, text=data.decode(errors="replace")))


@dataclass
class ValueStore:
    """Where a worker leaves the values of one replica (see :mod:`pragmas.transfer`)."""

    remote: bool
    files: list[int]
    kept: list[transfer.Packed]

    def ref(self, packed: transfer.Packed, name: str) -> transfer.ValueRef:
        if packed.nbytes < transfer.INLINE_LIMIT or not transfer.HAS_MEMORY_FILES:
            return transfer.to_inline(packed)  # (or no better way on this system)
        if self.remote:
            ref = transfer.remote_ref(packed)
            self.kept.append(packed)
            return ref
        fd, ref = transfer.write_memory_file(packed, name)
        self.files.append(fd)
        return ref


def _run_unit(conn: Any, unit_id: int, spec: TaskSpec, refs: dict, store: ValueStore):
    def emit(output: Output) -> None:
        conn.send(("out", unit_id, output))

    try:
        inputs = _load_inputs(refs)
    except OSError as exc:
        text = f"an input of {spec.label} could not be read: {exc}"
        return UnitReport(False, TaskError("InputError", text, [f"InputError: {text}"],
                                            platform=True))  # fmt: skip
    outcome = run_task(spec, inputs, emit, keep_packed=True, keep_outputs=False)
    del inputs  # the task's inputs may be large; the outcome holds what must stay
    report = UnitReport(outcome.ok, outcome.error, outcome.started, outcome.finished)
    if outcome.ok:
        for name, packed in outcome.packed.items():
            report.values[name] = store.ref(packed, f"{spec.task_name}.{name}")
        if outcome.variables:
            report.variables = transfer.to_inline(transfer.pack(outcome.variables))
        report.flow = outcome.flow
        report.files = outcome.files
    report.file_traffic = outcome.file_traffic
    return report


def _load_inputs(refs: dict[str, Any]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for name, ref in refs.items():
        if name == FILES_KEY:
            inputs[name] = ref
        elif name == VARIABLES_KEY:
            inherited: dict[str, Any] = {}
            for blob in ref:
                inherited.update(transfer.load(blob))
            inputs[name] = inherited
        elif isinstance(ref, list):
            inputs[name] = [transfer.load(r) for r in ref]
        else:
            inputs[name] = transfer.load(ref)
    return inputs


@dataclass
class UnitReport:
    """What a worker sends back for one replica (outputs went ahead, one by one)."""

    ok: bool
    error: TaskError | None = None
    started: float = 0.0
    finished: float = 0.0
    values: dict[str, transfer.ValueRef] = field(default_factory=dict)  #: exports + result
    variables: transfer.InlineValue | None = None
    flow: dict[str, Any] = field(default_factory=dict)  #: the flow script's decision
    files: list[FileRef] = field(default_factory=list)  #: its output files, kept (linked)
    file_traffic: FileTraffic = field(default_factory=FileTraffic)
