"""A job on a Dask cluster as the kernel follows it (the Dask backend's ``DaskJobRun``).

Events from the workers (on the client's event loop: start, each output, end with the
report) and completions of the replicas' futures (``as_completed`` on a thread of its own)
settle each replica and then each task: done, failed (its own error, a worker it killed
each time, Dask's own failure), skipped (an upstream task failed: Dask fails dependents with
the same error) or cancelled. Reruns are told apart: a failed attempt retried (``retries``),
a worker lost under the task (Dask rescheduled it; said in the task's output too).
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from distributed import Future, as_completed
from distributed.scheduler import KilledWorker
from pragma_kernel.kernel.interrupts import keep_sigint_off_this_thread
from pragma_kernel.pragmas.backends.base import (
    JobPlan,
    JobRun,
    Listener,
    Output,
    TaskError,
    TaskState,
)
from pragma_kernel.pragmas.backends.dask_graph import JobGraph, RemoteExports
from pragma_kernel.pragmas.backends.dask_task import TaskFailed, TaskReport, report_of
from pragma_kernel.pragmas.backends.dask_watch import lost_scheduler_text

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pragma_kernel.pragmas.backends.dask import DaskBackend

log = logging.getLogger(__name__)

#: how long a finished task's report may lag behind its future before it is fetched instead
REPORT_WAIT = 1.0
#: seconds between two looks at the cluster's health while a job runs
WATCH_INTERVAL = 1.0


@dataclass
class ReplicaTrack:
    """What the kernel knows of one replica: its future and its attempts (retries, reruns
    after a lost worker), each named by the id its ``start`` event carried."""

    future: Future | None  #: None once the run is over (the results' exports hold them)
    attempts: list[str] = field(default_factory=list)
    workers: dict[str, str] = field(default_factory=dict)  #: attempt -> worker address
    delivered: dict[str, int] = field(default_factory=dict)  #: attempt -> outputs delivered
    ended: dict[str, TaskReport | None] = field(default_factory=dict)  #: None: fetch it
    state: TaskState | None = None  #: final state of this replica
    report: TaskReport | None = None
    blame: str | None = None  #: the failed ancestor, when skipped
    lost_at: float | None = None  #: when the worker of its last attempt was seen gone


class DaskJobRun(JobRun):
    """A job on the cluster: its futures, and what their events and completions said."""

    def __init__(self, job_id: str, plan: JobPlan, backend: DaskBackend, token: str,
                 listener: Listener):
        super().__init__(job_id, plan, backend, listener)
        self.backend: DaskBackend = backend
        self.token = token
        self.graph = JobGraph(self)
        self.replicas: dict[str, list[ReplicaTrack]] = {}  #: of each task's current round
        self.rounds: dict[str, int] = {}  #: loop block task -> its current round
        self.task_of_key: dict[Any, str] = {}  #: every future's key -> its task
        self.upstream: dict[str, list[str]] = {}  #: task -> the tasks its Dask task waits on
        self.helper_futures: list[Future] = []  #: slimmed copies, scattered inputs
        self.cancelled = False
        #: why the cluster cannot run the job any more (scheduler lost, no worker), once known
        self.unrunnable: str | None = None
        self._lock = threading.RLock()
        self._reported = threading.Condition(self._lock)
        self._early: list[dict] | None = []  #: events that came before submit() returned
        self._completions: as_completed | None = None

    # --- bookkeeping used while submitting --------------------------------------------------

    def add_replicas(self, task: str, futures: list[Future], round_: int) -> None:
        self.replicas[task] = [ReplicaTrack(future) for future in futures]
        self.rounds[task] = round_
        for future in futures:
            self.task_of_key[future.key] = task

    def add_reused(self, task: str, futures: list[Future]) -> None:
        """cache=on: a task done in an earlier run, its outcomes already on the cluster."""
        for future in futures:
            self.replicas.setdefault(task, []).append(ReplicaTrack(future, state=TaskState.DONE))
            self.task_of_key[future.key] = task

    def add_helper(self, task: str, future: Future) -> None:
        self.helper_futures.append(future)
        self.task_of_key[future.key] = task

    def all_futures(self) -> list[Future]:
        replicas = [t.future for tracks in self.replicas.values() for t in tracks]
        return replicas + self.helper_futures

    def announce_pending(self) -> None:
        self.life.announce()

    def submitted_all(self) -> None:
        """The first stage is submitted: handle the events that raced ahead of its
        bookkeeping (later stages are submitted under the lock that events take)."""
        with self._lock:
            early, self._early = self._early or [], None
            for message in early:
                self.on_event(message)
            if self.life.over and not self.done:
                self.finish()  # every task reused

    def finish(self) -> None:
        if self.plan.fetch_exports and not self.cancelled and self.unrunnable is None:
            self._prefetch()
        for tracks in self.replicas.values():  # from now on only the exports hold them
            for track in tracks:
                track.future = None
        self.helper_futures.clear()
        self.graph.drop_futures()
        self.life.output.end_all()
        super().finish()
        self.backend.forget(self)

    def fetch(self) -> None:
        """Bring every done task's exports into the kernel, in one gather."""
        exports = [r.exports for r in self.results.values()
                   if r.state is TaskState.DONE and isinstance(r.exports, RemoteExports)]
        wanted = [(e, name, getters) for e in exports
                  for name, getters in e.missing_getters().items()]
        values = self.backend.client.gather([getters for _, _, getters in wanted])
        for (exports_, name, _), gathered in zip(wanted, values):
            exports_.keep(name, gathered)

    def fetch_files(self) -> None:
        """Bring the done tasks' output files (their content) from the workers, in one
        gather."""
        wanted = [r for r in self.results.values() if r.state is TaskState.DONE and r.files
                  and isinstance(r.exports, RemoteExports)
                  and any(f.data is None and f.location is None for f in r.files)]
        getters = [r.exports.file_getters() for r in wanted]
        fetched = self.backend.client.gather(getters)
        for result, replicas in zip(wanted, fetched):
            if replicas:
                result.files = [ref for files in replicas for ref in files]

    def _prefetch(self) -> None:
        """pull=on: the exports come to the kernel as the job ends, all at once, instead of
        one round trip per value as they are read."""
        try:
            self.fetch()
        except Exception:  # they stay on the workers and are fetched one by one when read
            log.warning("could not prefetch the exports of Dask job %s", self.job_id,
                        exc_info=True)

    def release(self, reason: str) -> None:
        """Let the cluster drop this run's outcomes (exports not pulled yet become
        unavailable, with ``reason``)."""
        with self._lock:
            for result in self.results.values():
                if isinstance(result.exports, RemoteExports):
                    result.exports.release(reason)
            for tracks in self.replicas.values():
                for track in tracks:
                    track.future = None
            self.helper_futures.clear()

    # --- events from the workers (client's event loop) --------------------------------------

    def on_event(self, message: dict) -> None:
        with self._lock:
            if self._early is not None:
                self._early.append(message)
                return
            task, replica = message["task"], message["replica"]
            tracks = self.replicas.get(task)
            if tracks is None or self.done or message["round"] != self.rounds.get(task, 0):
                return
            track = tracks[replica or 0]
            if track.state is not None:
                return  # settled already (cancelled, or a late event)
            attempt, kind = message["attempt"], message["kind"]
            if kind == "start":
                self._on_start(task, replica, track, attempt, message["worker"])
            elif kind == "output" and attempt not in track.ended:
                if message["seq"] == track.delivered.get(attempt, 0):
                    track.delivered[attempt] = message["seq"] + 1
                    self._output(task, replica, pickle.loads(message["output"]))
            elif kind == "end":
                report = pickle.loads(message["report"]) if message["report"] else None
                track.ended[attempt] = report
                if report is not None:
                    self._deliver_rest(task, replica, track, attempt, report)
                self._reported.notify_all()

    def _on_start(self, task: str, replica: int | None, track: ReplicaTrack, attempt: str,
                  worker: str) -> None:
        if track.attempts:
            self._note_rerun(task, replica, track, worker)
        track.attempts.append(attempt)
        track.workers[attempt] = worker
        track.lost_at = None
        result = self.results[task]
        if result.state is TaskState.RUNNING:
            result.finished = None  # its clock had stopped with its worker: it works again
        self.life.started(task, len(track.attempts))

    def _note_rerun(self, task: str, replica: int | None, track: ReplicaTrack,
                    worker: str) -> None:
        """Why a replica starts again: its last attempt failed (``retries``), or the worker
        running it (or holding its result) died and Dask rescheduled it. A lost worker is
        also told in the task's output, as it happens: it is news on this backend only."""
        previous = track.attempts[-1]
        label, lost = _label(task, replica), track.workers[previous]
        report = track.ended.get(previous)
        failed = previous in track.ended and not (report is not None and report.ok)
        if failed:
            error = report.error if report is not None else None
            self.life.retrying(label, task, len(track.attempts), error)
            return
        if previous in track.ended:
            note = f"{label}: the worker {lost} holding its result was lost; Dask ran it again"
        else:
            note = f"{label}: the worker {lost} running it was lost; Dask rescheduled it on {worker}"
        self.results[task].notes.append(note)
        self._output(task, replica, Output("stream", name="stderr", text=f"Note: {note}\n"))

    def _deliver_rest(self, task: str, replica: int | None, track: ReplicaTrack,
                      attempt: str, report: TaskReport) -> None:
        """Outputs of an attempt not streamed (events may lag or be lost): from its report."""
        delivered = track.delivered.get(attempt, 0)
        track.delivered[attempt] = max(delivered, len(report.outputs))
        for output in report.outputs[delivered:]:
            self._output(task, replica, output)
        report.outputs = []  # the task's outputs hold what the kernel keeps of them

    # --- completions (the follow thread) ------------------------------------------------------

    def follow(self) -> None:
        """Settle each replica as its future completes; finish the run when all are final."""
        keep_sigint_off_this_thread()  # an interrupt is the cell's, never this thread's
        try:
            futures = [t.future for tracks in self.replicas.values() for t in tracks
                       if t.state is None]
            self._completions = as_completed(futures, loop=self.backend.client.loop)
            for future in self._completions:
                if self.done:
                    break
                self._complete(future)
        # Whatever breaks while following (scheduler gone, a bug) must not leave the notebook
        # waiting forever: the tasks left are failed with the reason.
        except Exception as exc:
            log.exception("following Dask job %s failed", self.job_id)
            self._fail_remaining(exc)

    def _complete(self, future: Future) -> None:
        task = self.task_of_key[future.key]
        replica = next((i for i, t in enumerate(self.replicas.get(task, ()))
                        if t.future is future), None)
        if replica is None:
            return  # of a loop round already over
        track = self.replicas[task][replica]
        label = _label(task, replica if len(self.replicas[task]) > 1 else None)
        if future.status == "finished":
            report = self._wait_for_report(task, replica, track)
            with self._lock:
                self._settle_replica(task, track, TaskState.DONE, report)
        elif future.status == "error":
            self._settle_error(task, label, track, future.exception())
        elif self.backend.client.status != "running":  # cancelled by the lost connection
            self.end_unrunnable("ClusterLostError", lost_scheduler_text(self.backend.address))
        else:  # cancelled
            with self._lock:
                if self.cancelled:
                    self._settle_replica(task, track, TaskState.CANCELLED)
                else:
                    error = _platform_error("CancelledError", f"Dask dropped task {label}: "
                                            f"{_cancel_reason(future)}")
                    self._settle_replica(task, track, TaskState.FAILED, error=error)

    def _wait_for_report(self, task: str, index: int, track: ReplicaTrack) -> TaskReport:
        with self._lock:
            self._reported.wait_for(lambda: _has_ended(track), REPORT_WAIT)
            report = _ok_report(track)
        if report is None:  # too big for an event, or the event is late: ask the worker
            report = self.backend.client.submit(report_of, track.future, pure=False).result()
            replica = index if len(self.replicas[task]) > 1 else None
            with self._lock:
                attempt = track.attempts[-1] if track.attempts else ""
                track.ended[attempt] = report
                self._deliver_rest(task, replica, track, attempt, report)
        return report

    def _settle_error(self, task: str, label: str, track: ReplicaTrack,
                      exc: BaseException) -> None:
        with self._lock:
            if isinstance(exc, TaskFailed) and exc.task == task:
                attempt = track.attempts[-1] if track.attempts else ""
                if attempt not in track.ended or track.ended[attempt] is None:
                    self._deliver_rest(task, exc.replica, track, attempt, exc.report)
                self._settle_replica(task, track, TaskState.FAILED, exc.report,
                                     error=exc.report.error)
            elif isinstance(exc, TaskFailed):
                self._settle_replica(task, track, TaskState.SKIPPED,
                                     blame=self._failed_upstream(task) or exc.task)
            elif isinstance(exc, KilledWorker) and self.task_of_key.get(exc.task, task) != task:
                self._settle_replica(task, track, TaskState.SKIPPED,
                                     blame=self._failed_upstream(task) or self.task_of_key[exc.task])
            elif isinstance(exc, KilledWorker):
                self._settle_replica(task, track, TaskState.FAILED,
                                     error=_killed_worker_error(label, exc))
            elif self._failed_upstream(task):  # Dask fails dependents with the same error
                self._settle_replica(task, track, TaskState.SKIPPED,
                                     blame=self._failed_upstream(task))
            else:  # Dask's own failure around the task (unpicklable input, lost data, ...)
                lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
                error = TaskError(type(exc).__name__, f"Dask could not run task {label}: {exc}",
                                  "".join(lines).rstrip("\n").split("\n"), platform=True)
                self._settle_replica(task, track, TaskState.FAILED, error=error)

    def _failed_upstream(self, task: str) -> str | None:
        return next((up for up in self.upstream.get(task, ())
                     if any(t.future.status == "error" for t in self.replicas[up])), None)

    def _settle_replica(self, task: str, track: ReplicaTrack, state: TaskState,
                        report: TaskReport | None = None, error: TaskError | None = None,
                        blame: str | None = None) -> None:
        if track.state is not None or self.results[task].state.final:
            return
        track.state, track.report, track.blame = state, report, blame
        if error is not None:
            self.results[task].error = error
        if all(t.state is not None for t in self.replicas[task]):
            self._settle_task(task)

    def _settle_task(self, task: str) -> None:
        self.life.output.end_task(task)  # the tails of what its replicas printed
        tracks = self.replicas[task]
        states = [t.state for t in tracks]
        state = next((s for s in (TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED)
                      if s in states), TaskState.DONE)
        result = self.results[task]
        reports = [t.report for t in tracks if t.report is not None]
        decides = state is TaskState.DONE and self.graph.flow.decides(task)
        if decides and not self.graph.decide(task, reports[0].flow if reports else {}):
            self._advance()  # a loop's next round
            return
        replicated = len(tracks) > 1 or task in self.graph.replicated_by_flow
        started = [r.started for r in reports if r.started]
        if started:  # the workers' clocks time the code itself, not the queueing
            result.started = min(started)
            result.finished = max(r.finished for r in reports)
        results = [r.result for r in reports]
        result.result = results if replicated else (results[0] if results else None)
        for report in reports:
            result.variables.update(report.variables)
            result.files += report.files  # their content stays on the workers until fetched
            result.file_traffic.add(report.file_traffic)
        if state == TaskState.DONE:
            names = tuple(self.plan.tasks[task].task.exports)
            result.exports = RemoteExports(self.backend.client, [t.future for t in tracks],
                                           names, replicated)
        blame = next((t.blame for t in tracks if t.blame), None)
        if len(reports) > 1:
            result.replica_time = sum(r.finished - r.started for r in reports)
        if state is TaskState.DONE:
            self.life.done(task)  # Dask starts its dependents (their futures wait on it)
        elif state is TaskState.FAILED:
            self.life.failed(task, None)  # its error is in place; what needs it is skipped
        elif state is TaskState.SKIPPED:
            self.life.skipped(task, f"{blame or task} failed")
        else:
            self.life.set_state(task, state)
        self._advance()

    def _advance(self) -> None:
        """Submit what a decision or a settled task let go; finish when all is final."""
        if self._completions is not None and not self.cancelled:
            for future in self.graph.submit_ready():
                self._completions.add(future)
        if self.life.over and not self.done:
            self.finish()

    # --- cancellation -----------------------------------------------------------------------

    def start_cancel(self) -> bool:
        """Mark the run cancelled; False when it is over already."""
        with self._lock:
            if self.done or self.cancelled:
                return False
            self.cancelled = True
            return True

    def settle_cancelled(self) -> None:
        with self._lock:
            for tracks in self.replicas.values():
                for track in tracks:
                    track.state = track.state or TaskState.CANCELLED
            self.life.cancelled()
            if not self.done:
                self.finish()

    # --- the cluster's health (the watch thread) ---------------------------------------------

    def watch(self) -> None:
        """Look at the cluster once a second until the run is over: the display says what is
        true now, a worker lost under a task stops its clock, and a cluster that cannot run
        the job any more (scheduler lost, no worker for a while) ends it with one message."""
        keep_sigint_off_this_thread()  # an interrupt is the cell's, never this thread's
        watch = self.backend.watch()
        while not self._done.wait(WATCH_INTERVAL):
            health = watch.check()
            with self._lock:
                if self.done:
                    return
                self.backend_state = health.description
                if health.workers is not None:
                    self._stop_clocks(health.workers)
            if health.problem is not None:
                ename = "ClusterLostError" if health.workers is None else "NoWorkersError"
                self.end_unrunnable(ename, health.problem)

    def _stop_clocks(self, workers: frozenset[str]) -> None:
        """A running task whose every started replica lost its worker is not working: its
        time stops when that was seen (and starts again if Dask reschedules it)."""
        now = time.time()
        for task, tracks in self.replicas.items():
            result = self.results[task]
            if result.state is not TaskState.RUNNING:
                continue
            started = [t for t in tracks if t.attempts and t.state is None]
            for track in started:
                if track.lost_at is None and track.workers[track.attempts[-1]] not in workers:
                    track.lost_at = now
            if started and all(t.lost_at is not None for t in started):
                result.finished = max(t.lost_at for t in started)

    def end_unrunnable(self, ename: str, problem: str) -> None:
        """The cluster cannot run this job: one unfinished task (a running one if any) fails
        with ``problem``, the others are cancelled, and the run ends."""
        with self._lock:
            if self.done or self.unrunnable is not None:
                return
            self.unrunnable = problem
            futures = self.all_futures()
            self.life.stopped(_platform_error(ename, problem),
                              "cancelled: the cluster cannot run the job")
            if self._completions is not None:
                self._completions.clear()
            self.finish()
        if self.backend.client.status == "running":  # let the cluster forget what is queued
            try:
                self.backend.client.cancel([f for f in futures if f is not None], force=True)
            except (OSError, TimeoutError, RuntimeError):
                log.warning("could not cancel the futures of Dask job %s", self.job_id,
                            exc_info=True)

    def _fail_remaining(self, exc: Exception) -> None:
        error = _platform_error(type(exc).__name__,
                                f"lost track of the Dask job: {one_line(exc)}")
        with self._lock:
            for task, result in self.results.items():
                if not result.state.final:
                    self.life.failed(task, error)
            if not self.done:
                self.finish()

    def _output(self, task: str, replica: int | None, output: Output) -> None:
        self.life.output_of(task, replica, output)  # recorded, shown within the task's limit


