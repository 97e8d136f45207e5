"""The code that runs inside a task, identical on every backend (SPEC §3).

CONTRACT (implemented by the engine/runtime work; other backends call only this):

    spec = TaskSpec.from_plan(plan, task_name, replication)      # in the kernel, picklable
    outcome = run_task(spec, inputs, emit=None)                   # wherever the task runs

``inputs`` maps each import name to its value (already unpickled; a list of replica values
when the source task has runs>1) plus the key ``"__variables__"`` for the ProActive-style
variables inherited from ancestors. ``emit`` (optional) receives each ``Output`` as it is
produced, for streaming. ``run_task`` never raises for user errors: the outcome says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from pragmas.backends.base import Output, TaskError
from pragmas.model import Script, SourceLocation


@dataclass
class TaskSpec:
    """Everything one replica of one task needs; picklable, no references to the job."""

    job_name: str
    task_name: str
    language: str
    body: str
    source: SourceLocation
    setup_code: str = ""  #: the job's ``#%import`` code for this language
    pre_script: Script | None = None
    post_script: Script | None = None
    exports: tuple[str, ...] = ()
    variables: dict[str, Any] = field(default_factory=dict)  #: job + task variables
    replication: int | None = None  #: index of this replica when runs > 1
    timeout: float | None = None


@dataclass
class TaskOutcome:
    ok: bool
    exports: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    variables: dict[str, Any] = field(default_factory=dict)  #: put by this task
    outputs: list[Output] = field(default_factory=list)
    error: TaskError | None = None
    started: float = 0.0
    finished: float = 0.0


def run_task(
    spec: TaskSpec, inputs: dict[str, Any], emit: Callable[[Output], None] | None = None
) -> TaskOutcome:
    raise NotImplementedError("implemented by the engine/runtime work")
