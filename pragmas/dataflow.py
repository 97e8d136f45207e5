"""The data flow of a job: inferred for ``flow=auto`` tasks, checked for written ones.

:func:`infer_flow` reads every Python task with :func:`code_facts` and, for the tasks whose
flow is ``auto``, works out what they need and give:

- ``import``: each free name the body reads that an ancestor defines (the nearest), failing that
  an earlier task (the latest, in definition order), else the notebook's namespace holds;
- ``dep``: the tasks those names (and the ProActive variables it reads with a constant key) come
  from, when they are not ancestors already — the *inferred* edges;
- ``export``: the names it defines that a later task takes from it, or that an ordinary cell run
  after the task's cell reads (the cells as the kernel has seen them, from ``In``).

Written lists are kept (inference only adds) and checked on every job: :func:`check_task` at
definition (a name read that nothing provides, an import never read, an export never assigned),
:func:`JobFlow.notes` at validation (an export nobody reads, a dependency no variable flows
along). What the analysis cannot see through is said with its line, never guessed.
"""

from __future__ import annotations

import bisect
import builtins
import copy
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pragma_kernel.pragmas.cells import is_pragma_cell
from pragma_kernel.pragmas.code_facts import CodeFacts, code_facts
from pragma_kernel.pragmas.model import Job, Task

AUTO = "auto"
WRITTEN = "written"
FLOW_CHOICES = (AUTO, WRITTEN)

#: what the runtime binds in every task (``pragma_kernel.pragmas.runtime``)
RUNTIME_NAMES = frozenset({"variables", "replication", "display", "result", "__name__",
                           "__builtins__"})  # fmt: skip
#: what ProActive's Python script engine binds as well
PROACTIVE_NAMES = frozenset({"results", "resultMap", "genericInformation", "progress",
                             "userspaceapi", "globalspaceapi", "schedulerapi", "args",
                             "credentials", "localspace", "userspace", "globalspace",
                             "inputspace", "outputspace", "cachespace", "resultMetadata"})  # fmt: skip
BUILTIN_NAMES = frozenset(dir(builtins))
GIVEN_NAMES = RUNTIME_NAMES | PROACTIVE_NAMES | BUILTIN_NAMES


@dataclass(frozen=True)
class FlowFinding:
    """One thing the checker says about a task: ``kind`` is one of unprovided, unread_import,
    unassigned_export, cannot_infer (at definition), unread_export, dataless_dep (at
    validation, information only)."""

    task: str
    kind: str
    name: str
    message: str  #: with the cell and line, ready to show



@dataclass
class TaskFlow:
    """The lists a task runs with: written entries first, inferred ones added."""

    imports: list[str] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    dep: list[str] = field(default_factory=list)
    inferred_dep: list[str] = field(default_factory=list)


@dataclass
class JobFlow:
    tasks: dict[str, TaskFlow] = field(default_factory=dict)
    #: (provider, reader) -> the variables that flow along the edge, in reading order
    edge_variables: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    #: the tasks each task's inputs come from (for the "dependency carries nothing" note)
    sources: dict[str, set[str]] = field(default_factory=dict)
    findings: list[FlowFinding] = field(default_factory=list)  #: cannot-infer, unprovided
    later_reads: dict[str, set[str]] = field(default_factory=dict)  #: task -> names read after
    #: the tasks after whose cell the kernel has run an ordinary cell: only of those can it say
    #: that nothing after them reads an export (a notebook's first run has not shown them yet)
    seen_after: set[str] = field(default_factory=set)

    def applied(self, job: Job) -> Job:
        """A copy of ``job`` whose tasks carry the inferred lists (the job left as written)."""
        result = copy.deepcopy(job)
        for name, flow in self.tasks.items():
            task = result.tasks[name]
            task.imports, task.exports = list(flow.imports), list(flow.exports)
            task.dep = flow.dep + [d for d in task.dep if d not in flow.dep]
        return result

    def inferred_edges(self) -> set[tuple[str, str]]:
        return {(dep, name) for name, flow in self.tasks.items() for dep in flow.inferred_dep}

    def notes(self, job: Job) -> list[FlowFinding]:
        """At validation: exports nobody reads, dependencies no variable flows along (the
        lists are this flow's: ``job`` as written will do)."""
        found = []
        readers = {(p, v) for (p, _), names in self.edge_variables.items() for v in names}
        for task in job.tasks.values():
            flow = self.tasks.get(task.name)
            if flow is None:
                continue
            for name in flow.exports if task.name in self.seen_after else ():
                if (task.name, name) not in readers and name not in self.later_reads.get(
                        task.name, ()):  # fmt: skip
                    found.append(FlowFinding(task.name, "unread_export", name, (
                        f"{_where(task, None)}task '{task.name}' exports '{name}', which no "
                        "later task imports and no cell run after it reads")))
            found.extend(self._dataless_deps(job, task))
        return found

    def _dataless_deps(self, job: Job, task: Task) -> list[FlowFinding]:
        sources = self.sources.get(task.name, set())
        found = []
        for dep in self.tasks[task.name].dep:
            if dep not in job.tasks:
                continue
            other = next((t for t in (task, job.tasks[dep]) if t.language != "Python"), None)
            if other is not None:
                found.append(FlowFinding(task.name, "cannot_infer", dep, (
                    f"{_where(task, None)}task '{task.name}' depends on '{dep}': flow=auto "
                    f"cannot infer what flows along it, '{other.name}' being a "
                    f"{other.language} task (keep it written)")))
                continue
            if _files_flow(task, job.tasks[dep]):
                continue  # an order all the same: a file it writes is one the task reads
            if not any(s == dep or _is_ancestor(job, self, s, dep) for s in sources):
                found.append(FlowFinding(task.name, "dataless_dep", dep, (
                    f"{_where(task, None)}task '{task.name}' depends on '{dep}' but takes no "
                    f"variable from it: an order flow=auto cannot infer (keep it written)")))
        return found


