"""The life of one submitted job, the same on every backend.

A backend runs replicas and moves values; what becomes of the job's tasks is decided here, in
one place, from the events the backend reports: a task started, wrote an output, is done,
failed, was reused, a flow script decided (replicate, branch, loop again), the job was
cancelled or stopped. :class:`JobLife` owns the tasks' states and their consequences (which
tasks become ready, which are skipped, the notes that say why, a loop block's next round),
routes outputs through the job's :class:`~pragmas.task_output.JobOutput` (the cell's limits),
shields the backend from a listener that raises (a broken display never stops a job), and
finishes the run once every task is final. It knows no process, thread or cluster: it is
tested alone (tests/pragmas/test_job_life.py), and the three backends are held to one
behaviour by tests/pragmas/test_flow_backends.py.

Not thread-safe: a backend calls it from one thread at a time (the local scheduler's thread,
the Dask run's lock, the ProActive monitor's thread).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from pragma_kernel.pragmas.backends.base import (
    Listener,
    Output,
    TaskError,
    TaskEvent,
    TaskResult,
    TaskState,
)
from pragma_kernel.pragmas.backends.flow_graph import FlowGraph
from pragma_kernel.pragmas.task_output import JobOutput

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pragma_kernel.pragmas.backends.base import JobRun

log = logging.getLogger(__name__)

#: note of a task reused from an earlier run
REUSED_NOTE = "reused from an earlier run (cache=on)"


class JobLife:
    """The states of one run's tasks, changed only through the event methods below; each
    returns the tasks the event made ready to start (a backend that schedules by itself, as
    Dask and ProActive do, may ignore them)."""

    def __init__(self, run: JobRun, listener: Listener):
        self.run = run
        self.results: dict[str, TaskResult] = run.results
        self.flow = FlowGraph(run.plan)
        self._listener = listener
        self.listener_broke = False  #: the display raised once (logged; the job went on)
        self.output = JobOutput(run, notify=self._notify)
        #: task -> dependencies (control-flow edges included) not done yet
        self.waiting: dict[str, int] = {n: len(d) for n, d in self.flow.deps.items()}
        #: tasks whose replica count a split's runs script decided (dependents get lists)
        self.replicated_by_flow: set[str] = set()
        self.rounds: dict[str, int] = {}  #: loop block task -> its current round
        self._unfinished = len(self.results)

    # -- questions -------------------------------------------------------------------------------
    @property
    def over(self) -> bool:
        """Every task is final."""
        return self._unfinished == 0

    def initially_ready(self) -> list[str]:
        return [n for n, count in self.waiting.items()
                if count == 0 and self.results[n].state is TaskState.PENDING]

    # -- events ------------------------------------------------------------------------------------
    def announce(self) -> None:
        """Tell the listener every task is pending (before anything started)."""
        for name in self.results:
            self._notify(TaskEvent(name, "state", state=TaskState.PENDING))

    def started(self, task: str, attempt: int = 1, at: float | None = None) -> None:
        """A replica of ``task`` started (its ``attempt``-th run)."""
        result = self.results[task]
        if result.state.final:
            return
        result.attempts = max(result.attempts, attempt)
        if result.state is TaskState.PENDING:
            result.started = at or time.time()
            self._set(task, TaskState.RUNNING)

    def output_of(self, task: str, replica: int | None, output: Output) -> None:
        self.output.add(task, replica, output)

    def replica_ended(self, task: str, replica: int | None) -> None:
        """A replica ran for the last time: the cell gets what its output limit held back."""
        self.output.end(task, replica)

    def retrying(self, label: str, task: str, attempt: int, error: TaskError | None) -> None:
        why = f" ({error.ename})" if error is not None else ""
        self.results[task].notes.append(f"{label}: attempt {attempt} failed{why}; retrying")

    def done(self, task: str) -> list[str]:
        """Every replica of ``task`` succeeded (its values are the backend's business)."""
        if self.results[task].state.final:
            return []
        self.output.end_task(task)
        self._set(task, TaskState.DONE)
        return self._release_dependents(task)

    def reused(self, task: str, earlier: TaskResult) -> list[str]:
        """``cache=on``: the task is done with an earlier run's results."""
        result = self.results[task]
        result.exports, result.result = dict(earlier.exports), earlier.result
        result.variables, result.outputs = dict(earlier.variables), list(earlier.outputs)
        result.files = list(earlier.files)
        result.started = result.finished = time.time()
        result.notes.append(REUSED_NOTE)
        return self.done(task)

    def failed(self, task: str, error: TaskError | None) -> None:
        """``task`` failed for good (retries spent): what depends on it is skipped."""
        result = self.results[task]
        if result.state.final:
            return
        self.output.end_task(task)
        if error is not None:
            result.error = error
        self._set(task, TaskState.FAILED)
        self.skip_descendants(task, f"{task} failed")

    def lost(self, task: str, error: TaskError) -> None:
        """A done task's values were lost before the kernel had them: it failed after all."""
        result = self.results[task]
        result.error = error
        if result.state is TaskState.DONE:
            self._set(task, TaskState.FAILED)
            self.skip_descendants(task, f"{task} failed")
        else:
            self.failed(task, error)

    def skipped(self, task: str, why: str, descendants: bool = True) -> None:
        """``task`` will not run (``why``: what the note says after "skipped: ")."""
        result = self.results[task]
        if result.state.final:
            return
        result.notes.append(f"skipped: {why}")
        self._set(task, TaskState.SKIPPED)
        if descendants:
            self.skip_descendants(task, why)

    def skip_descendants(self, task: str, why: str) -> None:
        for dependent in self.flow.dependents[task]:
            if self.results[dependent].state is TaskState.PENDING:
                self.skipped(dependent, why)

    def replicated(self, task: str, runs: int) -> None:
        """A split's runs script decided how many replicas its process tasks run."""
        for dependent in self.flow.dependents[task]:
            self.replicated_by_flow.add(dependent)
            self.results[dependent].notes.append(f"replicated {runs} times by {task}")

    def chose(self, task: str, branch: str) -> list[str]:
        """A branch's condition chose ``branch`` ("if" or "else"): the other arm is not run,
        nor what needs it, except the continuation, which follows the chosen arm (and reads
        its imports from it). Returns what became ready."""
        flow = self.run.plan.tasks[task].task.flow
        chosen, other = ((flow.if_target, flow.else_target) if branch == "if"
                         else (flow.else_target, flow.if_target))
        if not other or other not in self.results:
            return []
        self.flow.choose(chosen, other)
        result = self.results[other]
        result.notes.append(f"not run: {task} chose {branch} ({chosen})")
        self._set(other, TaskState.SKIPPED)
        ready = []
        for dependent in self.flow.dependents[other]:
            if self.flow.continues_after(dependent, other):
                self.waiting[dependent] -= 1
                if self.waiting[dependent] == 0:
                    ready.append(dependent)
            else:
                self.skipped(dependent, f"{task} chose {branch}")
        return ready

    def loop_again(self, end: str) -> list[str]:
        """A loop's condition said loop again: its block's tasks are pending once more (the
        next round); returns the block's first tasks."""
        block = self.flow.loop_block(end)
        for task in block:
            self.rounds[task] = self.rounds.get(task, 0) + 1
            self.waiting[task] = sum(1 for d in self.flow.deps[task] if d in block)
            if self.results[task].state.final:
                self._unfinished += 1
            self.results[task].state = TaskState.PENDING
            self._notify(TaskEvent(task, "state", state=TaskState.PENDING))
        return [t for t in block if self.waiting[t] == 0]

    def cancelled(self, note: str | None = None) -> list[str]:
        """The job was cancelled: every unfinished task is; returns those that were running
        (their replicas are the backend's to stop)."""
        running = [n for n, r in self.results.items() if r.state is TaskState.RUNNING]
        for name, result in self.results.items():
            if not result.state.final:
                _stop_clock(result)
                if note:
                    result.notes.append(note)
                self._set(name, TaskState.CANCELLED)
        return running

    def stopped(self, error: TaskError, note: str) -> list[str]:
        """The job cannot go on (its scheduler failed, the cluster is gone): one unfinished
        task (a running one if any) fails with ``error``, the job's one message; the others
        are cancelled with ``note``. Returns the tasks that were running."""
        unfinished = [r for r in self.results.values() if not r.state.final]
        unfinished.sort(key=lambda r: r.state is not TaskState.RUNNING)
        running = [r.name for r in unfinished if r.state is TaskState.RUNNING]
        for index, result in enumerate(unfinished):
            _stop_clock(result)
            if index == 0:
                result.error = error
                self._set(result.name, TaskState.FAILED)
            else:
                result.notes.append(note)
                self._set(result.name, TaskState.CANCELLED)
        return running

    def set_state(self, task: str, state: TaskState) -> None:
        """A state the backend observed (a scheduler that decides by itself, e.g. ProActive)."""
        if state is TaskState.DONE:
            self.done(task)
        elif state is TaskState.RUNNING:
            self.started(task)
        else:
            self._set(task, state)

    # -- inside ----------------------------------------------------------------------------------
    def _release_dependents(self, task: str) -> list[str]:
        ready = []
        for dependent in self.flow.dependents[task]:
            self.waiting[dependent] -= 1
            if (self.waiting[dependent] == 0
                    and self.results[dependent].state is TaskState.PENDING):
                ready.append(dependent)
        return ready

    def _set(self, task: str, state: TaskState) -> None:
        result = self.results[task]
        previous = result.state
        if previous == state:
            return
        result.state = state
        if state.final and not previous.final:
            self._unfinished -= 1
            if result.finished is None and result.started is not None:
                result.finished = time.time()
        elif previous.final and not state.final:
            self._unfinished += 1
        self._notify(TaskEvent(task, "state", state=state))

    def _notify(self, event: TaskEvent) -> None:
        """Tell the listener; a listener that raises is logged (once) and the job goes on."""
        try:
            self._listener(event)
        except Exception:  # a broken display must not stop or fail the job
            if not self.listener_broke:
                log.exception("the job's display failed on %s; the job goes on", event)
            self.listener_broke = True


def counts(results: dict[str, TaskResult]) -> dict[TaskState, int]:
    return {s: sum(r.state is s for r in results.values()) for s in TaskState}


def counts_text(results: dict[str, TaskResult]) -> str:
    """``"3 done, 1 failed"``: the tasks per state."""
    return ", ".join(f"{n} {s.value}" for s, n in counts(results).items() if n) or "no task"


def _stop_clock(result: TaskResult) -> None:
    """An unfinished task ends now, unless its clock stopped already (its worker was lost)."""
    if result.finished is None and result.started is not None:
        result.finished = time.time()
