"""The one interface every scheduler implements: local, Dask, ProActive.

The engine validates the job, freezes it into a :class:`JobPlan` and hands it to
``Backend.submit`` together with a listener. The backend runs the tasks (through
``pragma_kernel.pragmas.runtime.run_task`` wherever they execute), calls the listener as things happen
(state changes, output), and keeps each task's :class:`TaskResult` in the returned
:class:`JobRun`. The listener is called from backend threads; it must be quick and thread-safe.
"""

from __future__ import annotations

import enum
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pragma_kernel.pragmas.model import Job, Task
from pragma_kernel.pragmas.task_files import FileRef, FileTraffic


class TaskState(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  #: an ancestor failed
    CANCELLED = "cancelled"  #: the job was cancelled (interrupt) before it finished

    @property
    def final(self) -> bool:
        return self not in (TaskState.PENDING, TaskState.RUNNING)


@dataclass(frozen=True)
class PlannedTask:
    """A task as it will run: its existing deps and where each import comes from."""

    task: Task
    deps: tuple[str, ...]  #: only deps on tasks that exist (unknown ones were dropped, warned)
    #: import name -> name of the nearest ancestor task exporting it, or None for the local
    #: namespace snapshot (``JobPlan.local_inputs``)
    import_sources: dict[str, str | None]
    #: input_files pattern -> the ancestors declaring output_files it may name, nearest first
    #: (none: only the notebook's folder serves it)
    file_sources: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.task.name


#: ``#%submit_job``'s options that only ProActive applies (where and with which files it runs)
PLACEMENT_OPTIONS = ("nodesource", "host", "token", "input_path", "output_path")


@dataclass
class JobPlan:
    """A validated, frozen job: what a backend needs and nothing it must look up elsewhere."""

    job: Job
    name: str
    tasks: dict[str, PlannedTask]  #: in a topological order
    #: cloudpickled values of the imports read from the local namespace at submission
    local_inputs: dict[str, bytes] = field(default_factory=dict)
    #: ``cache=on``: tasks unchanged since a successful earlier run, with that run's results.
    #: A backend marks them done without running them and feeds their exports (and put
    #: variables) to dependents; a backend that cannot simply runs them again.
    reuse: dict[str, TaskResult] = field(default_factory=dict)
    #: False (``#%submit_job(pull=off)``): a backend may leave large exports and results where
    #: they were made until :meth:`JobRun.fetch` asks for them; True: bring them as they come.
    fetch_exports: bool = True
    #: ``#%submit_job``'s ProActive placement options (nodesource, host, token, input_path,
    #: output_path) that were given; other backends do not apply them
    placement: dict[str, str] = field(default_factory=dict)
    #: the notebook's folder at submission: where input files come from, outputs go after
    folder: str = ""
    #: task -> the files of the notebook's folder its input_files name (snapshot at submission)
    input_files: dict[str, list[FileRef]] = field(default_factory=dict)

    def dependents(self, name: str) -> list[str]:
        return [t.name for t in self.tasks.values() if name in t.deps]


@dataclass
class Output:
    """One output of a task, in the order it was produced (a Jupyter output, minus the cell)."""

    #: "stream" | "display" | "omitted" (text the cell left out, in a log file: its place is in
    #: ``metadata``; see ``pragma_kernel.pragmas.task_output``)
    kind: str
    name: str = ""  #: stream name: "stdout" | "stderr"
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)  #: mime bundle for "display"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskError:
    """Why a task failed, ready to show: a traceback that reads like Python's, on cell lines."""

    ename: str
    evalue: str
    traceback: list[str]  #: lines, last one "ename: evalue"
    platform: bool = False  #: True for platform failures (crash, timeout, lost worker)


@dataclass
class TaskResult:
    """What became of one task (all its replicas)."""

    name: str
    state: TaskState = TaskState.PENDING
    exports: dict[str, Any] = field(default_factory=dict)  #: values (lists for runs>1)
    result: Any = None  #: ``result`` (list for runs>1)
    variables: dict[str, Any] = field(default_factory=dict)  #: what the task put
    outputs: list[Output] = field(default_factory=list)
    error: TaskError | None = None
    started: float | None = None
    finished: float | None = None
    attempts: int = 0
    #: sum of its replicas' run times when runs > 1 (0: ``duration`` says it all)
    replica_time: float = 0.0
    notes: list[str] = field(default_factory=list)  #: e.g. "rescheduled after a lost worker"
    #: the files it wrote that it declares in output_files (all replicas'); their content is on
    #: this machine (``location``), carried (``data``), or still where it ran (neither: the
    #: backend's ``JobRun.fetch_files`` brings it)
    files: list[FileRef] = field(default_factory=list)
    file_traffic: FileTraffic = field(default_factory=FileTraffic)  #: its files' bytes

    @property
    def duration(self) -> float:
        if self.started is None or self.finished is None:
            return 0.0
        return self.finished - self.started