#: above this many tasks offering a name, the nearest is searched for among the ancestors
#: first (a breadth-first walk that stops at the first) rather than by testing each offer
_FEW = 32


def _files_flow(task: Task, dep: Task) -> bool:
    from pragma_kernel.pragmas.task_files import may_overlap

    return any(may_overlap(i, o) for i in task.input_files for o in dep.output_files)


def _is_ancestor(job: Job, flow: JobFlow, candidate: str, of: str) -> bool:
    seen, frontier = set(), deque([of])
    while frontier:
        name = frontier.popleft()
        for dep in flow.tasks[name].dep if name in flow.tasks else ():
            if dep == candidate:
                return True
            if dep not in seen:
                seen.add(dep)
                frontier.append(dep)
    return False


def _where(task: Task, line: int | None) -> str:
    """``Cell In[4], line 6: `` — ``line`` of the body, or None for the pragma's line."""
    if line is not None:
        return f"{task.source.label}, line {task.source.first_line + line - 1}: "
    if task.path is None and task.source.first_line > 1:
        return f"{task.source.label}, line {task.source.first_line - 1}: "
    return f"{task.source.label}: "


def is_auto(job: Job, task: Task) -> bool:
    return (task.data_flow or job.data_flow) == AUTO


def setup_names(job: Job) -> frozenset[str]:
    """What the Python ``#%import`` code binds in every task."""
    facts = code_facts(job.import_code.get("Python", ""))
    return frozenset(facts.assigned) | frozenset(facts.modules)


def task_facts(task: Task) -> CodeFacts | None:
    return code_facts(task.code) if task.language == "Python" else None


# --------------------------------------------------------------------------- the checker


def check_task(job: Job, task: Task, namespace: Mapping[str, object] | None) -> list[FlowFinding]:
    """At definition: a name read that nothing provides, an import never read, an export
    never assigned; for a ``flow=auto`` task, what cannot be inferred."""
    facts = task_facts(task)
    if facts is None:
        return []
    given = GIVEN_NAMES | setup_names(job)
    found = []
    auto = is_auto(job, task)
    earlier = _offers_before(job, task) if auto else set()
    for name, line in facts.reads.items():
        if name in given or name in task.imports:
            continue
        if auto and (name in earlier or (namespace is not None and name in namespace)):
            continue
        hint = " and no task before it defines it, nor the notebook" if auto else (
            f"; add import=[{name}]")
        found.append(FlowFinding(task.name, "unprovided", name, (
            f"{_where(task, line)}task '{task.name}' reads '{name}', which no import, ancestor "
            f"or builtin provides{hint}: on a worker it would be a NameError")))
    if auto:
        found.extend(_limits(task, facts))
    for name in task.imports:
        if name not in facts.reads:
            found.append(FlowFinding(task.name, "unread_import", name, (
                f"{_where(task, None)}task '{task.name}' imports '{name}' but never reads it "
                "(before assigning it)")))
    defined = facts.defines()
    for name in task.exports:
        if name not in defined and name not in task.imports:
            found.append(FlowFinding(task.name, "unassigned_export", name, (
                f"{_where(task, None)}task '{task.name}' exports '{name}' but never assigns it")))
    return found


