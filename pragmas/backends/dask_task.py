"""What runs on a Dask worker for one replica of a task (the kernel side is ``dask.py``).

One Dask task per replica calls :func:`run_replica`, which runs ``pragma_kernel.pragmas.runtime.run_task``
and keeps the replica's exports on the worker inside a :class:`ReplicaOutcome`; dependents
receive those outcomes as Dask dependencies, worker to worker. The kernel learns what happens
from events published on the scheduler's event topic (``start``, each ``output`` as it is
produced, ``end`` with the :class:`TaskReport`): the exports never travel to the kernel unless
it asks (:func:`export_of`).

The user's code runs in a thread of its own so that a timeout or a cancellation can stop it
(an exception raised into that thread) and the Dask task can report at once even when the code
is blocked in a call. Task output capture is process-wide (see ``pragma_kernel.pragmas.runtime``), so one
task runs at a time per worker process.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import pickle
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cloudpickle
from dask.sizeof import sizeof
from pragma_kernel.pragmas.backends.base import Output, TaskError
from pragma_kernel.pragmas.runtime import (
    VARIABLES_KEY,
    TaskOutcome,
    TaskSpec,
    gather_inputs,
    run_task,
)
from pragma_kernel.pragmas.task_files import FileRef, FileTraffic

#: reports larger than this are fetched from the worker instead of riding on an event
EVENT_REPORT_LIMIT = 1 << 20
#: how long a stopped task's code gets to unwind before the task reports anyway
STOP_GRACE = 1.0


@dataclass
class ReplicaCall:
    """The static arguments of one replica's Dask task (its upstream outcomes come apart)."""

    job_token: str
    topic: str
    spec: TaskSpec
    round: int = 0  #: which run of a loop block (ProActive's loop), 0 outside loops


@dataclass
class TaskReport:
    """What the kernel needs of a finished replica: everything but the exports."""

    ok: bool
    result: Any = None
    variables: dict[str, Any] = field(default_factory=dict)  #: put by the replica
    outputs: list[Output] = field(default_factory=list)
    error: TaskError | None = None
    started: float = 0.0
    finished: float = 0.0
    worker: str = ""
    flow: dict[str, Any] = field(default_factory=dict)  #: a control-flow script's decision
    #: its output files, without their content (which stays in the ReplicaOutcome)
    files: list[FileRef] = field(default_factory=list)
    file_traffic: FileTraffic = field(default_factory=FileTraffic)

    @classmethod
    def of(cls, outcome: TaskOutcome, worker: str) -> TaskReport:
        return cls(outcome.ok, outcome.result, outcome.variables, outcome.outputs,
                   outcome.error, outcome.started, outcome.finished, worker, outcome.flow,
                   [ref.without_data() for ref in outcome.files], outcome.file_traffic)


@dataclass
class ReplicaOutcome:
    """A finished replica as it stays on its worker and travels to dependents."""

    exports: dict[str, Any]
    variables: dict[str, Any]  #: put by this replica
    #: variables put by every ancestor: task -> one dict per replica (as ``gather_inputs`` wants)
    ancestor_variables: dict[str, list[dict[str, Any]]]
    report: TaskReport | None = None  #: None in the slimmed copies sent to dependents
    #: its output files with their content: they travel to dependents with the outcome
    files: list[FileRef] = field(default_factory=list)


@sizeof.register(ReplicaOutcome)
def _sizeof_outcome(outcome: ReplicaOutcome) -> int:
    # Dask places tasks and moves data by these sizes; without it an outcome holding a
    # 500 MB array would count as a few bytes.
    size = sizeof(outcome.exports) + sizeof(outcome.variables)
    size += sum(ref.size for ref in outcome.files)
    if outcome.report is not None:
        size += sizeof(outcome.report.result)
    return size


class TaskFailed(Exception):
    """A replica failed; Dask retries it (``retries``) and fails its dependents with it."""

    def __init__(self, task: str, replica: int | None, report: TaskReport):
        super().__init__(task, replica, report)
        self.task, self.replica, self.report = task, replica, report

    def __str__(self) -> str:
        error = self.report.error
        reason = f"{error.ename}: {error.evalue}" if error else "failed"
        where = self.task if self.replica is None else f"{self.task}[{self.replica}]"
        return f"task {where} failed: {reason}"


class TaskInterrupt(BaseException):
    """Raised into a task's thread to stop it; BaseException so ``except Exception`` in the
    user's code does not swallow it."""


class TaskTimeout(TaskInterrupt):
    pass


class TaskCancelled(TaskInterrupt):
    pass


# --- the Dask task functions -------------------------------------------------------------


