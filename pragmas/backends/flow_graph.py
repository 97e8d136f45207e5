"""ProActive's control flow as the embedded backend runs it.

:class:`FlowGraph` adds the edges the model keeps as flow targets to a plan's dependencies: a
branch's if and else tasks wait for it, its continuation for whichever of them runs. It also
names the tasks of a loop block. The decisions themselves come from the flow scripts, run by
the task runtime after the task (``TaskOutcome.flow``); the scheduler applies them.
"""

from __future__ import annotations

from typing import Any

from pragma_kernel.pragmas.ancestry import Ancestry
from pragma_kernel.pragmas.backends.base import JobPlan


class FlowGraph:
    """The job's dependencies with ProActive's control-flow edges added: a branch's if and else
    tasks wait for it, its continuation for whichever of them runs; loop blocks."""

    def __init__(self, plan: JobPlan):
        self.plan = plan
        self.deps: dict[str, list[str]] = {n: list(p.deps) for n, p in plan.tasks.items()}
        self._continuations: dict[str, set[str]] = {}
        #: arm not taken -> the arm its branch took (a continuation's imports follow it)
        self.taken: dict[str, str] = {}
        self._ancestry: Ancestry | None = None  #: made at the first question (deps final)
        for name, planned in plan.tasks.items():
            flow = planned.task.flow
            if flow.action != "if":
                continue
            for target in (flow.if_target, flow.else_target):
                if target in self.deps and name not in self.deps[target]:
                    self.deps[target].append(name)
            after = flow.continuation_target
            if after in self.deps:
                arms = {t for t in (flow.if_target, flow.else_target) if t in self.deps}
                self.deps[after] += [t for t in arms if t not in self.deps[after]]
                self._continuations[after] = arms
        self.dependents: dict[str, list[str]] = {n: [] for n in plan.tasks}
        for name, deps in self.deps.items():
            for dep in deps:
                self.dependents[dep].append(name)

    def decides(self, name: str) -> bool:
        return self.plan.tasks[name].task.flow.script is not None

    def continues_after(self, task: str, arm: str) -> bool:
        """True when ``task`` is the continuation of a branch whose arm ``arm`` was not taken."""
        return arm in self._continuations.get(task, set())

    def choose(self, chosen: str, other: str) -> None:
        """A branch took ``chosen``: what a continuation imports from ``other`` comes from it
        (validation made sure both arms export it)."""
        self.taken[other] = chosen

    def follow_choices(self, spec: Any) -> Any:
        """``spec`` (a TaskSpec) with its imports from an arm not taken read from the arm taken."""
        if not self.taken:
            return spec
        for variable, source in spec.import_sources.items():
            if source in self.taken:
                spec.import_sources[variable] = self.taken[source]
        spec.source_runs = {self.taken.get(s, s): n for s, n in spec.source_runs.items()}
        return spec

    def ancestors(self, name: str) -> tuple[str, ...]:
        """Every task ``name`` waits for, directly or not, in the plan's order."""
        if self._ancestry is None:
            self._ancestry = Ancestry(self.plan.tasks, self.deps)
        return self._ancestry.of(name)

    def loop_block(self, end: str) -> list[str]:
        """The tasks of the loop ending at ``end``: its start, ``end``, and those between."""
        start = self.plan.tasks[end].task.flow.target
        between = {t for t in self.ancestors(end) if start in self.ancestors(t)}
        block = {start, end, *between}
        return [t for t in self.plan.tasks if t in block]