@dataclass
class TaskEvent:
    """Reported to the listener as it happens."""

    task: str
    kind: str  #: "state" | "output"
    state: TaskState | None = None
    output: Output | None = None
    replica: int | None = None


Listener = Callable[[TaskEvent], None]


def _ignore(event: TaskEvent) -> None:
    """The listener of a run nobody watches."""


class JobRun:
    """A submitted job. Backends fill ``results`` and call :meth:`finish` when all is final."""

    def __init__(self, job_id: str, plan: JobPlan, backend: Backend,
                 listener: Listener | None = None):
        from pragma_kernel.pragmas.job_life import JobLife  # it builds on this module

        self.job_id = job_id
        self.plan = plan
        self.backend = backend
        self.results: dict[str, TaskResult] = {n: TaskResult(n) for n in plan.tasks}
        #: the tasks' states and what follows from them: the backend reports events to it
        self.life = JobLife(self, listener or _ignore)
        self.submitted = time.time()
        self.finished: float | None = None
        #: what the backend is like now, when the job's display must say it (e.g. a Dask
        #: cluster that lost its workers); None: as described when the job started
        self.backend_state: str | None = None
        #: why the run was cancelled ("cancelled by an interrupt", "stopped: kernel restarting"),
        #: None while it was not
        self.stop_reason: str | None = None
        self._done = threading.Event()
        self._finish_callbacks: list[Callable[[], None]] = []
        self._callbacks_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job is over; interruptible (short waits in a loop)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.wait(0.05):
            if deadline is not None and time.monotonic() >= deadline:
                return False
        return True

    @property
    def over(self) -> bool:
        """Every task is final (``finished`` is set), maybe before :attr:`done`: the finish
        callbacks run in between."""
        return self.finished is not None

    def finish(self) -> None:
        """All is final: run the finish callbacks, then wake the waiters, so that whoever
        waits for the run finds what the callbacks publish (the job's final display) out."""
        self.finished = time.time()
        with self._callbacks_lock:
            callbacks, self._finish_callbacks = self._finish_callbacks, []
        try:
            for callback in callbacks:
                callback()
        finally:
            self._done.set()

    def when_finished(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the run is over (at once if it is), before :meth:`wait`
        returns; from the thread that finishes it. It must be quick and must not raise."""
        with self._callbacks_lock:
            if self.finished is None:
                self._finish_callbacks.append(callback)
                return
        callback()

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the run (see :meth:`Backend.cancel`); ``reason`` is what its display says."""
        if self.stop_reason is None and not self.done:
            self.stop_reason = reason
        self.backend.cancel(self)

    def fetch(self) -> None:
        """Make sure the exports and results of the done tasks are in ``results`` (after a
        ``fetch_exports=False`` plan); backends that always bring them do nothing."""

    def fetch_files(self) -> None:
        """Make sure the output files of the done tasks have their content on this machine
        (``TaskResult.files``); backends that always bring them do nothing."""

    def release(self, reason: str) -> None:
        """Let the backend drop the values it still holds for this finished run (a
        ``fetch_exports=False`` plan's); a later :meth:`fetch` brings nothing, and the tasks'
        notes give ``reason``."""


class Backend(ABC):
    """A scheduler. Implementations: ``local.LocalBackend``, ``dask.DaskBackend``,
    ``proactive.ProActiveBackend``."""

    name: str = "?"

    def ensure_ready(self) -> None:
        """Raise a PragmaError saying why, when no job can be submitted now (a connection
        that was lost); called before a job's display is shown."""

    @abstractmethod
    def submit(self, plan: JobPlan, listener: Listener) -> JobRun:
        """Start running the plan and return at once."""

    @abstractmethod
    def cancel(self, run: JobRun) -> None:
        """Stop running tasks, cancel queued ones (state CANCELLED), keep finished results."""

    def close(self) -> None:
        """Release workers / clusters / connections."""

    def describe(self) -> str:
        """One line for the user: what this backend is connected to."""
        return self.name

    def dashboard_url(self) -> str | None:
        """The scheduler's own portal or dashboard, where it has one."""
        return None