def run_replica(call: ReplicaCall, local_inputs: dict[str, bytes],
                upstream: dict[str, list[ReplicaOutcome]],
                carried: list[ReplicaOutcome] | None = None,
                files: list[FileRef] | None = None) -> ReplicaOutcome:
    """One replica: gather its inputs (``local_inputs``: cloudpickled values of the notebook's
    namespace; ``upstream``: outcomes of upstream tasks, per replica; ``carried``: the
    outcomes of a loop block's previous round, whose variables it sees; ``files``: the files
    of the notebook's folder it reads, with their content), run it in a folder of its own
    under this worker's directory, report, keep its exports and output files here."""
    spec = dataclasses.replace(call.spec, work_root=_work_root())
    _one_task_at_a_time.acquire()  # released by the thread that runs the code, when it ends
    if call.job_token in _cancelled_jobs:  # cancelled while it waited for its turn here
        _one_task_at_a_time.release()
        raise TaskFailed(spec.task_name, spec.replication, TaskReport(False, error=(
            _platform_error("Cancelled", "the job was cancelled"))))
    events = ReplicaEvents(call, uuid.uuid4().hex[:12])
    events.start()
    ancestor_variables = _ancestor_variables(upstream)
    try:
        inputs = gather_inputs(
            spec, local_inputs,
            lambda task: [outcome.exports for outcome in upstream[task]],
            lambda task: ancestor_variables.get(task, []),
            files or [],
            lambda task: [ref for outcome in upstream.get(task, []) for ref in outcome.files],
        )
        if carried:  # a loop's next round sees what the last one put (ancestors' puts win)
            seen: dict[str, Any] = {}
            for outcome in carried:
                seen.update(outcome.variables)
            inputs[VARIABLES_KEY] = {**seen, **inputs[VARIABLES_KEY]}
    except Exception as exc:  # noqa: BLE001 - unpickling an input here may raise anything
        _one_task_at_a_time.release()
        outcome = TaskOutcome(ok=False, error=_platform_error(
            "InputError", f"the inputs of task {spec.label} cannot be loaded on this worker: "
            f"{type(exc).__name__}: {exc}"))
    else:
        outcome = StoppableRun(spec, call.job_token, inputs, events.output).run()
    report = TaskReport.of(outcome, events.worker)
    events.end(report)
    if not outcome.ok:
        raise TaskFailed(spec.task_name, spec.replication, report)
    return ReplicaOutcome(outcome.exports, outcome.variables, ancestor_variables, report,
                          outcome.files)


def _work_root() -> str:
    """Where this worker's tasks get their folders: in its own directory, not the process's
    working directory (which workers of one host may share)."""
    from distributed import get_worker

    return os.path.join(get_worker().local_directory, "pragma-tasks")


def _ancestor_variables(upstream: dict[str, list[ReplicaOutcome]]) -> dict[str, list[dict]]:
    merged: dict[str, list[dict]] = {}
    for task, outcomes in upstream.items():
        for outcome in outcomes:
            merged.update(outcome.ancestor_variables)
        merged[task] = [outcome.variables for outcome in outcomes]
    return merged


def slim(outcome: ReplicaOutcome, names: tuple[str, ...]) -> ReplicaOutcome:
    """The part of an outcome a dependent needs: only the exports it imports."""
    exports = {name: outcome.exports[name] for name in names}
    return ReplicaOutcome(exports, outcome.variables, outcome.ancestor_variables,
                          files=outcome.files)


def export_of(outcome: ReplicaOutcome, name: str) -> Any:
    return outcome.exports[name]


def report_of(outcome: ReplicaOutcome) -> TaskReport | None:
    return outcome.report


def files_of(outcome: ReplicaOutcome) -> list[FileRef]:
    return outcome.files


# --- events to the kernel ----------------------------------------------------------------


class ReplicaEvents:
    """Publishes one attempt's progress on the job's event topic (msgpack-able dicts)."""

    def __init__(self, call: ReplicaCall, attempt: str):
        from distributed import get_worker

        self._worker = get_worker()
        self.worker = self._worker.address
        self._topic = call.topic
        self._head = {"job": call.job_token, "task": call.spec.task_name,
                      "replica": call.spec.replication, "round": call.round,
                      "attempt": attempt}
        self._sequence = 0
        self._lock = threading.Lock()

    def _publish(self, kind: str, **fields: Any) -> None:
        self._worker.log_event(self._topic, {**self._head, "kind": kind, **fields})

    def start(self) -> None:
        self._publish("start", worker=self.worker, pid=os.getpid())

    def output(self, output: Output) -> None:
        with self._lock:  # shell tasks emit from two reader threads
            sequence, self._sequence = self._sequence, self._sequence + 1
        self._publish("output", seq=sequence, output=pickle.dumps(output))

    def end(self, report: TaskReport) -> None:
        blob: bytes | None = cloudpickle.dumps(report)  # the runtime checked it pickles
        if len(blob) > EVENT_REPORT_LIMIT:
            blob = None  # too big to ride on an event: the kernel fetches it from the worker
        self._publish("end", ok=report.ok, report=blob)