def _limits(task: Task, facts: CodeFacts) -> list[FlowFinding]:
    return [FlowFinding(task.name, "cannot_infer", limit.what, (
        f"{_where(task, limit.line)}task '{task.name}': cannot infer the data flow through "
        f"{limit.what}; write import=/export= for what it reads or sets there"))
        for limit in facts.limits]


def _offers_before(job: Job, task: Task) -> set[str]:
    names: set[str] = set()
    given = GIVEN_NAMES | setup_names(job)
    for other in job.tasks.values():
        if other is task:
            break
        names |= _offers(job, other, given)
    return names


def _offers(job: Job, task: Task, given: frozenset[str]) -> set[str]:
    if not is_auto(job, task):
        return set(task.exports)
    facts = task_facts(task)
    if facts is None:
        return set(task.exports)
    return {n for n in facts.defines() if n not in given} | set(task.exports)


# --------------------------------------------------------------------------- inference


def reads_after(history: Sequence[str] | None) -> tuple[dict[str, int], int]:
    """Name -> the last index of ``In`` where an ordinary cell reads it; and the index of the
    last ordinary cell (-1 for none)."""
    last: dict[str, int] = {}
    last_cell = -1
    for index, cell in enumerate(history or ()):
        if not isinstance(cell, str) or not cell.strip() or is_pragma_cell(cell):
            continue
        last_cell = index
        for name in code_facts(cell).reads:
            last[name] = index
    return last, last_cell


def _first_runs(history: Sequence[str] | None) -> dict[str, int]:
    """Cell text -> where it first appears in ``In`` (re-runs of the notebook included)."""
    first: dict[str, int] = {}
    for index, cell in enumerate(history or ()):
        if isinstance(cell, str):
            first.setdefault(cell, index)
    return first


def _first_run(history: Sequence[str] | None, first: Mapping[str, int], task: Task) -> int | None:
    """Where the cell that defined ``task`` first ran, or None when the kernel did not see it."""
    if not history or not task.cell or task.cell >= len(history):
        return None
    return first.get(history[task.cell])


