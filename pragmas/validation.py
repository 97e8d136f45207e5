"""Checks a job before anything runs; ``draw_job`` uses the same graph facts.

:func:`validate` finds every problem in one pass: dependency cycles (naming the tasks), deps on
tasks that do not exist (warnings; the edge is dropped), imports that neither an ancestor exports
nor the notebook's namespace holds, ``runs`` that is not a positive integer, Python bodies that do
not compile, control-flow targets that do not exist. It also computes what a plan needs: a
topological order, the existing deps of each task and where each import comes from.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from pragma_kernel.pragmas.errors import Location, TaskSyntaxError
from pragma_kernel.pragmas.model import Job, SourceLocation, Task
from pragma_kernel.pragmas.task_files import (
    FileRef,
    may_overlap,
    notebook_files,
    pattern_problem,
)

#: ``import_sources`` value meaning "from the notebook's namespace at submission"
LOCAL_NAMESPACE = None


@dataclass
class ValidationReport:
    order: list[str] = field(default_factory=list)  #: topological (cycle members appended last)
    deps: dict[str, tuple[str, ...]] = field(default_factory=dict)  #: existing deps only
    #: task -> import name -> nearest exporting ancestor, or None for the local namespace
    import_sources: dict[str, dict[str, str | None]] = field(default_factory=dict)
    #: task -> input_files pattern -> the ancestors whose output_files it may name, nearest first
    file_sources: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    #: task -> the files of the notebook's folder its input_files name (with ``folder``)
    input_files: dict[str, list[FileRef]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: input files found neither in the notebook's folder nor among ancestors' outputs: an
    #: error for a job that runs, not for one only described (drawn, exported)
    missing_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.missing_files


def unknown_deps(job: Job, task: Task) -> list[str]:
    return [d for d in task.dep if d not in job.tasks]


def check_python_syntax(code: str, source: SourceLocation) -> TaskSyntaxError | None:
    """Compile ``code``; on failure a located error at the line of the cell (or file)."""
    try:
        compile(code, source.label, "exec", dont_inherit=True)
    except SyntaxError as error:
        return _syntax_error(code, source, error)
    except ValueError as error:  # e.g. null bytes in the source
        return TaskSyntaxError(str(error), Location("", source.first_line, 0), label=source.label)
    return None


def _syntax_error(code: str, source: SourceLocation, error: SyntaxError) -> TaskSyntaxError:
    lines = code.splitlines()
    index = (error.lineno or 1) - 1
    line = lines[index] if 0 <= index < len(lines) else (error.text or "").rstrip("\n")
    column = max((error.offset or 1) - 1, 0)
    return TaskSyntaxError(
        f"{error.msg}",
        Location(line, source.first_line + index, min(column, len(line))),
        label=source.label,
    )


def validate(job: Job, namespace: Mapping[str, object] | None = None,
             folder: str | None = None) -> ValidationReport:
    """Every problem of ``job``; ``namespace`` None skips the check of local imports,
    ``folder`` (the notebook's) None the check that the input files exist."""
    report = ValidationReport()
    tasks = job.tasks
    for task in tasks.values():
        existing = tuple(d for d in dict.fromkeys(task.dep) if d in tasks)
        report.deps[task.name] = existing
        for dep in unknown_deps(job, task):
            report.warnings.append(
                f"task '{task.name}' depends on '{dep}', which is not defined; that dependency "
                "is ignored"
            )
        _check_task(task, report)
    _check_import_code(job, report)
    report.order, cyclic = _topological_order(report.deps)
    for cycle in _cycles(report.deps, cyclic):
        names = ", ".join(sorted(set(cycle)))
        steps = ", ".join(f"{a} needs {b}" for a, b in itertools.pairwise(cycle))
        report.errors.append(f"the tasks {names} depend on each other in a cycle: {steps}")
    _resolve_imports(job, report, namespace)
    _check_flow(job, report)
    _check_arm_imports(job, report)
    _check_shared_exports(job, report)
    _check_files(job, report, folder)
    return report


def _check_files(job: Job, report: ValidationReport, folder: str | None) -> None:
    """Patterns inside the working directory; where each input comes from (an ancestor's
    outputs, else the notebook's folder, where it must exist now); no two tasks, neither
    after the other, writing the same file."""
    for task in job.tasks.values():
        for param in ("input_files", "output_files"):
            for pattern in getattr(task, param):
                problem = pattern_problem(pattern)
                if problem is not None:
                    report.errors.append(f"task '{task.name}', {param}: {problem}")
    deps = _import_deps(job, report)
    for task in job.tasks.values():
        sources = {p: _writers(job, deps, task.name, p) for p in task.input_files}
        report.file_sources[task.name] = {p: s for p, s in sources.items() if s}
        if folder is None or not task.input_files:
            continue
        found, unmatched = notebook_files(folder, task.input_files)
        report.input_files[task.name] = found
        for pattern in unmatched:
            if not sources[pattern]:
                report.missing_files.append(
                    f"task '{task.name}' reads {pattern!r} (input_files), but the notebook's "
                    f"folder ({folder}) has no file it names, and no task it depends on "
                    "writes one (output_files)")
    _check_shared_outputs(job, report, deps)


def _writers(job: Job, deps: Mapping[str, tuple[str, ...]], task: str,
             pattern: str) -> tuple[str, ...]:
    """The ancestors of ``task`` (breadth first: the nearest first) whose output_files may
    name a file ``pattern`` names."""
    return tuple(name for name in nearest_first(deps, task)
                 if any(may_overlap(pattern, out) for out in job.tasks[name].output_files))


def _check_shared_outputs(job: Job, report: ValidationReport,
                          deps: Mapping[str, tuple[str, ...]]) -> None:
    """Two tasks writing a file of the same name, neither after the other (nor the two arms
    of a branch): which one the dependents and the notebook would get is not defined."""
    writers = [t for t in job.tasks.values() if t.output_files]
    if len(writers) < 2:
        return
    ancestors = _Ancestors(deps)
    arms = {frozenset((t.flow.if_target, t.flow.else_target))
            for t in job.tasks.values() if t.flow.action == "if"}
    for first, second in itertools.combinations(writers, 2):
        if (first.name in ancestors.of(second.name) or second.name in ancestors.of(first.name)
                or frozenset((first.name, second.name)) in arms):
            continue
        shared = next(((a, b) for a in first.output_files for b in second.output_files
                       if may_overlap(a, b)), None)
        if shared is not None:
            same = repr(shared[0]) if shared[0] == shared[1] else f"{shared[0]!r} and {shared[1]!r}"
            report.errors.append(
                f"tasks '{first.name}' and '{second.name}' both write {same} (output_files) "
                "and neither runs after the other: which file their dependents and the "
                "notebook would get is not defined. Rename one, or make one task depend on "
                "the other")


def _check_task(task: Task, report: ValidationReport) -> None:
    if not isinstance(task.runs, int) or isinstance(task.runs, bool) or task.runs < 1:
        report.errors.append(
            f"task '{task.name}': runs must be a positive whole number, not {task.runs!r}"
        )
    if task.language == "Python":
        error = check_python_syntax(task.code, task.source)
        if error is not None:
            report.errors.append(f"task '{task.name}': {_describe_syntax(error)}")


def _check_import_code(job: Job, report: ValidationReport) -> None:
    code = job.import_code.get("Python")
    if code:
        source = job.import_source.get("Python", SourceLocation("#%import", 1))
        error = check_python_syntax(code, source)
        if error is not None:
            report.errors.append(f"the #%import code: {_describe_syntax(error)}")


def _describe_syntax(error: TaskSyntaxError) -> str:
    loc = error.location
    return f"SyntaxError: {error.message} ({error.label}, line {loc.lineno}: {loc.line.strip()})"


def _topological_order(deps: Mapping[str, tuple[str, ...]]) -> tuple[list[str], list[str]]:
    """Kahn's algorithm keeping definition order among ready tasks; the second list holds the
    tasks left over (on or behind a cycle), in definition order."""
    waiting = {name: len(d) for name, d in deps.items()}
    dependents: dict[str, list[str]] = {name: [] for name in deps}
    for name, ds in deps.items():
        for d in ds:
            dependents[d].append(name)
    ready = deque(name for name, count in waiting.items() if count == 0)
    order = []
    while ready:
        name = ready.popleft()
        order.append(name)
        for child in dependents[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    placed = set(order)
    left = [name for name in deps if name not in placed]
    return order + left, left


def _cycles(deps: Mapping[str, tuple[str, ...]], left: list[str]) -> list[list[str]]:
    """One cycle per group of tasks that depend on each other, as [a, b, ..., a] where each
    task needs the next one. Every left-over task has a left-over dep, so walking deps from
    one always ends in a cycle."""
    remaining = set(left)
    seen_cycles: set[frozenset[str]] = set()
    cycles = []
    for start in left:
        path: list[str] = []
        position: dict[str, int] = {}
        node = start
        while node not in position:
            position[node] = len(path)
            path.append(node)
            node = next(d for d in deps[node] if d in remaining)
        cycle = path[position[node]:] + [node]
        key = frozenset(cycle)
        if key not in seen_cycles:
            seen_cycles.add(key)
            cycles.append(cycle)
    return cycles


def nearest_first(deps: Mapping[str, tuple[str, ...]], task: str) -> Iterator[str]:
    """The ancestors of ``task``, breadth first (deps in order): the nearest first."""
    seen = {task}
    frontier = deque(deps.get(task, ()))
    while frontier:
        name = frontier.popleft()
        if name in seen:
            continue
        seen.add(name)
        yield name
        frontier.extend(deps.get(name, ()))


def nearest_exporter(job: Job, deps: Mapping[str, tuple[str, ...]], task: str,
                     variable: str) -> str | None:
    """The nearest ancestor of ``task`` (breadth first, deps in order) exporting ``variable``."""
    return next((n for n in nearest_first(deps, task) if variable in job.tasks[n].exports), None)


def _import_deps(job: Job, report: ValidationReport) -> dict[str, tuple[str, ...]]:
    """The deps through which values flow: a branch's arms also take from the branch task, its
    continuation from whichever arm runs."""
    deps = dict(report.deps)
    for task in job.tasks.values():
        flow = task.flow
        if flow.action != "if":
            continue
        arms = tuple(a for a in (flow.if_target, flow.else_target) if a in job.tasks)
        for arm in arms:
            deps[arm] = (*deps[arm], task.name)
        after = flow.continuation_target
        if after in job.tasks:
            deps[after] = (*deps[after], *arms)
    return deps


def _check_arm_imports(job: Job, report: ValidationReport) -> None:
    """A continuation importing from an arm gets it from whichever arm ran: both must export
    it."""
    for task in job.tasks.values():
        flow = task.flow
        after = flow.continuation_target
        if flow.action != "if" or after not in report.import_sources:
            continue
        arms = {flow.if_target: "if", flow.else_target: "else"}
        for variable, source in report.import_sources[after].items():
            other = next((a for a in arms if a != source), None)
            if source in arms and other in job.tasks and variable not in job.tasks[other].exports:
                report.errors.append(
                    f"task '{after}' imports '{variable}' after the branch of '{task.name}': "
                    f"its {arms[source]} task '{source}' exports it, but its {arms[other]} task "
                    f"'{other}' does not, and either may run; export it from both"
                )


def _check_shared_exports(job: Job, report: ValidationReport) -> None:
    """Two tasks exporting one name, neither after the other (nor the two arms of a branch,
    of which one runs): a task importing it from both could take either, and the notebook gets
    whichever finishes the topological order. The import is refused; the pull is a warning."""
    exporters: dict[str, list[str]] = {}
    for task in job.tasks.values():
        for variable in task.exports:
            exporters.setdefault(variable, []).append(task.name)
    shared = {v: names for v, names in exporters.items() if len(names) > 1}
    if not shared:
        return
    deps = _import_deps(job, report)
    ancestors = _Ancestors(deps)
    arms = {frozenset((t.flow.if_target, t.flow.else_target))
            for t in job.tasks.values() if t.flow.action == "if"}
    for variable, names in shared.items():
        rivals = _independent(_latest(names, deps), ancestors, arms)
        if rivals:
            report.warnings.append(
                f"the tasks {' and '.join(repr(n) for n in rivals[0])} both export "
                f"'{variable}' and neither runs after the other: the notebook gets the one "
                "that comes last in the job's order")
        exporting = set(names)
        for task in job.tasks.values():
            if variable not in task.imports:
                continue
            found = _nearest_exporters(deps, task.name, exporting)
            for pair in _independent(found, ancestors, arms)[:1]:
                report.errors.append(
                    f"task '{task.name}' imports '{variable}', which both '{pair[0]}' and "
                    f"'{pair[1]}' export, and neither runs after the other: which one it would "
                    "get is not defined. Rename one export, or make one task depend on the other")


def _latest(names: list[str], deps: Mapping[str, tuple[str, ...]]) -> list[str]:
    """The ``names`` no other of them runs after (one walk up the graph, however many)."""
    overridden: set[str] = set()
    stack = [d for name in names for d in deps.get(name, ())]
    while stack:
        task = stack.pop()
        if task not in overridden:
            overridden.add(task)
            stack.extend(deps.get(task, ()))
    return [n for n in names if n not in overridden]


def _nearest_exporters(deps: Mapping[str, tuple[str, ...]], task: str,
                       exporting: set[str]) -> list[str]:
    """The exporters ``task`` reaches without passing another exporter (usually one: in a
    chain that overrides a name, its parent)."""
    seen, found = {task}, []
    frontier = deque(deps.get(task, ()))
    while frontier:
        name = frontier.popleft()
        if name in seen:
            continue
        seen.add(name)
        if name in exporting:
            found.append(name)
        else:
            frontier.extend(deps.get(name, ()))
    return found


def _independent(names: list[str], ancestors: _Ancestors,
                 arms: set[frozenset[str | None]]) -> list[tuple[str, str]]:
    """The pairs of ``names`` of which neither is the other's ancestor (nor branch arms)."""
    if len(names) < 2:
        return []
    return [(a, b) for a, b in itertools.combinations(names, 2)
            if frozenset((a, b)) not in arms
            and a not in ancestors.of(b) and b not in ancestors.of(a)]


class _Ancestors:
    """Each task's ancestors, computed when first asked (only for shared exports)."""

    def __init__(self, deps: Mapping[str, tuple[str, ...]]):
        self._deps = deps
        self._known: dict[str, frozenset[str]] = {}

    def of(self, task: str) -> frozenset[str]:
        if task not in self._known:
            seen: set[str] = set()
            stack = list(self._deps.get(task, ()))
            while stack:
                dep = stack.pop()
                if dep not in seen:
                    seen.add(dep)
                    stack.extend(self._deps.get(dep, ()))
            self._known[task] = frozenset(seen)
        return self._known[task]


def _resolve_imports(job: Job, report: ValidationReport,
                     namespace: Mapping[str, object] | None) -> None:
    deps = _import_deps(job, report)
    for task in job.tasks.values():
        sources: dict[str, str | None] = {}
        for variable in task.imports:
            exporter = nearest_exporter(job, deps, task.name, variable)
            if exporter is None and namespace is not None and variable not in namespace:
                report.errors.append(
                    f"task '{task.name}' imports '{variable}', but no task it depends on "
                    f"(directly or not) exports '{variable}' and the notebook has no variable "
                    f"'{variable}'"
                )
            sources[variable] = exporter
        report.import_sources[task.name] = sources


def _check_flow(job: Job, report: ValidationReport) -> None:
    loop_starts = {t.flow.target for t in job.tasks.values() if t.flow.action == "loop"}
    for task in job.tasks.values():
        flow = task.flow
        if flow.block == "start" and flow.action is None and task.name not in loop_starts:
            report.errors.append(
                f"task '{task.name}' opens a replicate or loop control that is not finished "
                "(#%split needs #%runs, #%process and #%merge; #%start needs #%condition and "
                "#%loop)"
            )
        if flow.action == "if":
            missing = [f"#%{step}" for step, target in (("if", flow.if_target),
                       ("else", flow.else_target), ("continuation", flow.continuation_target))
                       if not target]  # fmt: skip
            if missing:
                report.errors.append(f"the branch control of task '{task.name}' is not finished: "
                                     f"{', '.join(missing)} missing")
        targets = {"loop target": flow.target, "if task": flow.if_target,
                   "else task": flow.else_target,
                   "continuation task": flow.continuation_target}  # fmt: skip
        for role, target in targets.items():
            if target and target not in job.tasks:
                report.errors.append(
                    f"task '{task.name}': its {role} '{target}' is not defined"
                )