def _ok_report(track: ReplicaTrack) -> TaskReport | None:
    return next((r for r in track.ended.values() if r is not None and r.ok), None)


def one_line(exc: BaseException) -> str:
    """The first line of what an exception says (Dask's run on for pages)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _cancel_reason(future: Future) -> str:
    """Why Dask cancelled a future nobody cancelled (its FutureCancelledError says)."""
    reason = getattr(getattr(future, "_state", None), "exception", None)
    return one_line(reason) if reason is not None else "the client lost it"


def _has_ended(track: ReplicaTrack) -> bool:
    """An attempt ended well, or ended with a report too big to ride on its event."""
    return any(r is None or r.ok for r in track.ended.values())


def _label(task: str, replica: int | None) -> str:
    return task if replica is None else f"{task}[{replica}]"


def _platform_error(ename: str, evalue: str) -> TaskError:
    return TaskError(ename, evalue, [f"{ename}: {evalue}"], platform=True)


def _killed_worker_error(label: str, exc: KilledWorker) -> TaskError:
    worker = getattr(exc.last_worker, "address", exc.last_worker)
    return _platform_error(
        "KilledWorker",
        f"task {label} killed every worker it ran on (the last was {worker}): their processes "
        "died while running it, and Dask gave up after its allowed failures "
        "(distributed.scheduler.allowed-failures). Look for a crash, os._exit, or memory "
        "exhaustion in the task")