class _Inference:
    def __init__(self, job: Job, namespace: Mapping[str, object] | None,
                 history: Sequence[str] | None) -> None:
        self.job = job
        self.namespace = namespace
        self.history = history
        self.given = GIVEN_NAMES | setup_names(job)
        self.order = {name: index for index, name in enumerate(job.tasks)}
        self.bit = {name: 1 << index for index, name in enumerate(job.tasks)}
        self.ancestors: dict[str, int] = {}
        self.flow = JobFlow()
        self.offers: dict[str, set[str]] = {}
        self.providers: dict[str, list[int]] = {}  #: name -> indexes of the tasks offering it
        self.putters: dict[str, list[int]] = {}  #: variable key -> indexes of tasks putting it
        self.names = list(job.tasks)
        self.need_export: dict[str, set[str]] = {name: set() for name in job.tasks}
        self._offering: dict[tuple[int, str], set[str]] = {}  #: see _named

    def run(self) -> JobFlow:
        for index, task in enumerate(self.job.tasks.values()):
            self.offers[task.name] = _offers(self.job, task, self.given)
            for name in self.offers[task.name]:
                self.providers.setdefault(name, []).append(index)
            facts = task_facts(task)
            for key in facts.variables_put if facts else ():
                self.putters.setdefault(key, []).append(index)
        for task in self.job.tasks.values():
            self._task(task)
        self._exports()
        return self.flow

    def _task(self, task: Task) -> None:
        deps = [d for d in dict.fromkeys(task.dep) if d in self.job.tasks and d != task.name]
        flow = self.flow.tasks[task.name] = TaskFlow(list(task.imports), [], deps)
        self.ancestors[task.name] = self._ancestors_of(deps)
        self.flow.sources[task.name] = set()
        facts = task_facts(task)
        auto = facts is not None and is_auto(self.job, task)
        reads = ([n for n in facts.reads if n not in self.given] if auto else []) + [
            n for n in task.imports]
        for name in dict.fromkeys(reads):
            provider = self._provider(task, name, self.providers, auto)
            if provider is not None:
                self._take(task, flow, provider, name, name)
                self.need_export[provider].add(name)
            elif auto and name not in flow.imports and (
                    self.namespace is None or name in self.namespace):  # fmt: skip
                flow.imports.append(name)
        for key in facts.variables_read if facts else ():
            if key in self.job.variables or key in task.variables:
                continue
            provider = self._provider(task, key, self.putters, auto)
            if provider is not None:
                self._take(task, flow, provider, None, f"variables['{key}']")
        if auto:
            self.flow.findings.extend(_limits(task, facts))

    def _take(self, task: Task, flow: TaskFlow, provider: str, name: str | None,
              label: str) -> None:
        if name is not None and name not in flow.imports:
            flow.imports.append(name)
        if provider not in flow.dep and not self._is_ancestor(provider, task.name):
            flow.dep.append(provider)
            flow.inferred_dep.append(provider)
            self.ancestors[task.name] |= self.ancestors.get(provider, 0) | self.bit[provider]
        self.flow.edge_variables.setdefault((provider, task.name), []).append(label)
        self.flow.sources[task.name].add(provider)

    def _ancestors_of(self, deps: Iterable[str]) -> int:
        bits = 0
        for dep in deps:  # a dep defined later than its dependent: its own deps are not known yet
            bits |= self.ancestors.get(dep, 0) | self.bit[dep]
        return bits

    def _is_ancestor(self, candidate: str, of: str) -> bool:
        return bool(self.ancestors.get(of, 0) & self.bit[candidate])

    def _provider(self, task: Task, name: str, index: dict[str, list[int]],
                  auto: bool) -> str | None:
        """The nearest ancestor offering ``name``; for an auto task, failing that, the latest
        earlier task offering it (unless that task comes after this one in the graph)."""
        offering = index.get(name, ())
        ancestors = self.ancestors[task.name]
        if ancestors and len(offering) > _FEW:  # (a chain whose links all offer it)
            found = self._search(task.name, self._named(index, name))
            if found is not None:
                return found
        candidates = [self.names[i] for i in offering if ancestors & (1 << i)] if ancestors else []
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            return self._nearest(task.name, set(candidates))
        if not auto:
            return None
        position = bisect.bisect_left(offering, self.order[task.name])
        if position == 0:
            return None
        provider = self.names[offering[position - 1]]
        return None if self._is_ancestor(task.name, provider) else provider

    def _named(self, index: dict[str, list[int]], name: str) -> set[str]:
        """The tasks offering ``name`` (per ``index``), as a set made once."""
        key = (id(index), name)
        if key not in self._offering:
            self._offering[key] = {self.names[i] for i in index[name]}
        return self._offering[key]

    def _nearest(self, start: str, candidates: set[str]) -> str:
        found = self._search(start, candidates)
        return found if found is not None else min(candidates, key=self.order.__getitem__)

    def _search(self, start: str, wanted: set[str]) -> str | None:
        """The ancestor of ``start`` in ``wanted`` fewest edges away (breadth first), if any."""
        seen, frontier = {start}, deque(self.flow.tasks[start].dep)
        while frontier:
            name = frontier.popleft()
            if name in wanted:
                return name
            if name not in seen:
                seen.add(name)
                frontier.extend(self.flow.tasks[name].dep if name in self.flow.tasks else ())
        return None

    def _exports(self) -> None:
        last_read, last_cell = reads_after(self.history)
        first = _first_runs(self.history)
        last_provider: dict[str, str] = {}
        for name, indexes in self.providers.items():
            last_provider[name] = self.names[indexes[-1]]
        for task in self.job.tasks.values():
            flow = self.flow.tasks[task.name]
            start = _first_run(self.history, first, task)
            later = {n for n in self.offers[task.name]
                     if start is not None and last_read.get(n, -1) > start}  # fmt: skip
            self.flow.later_reads[task.name] = later
            if start is not None and last_cell > start:
                self.flow.seen_after.add(task.name)
            flow.exports = list(task.exports)
            if not is_auto(self.job, task) or task.language != "Python":
                continue
            wanted = self.need_export[task.name] | {
                n for n in later if last_provider.get(n) == task.name}
            flow.exports += sorted(n for n in wanted if n not in flow.exports)


def infer_flow(job: Job, namespace: Mapping[str, object] | None = None,
               history: Sequence[str] | None = None) -> JobFlow:
    """The job's data flow (see the module docstring). ``namespace``: the notebook's variables
    (None: every free name is taken to be there); ``history``: ``In``, the cells run so far."""
    return _Inference(job, namespace, history).run()