# --- running the user's code so that it can be stopped -----------------------------------


class StoppableRun:
    """``run_task`` in a thread of its own, stoppable by timeout or by the kernel's cancel."""

    def __init__(self, spec: TaskSpec, job_token: str, inputs: dict[str, Any],
                 emit: Callable[[Output], None]):
        self.spec, self.job_token, self.inputs, self.emit = spec, job_token, inputs, emit
        self.outcome: TaskOutcome | None = None
        self.stopped_by: TaskInterrupt | None = None
        self._stopped_at: float | None = None
        self._finished = threading.Event()
        self._state = threading.Lock()
        self._thread = threading.Thread(target=self._target, daemon=True,
                                        name=f"pragma-task-{spec.label}")

    def run(self) -> TaskOutcome:
        limit = self.spec.timeout
        deadline = None if limit is None else time.monotonic() + limit
        _register(self)
        try:
            self._thread.start()
            while not self._finished.wait(0.05):  # returns at once when the code ends
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    self.stop(TaskTimeout(f"task {self.spec.label} exceeded its timeout of "
                                          f"{limit:g} s"))
                if self._stopped_at is not None and now - self._stopped_at >= STOP_GRACE:
                    break  # blocked in a call: report now, the thread ends when it returns
        finally:
            _unregister(self)
        return self._outcome()

    def stop(self, reason: TaskInterrupt) -> None:
        """Raise ``reason`` in the task's thread, unless its code has already returned."""
        with self._state:
            if self._finished.is_set() or self.stopped_by is not None:
                return
            self.stopped_by, self._stopped_at = reason, time.monotonic()
            _raise_in_thread(self._thread, reason)

    def _target(self) -> None:
        try:
            try:
                outcome = run_task(self.spec, self.inputs, self.emit)
            except TaskInterrupt:  # raised just after the user's code returned
                outcome = TaskOutcome(ok=False)
            with self._state:
                self.outcome = outcome
                self._finished.set()
        except TaskInterrupt:  # raised between run_task's return and the lock above
            self._finished.set()
        finally:
            _one_task_at_a_time.release()

    def _outcome(self) -> TaskOutcome:
        outcome = self.outcome if self._finished.is_set() else None
        if self.stopped_by is None:
            assert outcome is not None
            return outcome
        outcome = outcome or TaskOutcome(ok=False)
        ename = "TimeoutError" if isinstance(self.stopped_by, TaskTimeout) else "Cancelled"
        evalue = str(self.stopped_by)
        if not self._finished.is_set():
            evalue += ("; its code is blocked in a call and stops when that call returns "
                       "(this worker runs nothing else until then)")
        if outcome.ok:  # finished in the same instant: it did run to the end
            return outcome
        trace = outcome.error.traceback[:-1] if outcome.error else []
        outcome.error = TaskError(ename, evalue, [*trace, f"{ename}: {evalue}"], platform=True)
        return outcome


def _platform_error(ename: str, evalue: str) -> TaskError:
    return TaskError(ename, evalue, [f"{ename}: {evalue}"], platform=True)


def _raise_in_thread(thread: threading.Thread, exc: BaseException) -> None:
    # CPython raises an exception *class* in another thread; a subclass carries the message.
    carrier = type(type(exc).__name__, (type(exc),), {"__str__": lambda self: str(exc)})
    ident = thread.ident
    if ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident),
                                                   ctypes.py_object(carrier))


_one_task_at_a_time = threading.Lock()
_running: dict[str, set[StoppableRun]] = {}  #: job token -> its replicas running here
_running_lock = threading.Lock()
_cancelled_jobs: set[str] = set()  #: tokens of jobs cancelled while this worker lives


def _register(run: StoppableRun) -> None:
    with _running_lock:
        _running.setdefault(run.job_token, set()).add(run)


def _unregister(run: StoppableRun) -> None:
    with _running_lock:
        runs = _running.get(run.job_token, set())
        runs.discard(run)
        if not runs:
            _running.pop(run.job_token, None)


def cancel_job(job_token: str) -> int:
    """Run on every worker by the kernel's cancel (``client.run``): stop the job's replicas
    running here, and those waiting for their turn never start; return how many stopped."""
    with _running_lock:
        _cancelled_jobs.add(job_token)
        runs = list(_running.get(job_token, ()))
    for run in runs:
        run.stop(TaskCancelled(f"task {run.spec.label} was cancelled"))
    return len(runs)
