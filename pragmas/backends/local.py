"""The embedded local scheduler: a pool of worker processes on this machine.

One scheduler thread in the kernel owns a pool of worker processes (forked from a fork server,
one per core by default) and every submitted job. Each worker runs one task replica at a time
through :func:`pragma_kernel.pragmas.runtime.run_task` and reports over its pipe: outputs as they come, then
the outcome. A task is dispatched as soon as its last dependency is done; independent tasks run
in parallel.

Values never travel byte by byte through a pipe when they are large (:mod:`pragmas.transfer`):
a worker keeps each large export alive and names its buffers by address; the dependents' workers
and the kernel copy them straight from its memory, once, at memory speed (``process_vm_readv``).
Where that is not permitted, the worker writes the value once into a memory file that readers
map copy-on-write. The kernel brings a task's values into its ``TaskResult`` when the task is
done (dependents are started first); with ``plan.fetch_exports`` False (``pull=off``) they stay
in the worker until :meth:`JobRun.fetch` (the latest such job only). Workers release a job's
values when it ends.

Faults: a worker that dies (segfault, ``os._exit``, killed) fails the replica it was running
with a platform error and is replaced; ``timeout`` kills the worker; ``retries`` re-runs a
failed replica; dependents of a failed task are skipped, other branches go on. Cancelling a job
kills its running workers (replaced at once) and cancels what was queued.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import multiprocessing
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from pragma_kernel.kernel.interrupts import keep_sigint_off_this_thread
from pragma_kernel.pragmas import process_tree, transfer
from pragma_kernel.pragmas.backends.base import (
    Backend,
    JobPlan,
    JobRun,
    Listener,
    Output,
    TaskError,
    TaskResult,
)
from pragma_kernel.pragmas.backends.local_worker import UnitReport, ValueStore, worker_main
from pragma_kernel.pragmas.job_life import JobLife
from pragma_kernel.pragmas.model import MAX_TIMEOUT
from pragma_kernel.pragmas.runtime import FILES_KEY, RESULT_KEY, VARIABLES_KEY, TaskSpec
from pragma_kernel.pragmas.task_files import FileRef, FileTraffic, place, select_inputs

log = logging.getLogger(__name__)
_job_ids = itertools.count(1)
#: finished pull=off jobs whose large values the workers keep for a later fetch (the latest)
MAX_PARKED = 1
#: finished jobs whose folder (their tasks' output files) is kept, the latest first
KEPT_FOLDERS = 2


class LocalBackend(Backend):
    """Worker processes on this machine; ``workers`` defaults to the number of cores."""

    name = "local"

    def __init__(self, workers: int | None = None):
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.workers = workers or os.cpu_count() or 1
        self._scheduler: _Scheduler | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._runs: deque[_LocalRun] = deque()  #: runs whose folder is still on disk

    def submit(self, plan: JobPlan, listener: Listener) -> JobRun:
        run = _LocalRun(str(next(_job_ids)), plan, self, listener)
        self._drop_old_folders()
        self._runs.append(run)
        self._get_scheduler().post("submit", run)
        return run

    def _drop_old_folders(self) -> None:
        """Remove the folders of finished runs beyond the latest few (their output files were
        brought into the notebook's folder, or were not wanted: pull=off)."""
        done = [run for run in self._runs if run.done]
        for run in done[:-KEPT_FOLDERS] if len(done) > KEPT_FOLDERS else []:
            self._runs.remove(run)
            shutil.rmtree(run.folder, ignore_errors=True)

    def cancel(self, run: JobRun) -> None:
        if self._scheduler is None or run.done:
            return
        self._scheduler.post("cancel", run)
        run.wait()

    def close(self) -> None:
        with self._lock:
            self._closed = True  # a start in the background that comes late does nothing
            scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.close()
        while self._runs:
            shutil.rmtree(self._runs.popleft().folder, ignore_errors=True)

    def describe(self) -> str:
        return f"local: {self.workers} worker process{'es' if self.workers > 1 else ''}"

    def start(self) -> None:
        """Start the workers now instead of at the first job (a connect does this)."""
        self._get_scheduler()

    def start_unless_closed(self) -> None:
        """Start the workers now unless the backend was closed meanwhile (for a thread that
        starts them ahead of the first job, which waits for them if they are not ready yet).
        A failure is only logged: the first job tries again and reports it."""
        try:
            with self._lock:
                if self._scheduler is None and not self._closed:
                    self._scheduler = _Scheduler(self.workers)
        except Exception:  # the first job starts them again, and says why it cannot
            log.warning("starting the local workers ahead of the first job failed",
                        exc_info=True)

    def _get_scheduler(self) -> _Scheduler:
        with self._lock:
            if self._scheduler is None:
                self._scheduler = _Scheduler(self.workers)
            return self._scheduler


class _LocalRun(JobRun):
    """A job on the workers; ``folder`` holds its tasks' working directories and the output
    files they keep (hard links: the workers are on this machine)."""

    backend: LocalBackend

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.folder = tempfile.mkdtemp(prefix=f"pragma-job-{self.job_id}-")

    def fetch(self) -> None:
        scheduler = self.backend._scheduler
        if scheduler is None or not self.done:
            return
        fetched = threading.Event()
        scheduler.post("fetch", (self, fetched))
        fetched.wait()

    def release(self, reason: str) -> None:
        scheduler = self.backend._scheduler
        if scheduler is not None and self.done:
            scheduler.post("release", (self, reason))


# --- the scheduler, in the kernel ---------------------------------------------------------


@dataclass(eq=False)
class _Unit:
    """One replica of one task of one job."""

    id: int
    job: _JobState
    task: str
    replica: int | None
    spec: TaskSpec
    attempts: int = 0
    worker: _Worker | None = None
    deadline: float | None = None


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: Connection
    unit: _Unit | None = None
    kill_reason: TaskError | None = None  #: why the kernel killed it (timeout, cancel)

    def kill(self) -> None:
        """Kill the worker and whatever its task started, daemons included (see
        :mod:`pragmas.process_tree`)."""
        process_tree.kill_tree(self.process.pid)


@dataclass(eq=False)
class _JobState:
    """What the scheduler keeps of one job beyond its :class:`JobLife` (the tasks' states):
    the replicas' reports and where their values are."""

    run: JobRun
    replicas: dict[str, list[UnitReport | None]]
    #: task -> per replica: name -> ref in the kernel (exports, RESULT_KEY)
    refs: dict[str, list[dict[str, transfer.ValueRef]]] = field(default_factory=dict)
    variables: dict[str, list[transfer.InlineValue]] = field(default_factory=dict)
    local_refs: dict[str, transfer.ValueRef] = field(default_factory=dict)
    fds: list[int] = field(default_factory=list)  #: memory files the kernel holds for the job
    kept: list[transfer.Packed] = field(default_factory=list)  #: values read from the kernel
    #: worker -> its units whose values it keeps for this job (released at the end)
    holders: dict[Any, list[int]] = field(default_factory=dict)
    #: tasks whose values are still where they were made (plan.fetch_exports False)
    unfetched: dict[str, list[UnitReport]] = field(default_factory=dict)
    #: loop block task -> variables put in the previous round (seen by the next one)
    carried: dict[str, list[transfer.InlineValue]] = field(default_factory=dict)
    #: task -> the output files its replicas kept (in the job's folder)
    files: dict[str, list[FileRef]] = field(default_factory=dict)


def _life(job: _JobState) -> JobLife:
    return job.run.life


class _Scheduler:
    """The thread that owns the workers and every job of one LocalBackend."""

    def __init__(self, size: int):
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(["pragma_kernel.pragmas.backends.local_worker",
                                             "pragma_kernel.pragmas.rich_display"])
        self.size = size
        self.remote = transfer.remote_reads_work()  # else values go through memory files
        self.workers: list[_Worker] = [self._start_worker() for _ in range(size)]
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        self._wake_read, self._wake_write = self.context.Pipe(duplex=False)
        self.jobs: list[_JobState] = []
        self.ready: deque[_Unit] = deque()
        self.parked: dict[JobRun, _JobState] = {}  #: finished runs with unfetched values
        self.unit_ids = itertools.count()
        self.closing = False
        self.thread = threading.Thread(target=self._loop, name="local-scheduler", daemon=True)
        self.thread.start()

    # -- called from other threads ---------------------------------------------------------
    def post(self, command: str, argument: Any) -> None:
        self.commands.put((command, argument))
        self._wake_write.send_bytes(b"!")

    def close(self) -> None:
        self.post("close", None)
        self.thread.join(timeout=10)

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        keep_sigint_off_this_thread()  # an interrupt is the cell's, never this thread's
        failures = 0  #: internal errors in a row
        while not self.closing:
            waitables: list[Any] = [self._wake_read]
            for worker in self.workers:
                waitables += [worker.conn, worker.process.sentinel]
            try:
                for ready in wait(waitables, timeout=self._next_timeout()):
                    self._on_ready(ready)
                self._check_deadlines()
                self._dispatch()
                failures = 0
            # The scheduler must outlive its own bugs, and a bug must not repeat forever: the
            # jobs it was running end with it, once, and the next jobs run on a clean slate.
            except Exception as exc:  # noqa: BLE001
                failures += 1
                self._on_internal_error(exc)
                if failures > 1:  # failing with no job left to end: do not spin
                    time.sleep(min(1.0, 0.01 * 2**failures))
        self._shutdown()

    def _on_internal_error(self, exc: Exception, job: _JobState | None = None) -> None:
        """End ``job`` (when the error is known to be about it; else every job) with one
        SchedulerError; the details go to the kernel's log, not to the cell."""
        log.error("the local scheduler failed; its jobs are stopped", exc_info=exc)
        text = (f"the local scheduler failed ({type(exc).__name__}: {exc}), so the job was "
                "stopped; the kernel and the backend remain usable. This is a bug of "
                "pragma-kernel: please report it with the kernel's log")
        error = TaskError("SchedulerError", text, [f"SchedulerError: {text}"], platform=True)
        stopped = [job] if job is not None else list(self.jobs)
        self.ready = deque(unit for unit in self.ready if unit.job not in stopped)
        for each in stopped:
            self._stop_job(each, error)

    def _on_ready(self, ready: Any) -> None:
        if ready is self._wake_read:
            while self._wake_read.poll():
                self._wake_read.recv_bytes()
            while not self.commands.empty():
                self._on_command(*self.commands.get())
            return
        worker = next((w for w in self.workers if ready in (w.conn, w.process.sentinel)), None)
        if worker is None:
            return  # a worker replaced earlier in this round
        if ready is worker.conn:
            self._read_messages(worker)
        elif not worker.process.is_alive():
            self._on_worker_death(worker)

    def _read_messages(self, worker: _Worker) -> None:
        if not self._drain(worker):
            worker.process.join(timeout=1)
            self._on_worker_death(worker)

    def _drain(self, worker: _Worker) -> bool:
        """Handle every message the worker sent; False when its pipe is closed."""
        try:
            while worker.conn.poll():
                kind, unit_id, payload = worker.conn.recv()
                unit = worker.unit
                if unit is None or unit.id != unit_id:
                    continue  # from a replica the kernel gave up on
                if kind == "out":
                    self._on_output(unit, payload)
                else:
                    worker.unit = None
                    self._on_unit_done(unit, payload)
        except (EOFError, OSError):
            return False
        return True

    def _on_command(self, command: str, argument: Any) -> None:
        if command == "submit":
            try:
                self._on_submit(argument)
            except Exception as exc:  # noqa: BLE001 - reported as the job's failure
                self._fail_job(argument, exc)
        elif command == "cancel":
            self._on_cancel(argument)
        elif command == "fetch":
            self._on_fetch(*argument)
        elif command == "release":
            if argument[0] in self.parked:
                self._drop_parked(*argument)
        elif command == "close":
            self.closing = True

    # -- jobs ---------------------------------------------------------------------------------
    def _on_submit(self, run: JobRun) -> None:
        plan, life = run.plan, run.life
        job = _JobState(run, {name: [None] * max(p.task.runs, 1) for name, p in plan.tasks.items()})
        self.jobs.append(job)
        for name, value in plan.local_inputs.items():
            job.local_refs[name] = self._kernel_ref(job, transfer.Packed(value))
        for name in plan.tasks:  # in topological order: a reused task's parents are settled
            if name in plan.reuse and not life.flow.decides(name):  # a decision is not cached
                self._reuse(job, name, plan.reuse[name])
        for name in life.initially_ready():  # each once: reuse released none of them twice
            self._enqueue(job, name)
        self._finish_if_over(job)

    def _kernel_ref(self, job: _JobState, packed: transfer.Packed) -> transfer.ValueRef:
        """A value held by the kernel for the job's workers to read."""
        store = ValueStore(self.remote, job.fds, job.kept)
        return store.ref(packed, "pragma-input")

    def _reuse(self, job: _JobState, name: str, earlier: TaskResult) -> None:
        """cache=on: a task unchanged since a successful run is done with its earlier values."""
        runs = len(job.replicas[name])
        per_replica = []
        for index in range(runs):
            values = {k: (v[index] if runs > 1 else v) for k, v in earlier.exports.items()}
            per_replica.append(
                {k: self._kernel_ref(job, transfer.pack(v)) for k, v in values.items()}
            )
        job.refs[name] = per_replica
        if earlier.variables:
            job.variables[name] = [transfer.to_inline(transfer.pack(earlier.variables))]
        job.files[name] = _on_disk(earlier.files, os.path.join(job.run.folder, "reused", name))
        _life(job).reused(name, earlier)  # its dependents start with the first dispatch
        job.run.results[name].files = job.files[name]

    def _enqueue(self, job: _JobState, name: str) -> None:
        life = _life(job)
        runs = len(job.replicas[name])
        replicated = runs > 1 or name in life.replicated_by_flow
        ancestors = life.flow.ancestors(name)
        for replica in range(runs):
            spec = life.flow.follow_choices(TaskSpec.from_plan(
                job.run.plan, name, replica if replicated else None, job_id=job.run.job_id))
            spec.ancestors = ancestors  # control-flow edges count too
            spec.work_root, spec.link_files = job.run.folder, True
            spec.module_folder = job.run.plan.folder or None
            if name in life.rounds:
                spec.variables["PA_TASK_ITERATION"] = life.rounds[name]
            self.ready.append(_Unit(next(self.unit_ids), job, name, spec.replication, spec))

    def _dispatch(self) -> None:
        idle = [w for w in self.workers if w.unit is None and w.kill_reason is None]
        while idle and self.ready:
            unit = self.ready.popleft()
            if unit.job.run.results[unit.task].state.final:
                continue  # its task failed or the job was cancelled meanwhile
            worker = idle.pop()
            try:
                self._start_unit(worker, unit)
            except Exception as exc:  # noqa: BLE001 - a bug about this job ends this job only
                worker.unit = None
                self._on_internal_error(exc, unit.job)

    def _start_unit(self, worker: _Worker, unit: _Unit) -> None:
        timeout = unit.spec.timeout
        if timeout is not None and not 0 < timeout <= MAX_TIMEOUT:  # nan fails this too
            raise ValueError(f"task {unit.spec.label} has the timeout {timeout!r}, which is not "
                             f"a number of seconds above 0 and at most {MAX_TIMEOUT}")
        unit.attempts += 1
        unit.worker, worker.unit = worker, unit
        if timeout:
            unit.deadline = time.monotonic() + timeout
        _life(unit.job).started(unit.task, unit.attempts)
        try:
            # the worker gets the ancestors' variables in the refs: a chain's link need not
            # carry its whole ancestry
            spec = dataclasses.replace(unit.spec, ancestors=())
            worker.conn.send(("run", unit.id, spec, self._input_refs(unit)))
        except (BrokenPipeError, OSError):
            pass  # the worker is dead; its sentinel reports it and fails the unit

    def _input_refs(self, unit: _Unit) -> dict[str, Any]:
        job, spec = unit.job, unit.spec
        refs: dict[str, Any] = {}
        for name, source in spec.import_sources.items():
            if source is None:
                refs[name] = job.local_refs[name]
                continue
            values = [replica[name] for replica in job.refs[source]]
            as_list = len(values) > 1 or source in _life(job).replicated_by_flow
            refs[name] = values if as_list or spec.source_runs.get(source, 1) > 1 else values[0]
        carried = job.carried.get(unit.task, [])
        # (a scan of the ancestors only when some task put variables: a long chain that puts
        # none costs nothing per link)
        inherited = [b for a in spec.ancestors if a in job.variables
                     for b in job.variables[a]] if job.variables else []
        refs[VARIABLES_KEY] = carried + inherited
        if spec.input_files:
            refs[FILES_KEY] = select_inputs(
                spec.input_files, spec.file_sources, job.run.plan.input_files.get(unit.task, []),
                lambda task: job.files.get(task, []))
        return refs

    def _on_output(self, unit: _Unit, output: Output) -> None:
        _life(unit.job).output_of(unit.task, unit.replica, output)

    def _on_unit_done(self, unit: _Unit, report: UnitReport) -> None:
        job = unit.job
        if report.ok:
            if unit.worker is not None:
                job.holders.setdefault(unit.worker, []).append(unit.id)
            try:
                report.values = {k: self._adopt(job, ref) for k, ref in report.values.items()}
            except OSError as exc:  # the worker died before the kernel could open its values
                report = _platform_failure(
                    unit, "LostWorkerError", f"the values of {unit.spec.label} were lost: {exc}"
                )
        self._on_unit_final(unit, report)

    def _adopt(self, job: _JobState, ref: transfer.ValueRef) -> transfer.ValueRef:
        if not isinstance(ref, transfer.SegmentRef):
            return ref
        fd, own = transfer.reopen(ref)
        job.fds.append(fd)
        return own

    def _on_unit_final(self, unit: _Unit, report: UnitReport) -> None:
        job, result = unit.job, unit.job.run.results[unit.task]
        if result.state.final:
            return
        life = _life(job)
        if not report.ok and unit.attempts <= unit.spec.retries:
            life.retrying(unit.spec.label, unit.task, unit.attempts, report.error)
            self.ready.appendleft(unit)
            return
        life.replica_ended(unit.task, unit.replica)  # its last run: the tail of its output
        if not report.ok:
            result.finished = time.time()
            life.failed(unit.task, report.error)
            self._finish_if_over(job)
            return
        index = unit.replica or 0
        job.replicas[unit.task][index] = report
        if all(r is not None for r in job.replicas[unit.task]):
            self._on_task_done(job, unit.task)

    def _on_task_done(self, job: _JobState, name: str) -> None:
        reports: list[UnitReport] = job.replicas[name]  # type: ignore[assignment]
        result = job.run.results[name]
        job.refs[name] = [r.values for r in reports]
        put = [r.variables for r in reports if r.variables is not None]
        if put:  # only tasks that put variables: their descendants look them up
            job.variables[name] = put
        else:
            job.variables.pop(name, None)  # (a loop's earlier round may have put some)
        job.files[name] = [ref for r in reports for ref in r.files]
        result.files = job.files[name]
        result.file_traffic = FileTraffic()
        for report in reports:
            result.file_traffic.add(report.file_traffic)
        life = _life(job)
        decision = reports[0].flow
        if decision.get("loop"):
            self._next_round(job, name)
            return
        ready = []
        if "runs" in decision:
            self._replicate(job, name, decision["runs"])
        if "branch" in decision:
            ready += life.chose(name, decision["branch"])
        result.started = min(r.started for r in reports)
        result.finished = max(r.finished for r in reports)
        if len(reports) > 1:
            result.replica_time = sum(r.finished - r.started for r in reports)
        for task in ready + life.done(name):
            self._enqueue(job, task)
        self._dispatch()  # dependents start before the kernel copies the values for itself
        if not job.run.plan.fetch_exports:
            job.unfetched[name] = reports
        elif (lost := self._fill_values(job, name, reports)) is not None:
            life.lost(name, lost)
        self._finish_if_over(job)

    def _fill_values(self, job: _JobState, name: str,
                     reports: list[UnitReport]) -> TaskError | None:
        """Copy a done task's exports, result and variables into its TaskResult; the error
        when they were lost."""
        result = job.run.results[name]
        try:
            values = [{k: transfer.load(ref) for k, ref in r.values.items()} for r in reports]
        except OSError as exc:  # the worker holding them died meanwhile
            text = f"the values of task {name} were lost: {exc}"
            return TaskError("LostValuesError", text, [f"LostValuesError: {text}"], platform=True)
        replicated = len(reports) > 1 or name in _life(job).replicated_by_flow
        exports = [k for k in values[0] if k != RESULT_KEY]
        result.exports = {
            k: [v[k] for v in values] if replicated else values[0][k] for k in exports
        }
        results = [v[RESULT_KEY] for v in values]
        result.result = results if replicated else results[0]
        for blob in job.variables.get(name, []):
            result.variables.update(transfer.load(blob))
        return None

    def _drop_parked(self, run: JobRun, reason: str = "a newer pull=off job ended") -> None:
        """Free a run's unfetched values; a later fetch says they are gone."""
        job = self.parked.pop(run)
        for name in job.unfetched:
            job.run.results[name].notes.append(
                f"its values were released unfetched ({reason}); submit with pull=on to keep "
                "them"
            )
        job.unfetched.clear()
        self._release_values(job)

    def _on_fetch(self, run: JobRun, fetched: threading.Event) -> None:
        job = self.parked.pop(run, None)
        try:
            if job is not None:
                for name, reports in job.unfetched.items():
                    lost = self._fill_values(job, name, reports)
                    if lost is not None:  # the job is over: the task says what was lost
                        job.run.life.lost(name, lost)
                job.unfetched.clear()
                self._release_values(job)
        finally:
            fetched.set()

    # -- ProActive control flow ------------------------------------------------------------
    def _replicate(self, job: _JobState, name: str, runs: int) -> None:
        """A split's runs script decided how many replicas its process tasks run."""
        life = _life(job)
        for dependent in life.flow.dependents[name]:
            job.replicas[dependent] = [None] * runs
        life.replicated(name, runs)

    def _next_round(self, job: _JobState, name: str) -> None:
        """A loop's condition said loop again: its block runs once more from the start task,
        seeing the variables the round put."""
        life = _life(job)
        block = life.flow.loop_block(name)
        carried = [b for t in block for b in job.variables.get(t, [])]
        for task in block:
            job.carried[task] = carried
            job.replicas[task] = [None] * len(job.replicas[task])
        for task in life.loop_again(name):
            self._enqueue(job, task)

    def _on_cancel(self, run: JobRun) -> None:
        job = next((j for j in self.jobs if j.run is run), None)
        if job is None:
            return
        for worker in self.workers:
            if worker.unit is not None and worker.unit.job is job:
                worker.kill_reason = _cancelled_error()
                worker.kill()
        _life(job).cancelled()
        self._finish_if_over(job)

    def _stop_job(self, job: _JobState, error: TaskError) -> None:
        """End ``job`` at once: its running workers are killed, one of its unfinished tasks
        fails with ``error`` (the job's one message), the others are cancelled."""
        for worker in self.workers:
            if worker.unit is not None and worker.unit.job is job:
                worker.unit.deadline = None
                worker.kill_reason = error
                worker.kill()
        _life(job).stopped(error, "cancelled: the scheduler stopped the job")
        job.run.life.output.end_all()
        if job in self.jobs:
            self.jobs.remove(job)
        self._release_values(job)
        if not job.run.done:
            job.run.finish()

    def _fail_job(self, run: JobRun, exc: Exception) -> None:
        """A bug of the scheduler while starting a job: every task fails with it, visibly."""
        import traceback

        lines = traceback.format_exception(exc)
        error = TaskError(type(exc).__name__, str(exc), "".join(lines).splitlines(), platform=True)
        job = next((j for j in self.jobs if j.run is run), None)
        for name, result in run.results.items():
            if not result.state.final:
                run.life.failed(name, error)
        run.life.output.end_all()
        if job is not None:
            self.jobs.remove(job)
            self._release_values(job)
        run.finish()

    def _finish_if_over(self, job: _JobState) -> None:
        if job.run.done or not _life(job).over:
            return
        if job.unfetched:
            self.parked[job.run] = job  # values stay in the workers until fetched
            while len(self.parked) > MAX_PARKED:
                self._drop_parked(next(iter(self.parked)))
        else:
            self._release_values(job)
        _life(job).output.end_all()  # cancelled or killed replicas: what they held back
        self.jobs.remove(job)
        job.run.finish()

    def _release_values(self, job: _JobState) -> None:
        """Every value of the job is in the kernel by now: workers may drop their copies."""
        for fd in job.fds:
            os.close(fd)  # the kernel's mappings keep the data
        job.fds.clear()
        job.kept.clear()
        for worker, unit_ids in job.holders.items():
            if worker in self.workers:
                try:
                    worker.conn.send(("release", unit_ids))
                except OSError:
                    pass  # it died; its memory went with it
        job.holders.clear()

    # -- workers -----------------------------------------------------------------------------
    def _start_worker(self) -> _Worker:
        parent, child = self.context.Pipe()
        process = self.context.Process(target=worker_main, args=(child, self.remote, os.getpid()), daemon=True,
                                       name="pragma-worker")  # fmt: skip
        process.start()
        child.close()
        return _Worker(process, parent)

    def _on_worker_death(self, worker: _Worker) -> None:
        if worker not in self.workers:
            return
        self._drain(worker)  # a report sent just before the end still counts
        self.workers[self.workers.index(worker)] = self._start_worker()
        worker.conn.close()
        unit = worker.unit
        if unit is None or unit.job.run.results[unit.task].state.final:
            return
        error = worker.kill_reason or _death_error(unit, worker.process.exitcode)
        self._on_unit_final(unit, UnitReport(False, error=error))

    def _next_timeout(self) -> float | None:
        deadlines = [w.unit.deadline for w in self.workers if w.unit and w.unit.deadline]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            unit = worker.unit
            if unit and unit.deadline and now >= unit.deadline and worker.kill_reason is None:
                text = f"task {unit.spec.label} exceeded its timeout of {unit.spec.timeout:g} s"
                worker.kill_reason = TaskError(
                    "TimeoutError", text, [f"TimeoutError: {text}"], platform=True
                )
                worker.kill()

    def _shutdown(self) -> None:
        for job in list(self.jobs):
            self._on_cancel(job.run)
        for worker in self.workers:
            try:
                worker.conn.send(("stop",))
            except OSError:
                pass  # already gone
        deadline = time.monotonic() + 2
        for worker in self.workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.kill()
                worker.process.join(timeout=1)


def _on_disk(files: list[FileRef], folder: str) -> list[FileRef]:
    """Files whose content travelled (a stored result's) written into ``folder``, so the
    tasks link them."""
    kept = []
    for ref in files:
        if ref.data is not None:
            place(ref, folder)
            ref = FileRef(ref.path, ref.size, os.path.join(folder, ref.path), origin=ref.origin)
        kept.append(ref)
    return kept


def _platform_failure(unit: _Unit, ename: str, evalue: str) -> UnitReport:
    return UnitReport(False, error=TaskError(ename, evalue, [f"{ename}: {evalue}"], platform=True))


def _cancelled_error() -> TaskError:
    return TaskError(
        "Cancelled", "the job was cancelled", ["Cancelled: the job was cancelled"], platform=True
    )


def _death_error(unit: _Unit, exitcode: int | None) -> TaskError:
    if exitcode is not None and exitcode < 0:
        try:
            how = f"was killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"was killed by signal {-exitcode}"
        if exitcode == -signal.SIGSEGV:
            how += " (segmentation fault)"
    else:
        how = f"exited with status {exitcode}"
    text = f"the worker process running {unit.spec.label} {how}; it has been replaced"
    return TaskError("WorkerCrashed", text, [f"WorkerCrashed: {text}"], platform=True)
