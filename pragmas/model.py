"""The job model: what the pragma cells of a notebook have declared so far.

Plain data, no behaviour beyond bookkeeping: validation lives in ``pragma_kernel.pragmas.validation``, drawing
in ``pragma_kernel.pragmas.graph``, running in the engine and backends. Every backend reads these classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_LANGUAGE = "Python"


@dataclass
class SourceLocation:
    """Where a piece of code came from, so errors point at the user's cell.

    ``first_line`` is the 1-based line of the cell where the code starts (the line after the
    pragma lines for a body). A runtime compiles the code padded with ``first_line - 1`` blank
    lines under the file name ``label`` so tracebacks carry the cell's own line numbers.
    """

    label: str = "<unknown>"  #: e.g. "Cell In[4]" or a file path for ``path=``
    first_line: int = 1


@dataclass
class Script:
    """A script attached to a task or the job (pre/post/selection/fork env/flow)."""

    code: str
    language: str = DEFAULT_LANGUAGE
    path: str | None = None
    source: SourceLocation = field(default_factory=SourceLocation)


@dataclass
class CodeSegment:
    """One cell's share of a task's code (multiblock mode appends cells to a task)."""

    code: str
    source: SourceLocation


DEFAULT_MAX_LOOP_ROUNDS = 1000  #: see FlowInfo.max_rounds; #%loop(max_rounds=N) changes it
MAX_LOOP_ROUNDS = 1_000_000  #: the most #%loop(max_rounds=N) accepts


DEFAULT_OUTPUT_LINES = 10_000  #: see OutputLimit
OUTPUT_CHARS_PER_LINE = 500  #: an output limit of N lines also stops at N * 500 characters


@dataclass(frozen=True)
class OutputLimit:
    """How much of each replica's text the cell shows as it comes: ``lines`` (None: all) and
    ``lines * OUTPUT_CHARS_PER_LINE`` characters; beyond it the text goes to a log file and the
    cell shows the last tenth when the replica ends (``pragma_kernel.pragmas.task_output``)."""

    lines: int | None = DEFAULT_OUTPUT_LINES

    @property
    def chars(self) -> int | None:
        return None if self.lines is None else self.lines * OUTPUT_CHARS_PER_LINE

    def __str__(self) -> str:
        return "off" if self.lines is None else str(self.lines)


@dataclass
class FlowInfo:
    """ProActive control flow: the block a task opens/closes and its flow script."""

    block: str | None = None  #: "start" | "end" | None
    action: str | None = None  #: "replicate" | "loop" | "if" | None
    script: Script | None = None  #: the runs / condition script
    target: str | None = None  #: loop target (start task)
    if_target: str | None = None
    else_target: str | None = None
    continuation_target: str | None = None
    #: a loop's cap: the round at which a condition that still says "loop" fails the loop
    #: instead (on the local and Dask backends; ProActive has no such cap)
    max_rounds: int = DEFAULT_MAX_LOOP_ROUNDS


#: The longest task timeout, in seconds: the longest wait a poll() can be given (2**31 - 1 ms,
#: about 24.8 days); the local scheduler's waits are made of those.
MAX_TIMEOUT = 2_147_483
#: The most replicas of one task and the most retries, as declared options (``runs=``,
#: ``retries=``): beyond them a typo would allocate millions of units.
MAX_RUNS = 10_000
MAX_RETRIES = 100


@dataclass
class Task:
    name: str
    code: str = ""
    language: str = DEFAULT_LANGUAGE
    source: SourceLocation = field(default_factory=SourceLocation)
    dep: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    runs: int = 1
    path: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    generic_info: dict[str, str] = field(default_factory=dict)
    precious_result: bool = False
    retries: int = 0
    timeout: float | None = None
    output_limit: OutputLimit | None = None  #: None: the job's, else the default
    pre_script: Script | None = None
    post_script: Script | None = None
    # ProActive-only attachments, carried into its job; other backends say they do not apply.
    selection_script: Script | None = None
    fork_env: Script | None = None
    flow: FlowInfo = field(default_factory=FlowInfo)
    #: multiblock mode: the cells ``code`` is made of, in order, each with its own location, so
    #: a runtime can compile them one by one and keep every traceback on its own cell. Empty
    #: when ``code`` comes from one place (``source``).
    segments: list[CodeSegment] = field(default_factory=list)
    #: "auto": import, export and dep are inferred from the code (``flow=auto``); "written":
    #: as written; None: as the job says (``Job.data_flow``)
    data_flow: str | None = None
    #: the execution count of the cell that defined the task (0: unknown), to find the cells
    #: run after it in ``In``
    cell: int = field(default=0, compare=False)
    #: False (``cache=off``): ``#%submit_job(cache=on)`` never reuses its result, and the
    #: tasks after it always run with it
    cache: bool = True
    #: files the task reads and writes: patterns relative to its own working directory
    #: (``pragma_kernel.pragmas.task_files``); ProActive's input and output files
    input_files: list[str] = field(default_factory=list)
    output_files: list[str] = field(default_factory=list)


@dataclass
class Job:
    """The current job of the kernel: named tasks in definition order."""

    name: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    generic_info: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    #: ``#%import(language=L)`` code, prepended to every task of language L
    import_code: dict[str, str] = field(default_factory=dict)
    #: where each language's ``import_code`` was written, for error locations
    import_source: dict[str, SourceLocation] = field(default_factory=dict)
    job_selection_script: Script | None = None
    job_fork_env: Script | None = None
    runtime_env: dict[str, Any] | None = None
    data_flow: str = "written"  #: "auto" or "written", for tasks that do not say (#%job(flow=))
    output_limit: OutputLimit | None = None  #: None: the default; a task's own wins

    def define(self, task: Task) -> Task | None:
        """Add or replace a task by name (re-running a cell is idempotent); return the old one."""
        old = self.tasks.get(task.name)
        self.tasks[task.name] = task
        return old

    def delete(self, name: str) -> Task:
        """Remove a task and the edges that pointed at it. KeyError when there is none."""
        task = self.tasks.pop(name)
        for other in self.tasks.values():
            if name in other.dep:
                other.dep.remove(name)
        return task

    def last_task(self) -> Task | None:
        return next(reversed(self.tasks.values()), None)
