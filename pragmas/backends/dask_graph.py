"""How a job becomes Dask futures, stage by stage (the Dask backend's ``JobGraph``), and how a
finished task's exports stay on the workers until read (``RemoteExports``).

A task is submitted as soon as every task it depends on has futures, so the scheduler sees the
job's whole shape and runs it without the kernel in between, except where ProActive's control
flow decides at run time: the dependents of a task with a flow script are submitted
once its decision is known: a split's ``runs`` sets how many replicas its process tasks run, a
branch's condition submits the chosen arm (the other and what needs only it are skipped), a
loop's condition submits its block again, each round seeing the variables the last one put.
The dependencies include the flow's edges (``flow_graph.FlowGraph``, shared with the embedded
backend so both read the flow alike).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from distributed import Client, Future
from pragma_kernel.pragmas.backends.base import TaskResult, TaskState
from pragma_kernel.pragmas.backends.dask_task import (
    ReplicaCall,
    ReplicaOutcome,
    export_of,
    files_of,
    run_replica,
    slim,
)
from pragma_kernel.pragmas.runtime import TaskSpec
from pragma_kernel.pragmas.task_files import FileRef

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pragma_kernel.pragmas.backends.dask import DaskJobRun

#: local inputs larger than this are scattered to the cluster once, not embedded in each task
SCATTER_LIMIT = 1 << 20


class JobGraph:
    """Submits a run's tasks as their dependencies allow; applies control-flow decisions."""

    def __init__(self, run: DaskJobRun):
        self.run, self.plan = run, run.plan
        self.client: Client = run.backend.client
        self.life = run.life
        self.flow = run.life.flow
        self.submitted: set[str] = set()  #: tasks with futures in their current round
        self.decisions: dict[str, dict[str, Any]] = {}
        self.runs_of = {n: max(p.task.runs, 1) for n, p in self.plan.tasks.items()}
        self.replicated_by_flow = run.life.replicated_by_flow  #: dependents see lists
        self.iteration = run.life.rounds  #: loop block task -> its round
        self.carried: dict[str, list[Future]] = {}  #: loop block task -> last round's outcomes
        self.local_inputs: dict[str, bytes | Future] = {}
        #: the notebook's files the tasks read, with their content (large ones scattered)
        self.local_files: dict[str, FileRef | Future] = {}
        self._slimmed: dict[tuple[str, tuple[str, ...], int], list[Future]] = {}

    def drop_futures(self) -> None:
        """The run is over: only its results' exports keep outcomes on the cluster."""
        self._slimmed.clear()
        self.carried.clear()
        self.local_inputs.clear()
        self.local_files.clear()

    # --- stages -------------------------------------------------------------------------------

    def start(self) -> None:
        """The local inputs, the reused tasks (cache=on), then all that can be submitted."""
        self._place_local_inputs()
        for name, earlier in self.plan.reuse.items():
            if name in self.plan.tasks and _reusable(earlier) and not self.flow.decides(name):
                self._reuse(name, earlier)
        self.submit_ready()

    def submit_ready(self) -> list[Future]:
        """Submit every task whose dependencies all have futures (and decisions, for those
        with a flow script); return the new replica futures."""
        new: list[Future] = []
        for name in self.plan.tasks:  # topological: a task's dependencies come first
            if name in self.submitted or self.run.results[name].state.final:
                continue
            if all(self._allows(name, dep) for dep in self.flow.deps[name]):
                new += self._submit(name)
        return new

    def _allows(self, name: str, dep: str) -> bool:
        if dep not in self.submitted:  # a branch's arm not taken lets its continuation go
            skipped = self.run.results[dep].state is TaskState.SKIPPED
            return skipped and self.flow.continues_after(name, dep)
        return not self.flow.decides(dep) or dep in self.decisions

    def unsubmitted_dependents(self, name: str) -> list[str]:
        return [d for d in self.flow.dependents[name] if d not in self.submitted]

    # --- control flow -------------------------------------------------------------------------

    def decide(self, name: str, decision: dict[str, Any]) -> bool:
        """Apply a flow script's decision; False when the task is not done (a loop again)."""
        self.decisions[name] = decision
        if decision.get("loop"):
            self._next_round(name)
            return False
        if "runs" in decision:
            for dependent in self.flow.dependents[name]:
                self.runs_of[dependent] = decision["runs"]
            self.life.replicated(name, decision["runs"])
        if "branch" in decision:
            self.life.chose(name, decision["branch"])  # Dask submits what is ready itself
        return True

    def _next_round(self, end: str) -> None:
        """The loop's block runs again from its start, seeing what this round put."""
        block = self.flow.loop_block(end)
        carried = [t.future for task in block for t in self.run.replicas.get(task, [])]
        for task in block:
            self.carried[task] = carried
            self.submitted.discard(task)
            self.run.replicas.pop(task, None)
        self.life.loop_again(end)

    # --- submitting ---------------------------------------------------------------------------

    def _submit(self, name: str) -> list[Future]:
        planned = self.plan.tasks[name]
        upstream = {up: self._outcomes(up, self._imported_from(name, up))
                    for up in self._upstream(name)}
        self.run.upstream[name] = list(upstream)
        local = {n: self.local_inputs[n]
                 for n, source in planned.import_sources.items() if source is None}
        runs, round_ = self.runs_of[name], self.iteration.get(name, 0)
        futures = []
        for index in range(runs):
            call = ReplicaCall(self.run.token, self.run.backend.topic, self._spec(name, index),
                               round_)
            futures.append(self.client.submit(
                run_replica, call, local, upstream, self.carried.get(name),
                self._files_of_notebook(name), key=(f"{name}-{self.run.token}", index, round_), pure=False,
                retries=planned.task.retries or None))
        self.run.add_replicas(name, futures, round_)
        self.submitted.add(name)
        return futures

    def _spec(self, name: str, index: int) -> TaskSpec:
        replicated = self.runs_of[name] > 1 or name in self.replicated_by_flow
        spec = self.flow.follow_choices(TaskSpec.from_plan(
            self.plan, name, index if replicated else None, job_id=self.run.job_id))
        spec.ancestors = self.flow.ancestors(name)  # control-flow edges count too
        if name in self.iteration:
            spec.variables["PA_TASK_ITERATION"] = self.iteration[name]
        for source in spec.source_runs:
            if source in self.replicated_by_flow:  # a list, even of one replica's value
                spec.source_runs[source] = max(self.runs_of[source], 2)
        return spec

    def _reuse(self, name: str, earlier: TaskResult) -> None:
        """cache=on: done with the earlier run's values; dependents read them on the cluster
        (where they still are, or scattered there again)."""
        runs = self.runs_of[name]
        futures = earlier.exports.futures() if isinstance(earlier.exports, RemoteExports) else None
        if futures is None:
            outcomes = [ReplicaOutcome(
                {k: (v[i] if runs > 1 else v) for k, v in earlier.exports.items()},
                dict(earlier.variables) if i == 0 else {}, {},
                files=[ref.with_data() for ref in earlier.files] if i == 0 else [])
                for i in range(runs)]
            futures = self.client.scatter(outcomes, hash=False)
        self.run.add_reused(name, futures)
        self.submitted.add(name)
        self.life.reused(name, earlier)
        self.run.results[name].exports = RemoteExports(self.client, futures,
                                                       tuple(earlier.exports), runs > 1)

    def _place_local_inputs(self) -> None:
        wanted = {n for p in self.plan.tasks.values()
                  for n, source in p.import_sources.items() if source is None}
        for name in sorted(wanted):
            value = self.plan.local_inputs[name]
            if len(value) > SCATTER_LIMIT:  # once to the cluster, not in every task's spec
                future = self.client.scatter(value, hash=False)
                self.run.add_helper(f"local {name}", future)
                self.local_inputs[name] = future
            else:
                self.local_inputs[name] = value

    def _files_of_notebook(self, name: str) -> list[FileRef | Future]:
        """The notebook's files the task reads, read once here and sent with it (a large one
        scattered to the cluster once, for every task reading it)."""
        files = []
        for ref in self.plan.input_files.get(name, []):
            if ref.path not in self.local_files:
                loaded = ref.with_data()
                if ref.size > SCATTER_LIMIT:
                    loaded = self.client.scatter(loaded, hash=False)
                    self.run.add_helper(f"file {ref.path}", loaded)
                self.local_files[ref.path] = loaded
            files.append(self.local_files[ref.path])
        return files

    def _upstream(self, name: str) -> list[str]:
        """Dependencies (order, variables), import sources (data) and the ancestors whose
        output files it reads, that have futures."""
        wanted = set(self.flow.deps[name]) | {s for s in self._sources(name).values() if s}
        wanted |= {s for sources in self.plan.tasks[name].file_sources.values() for s in sources}
        return [t for t in self.plan.tasks if t in wanted and t in self.submitted]

    def _sources(self, name: str) -> dict[str, str | None]:
        """Where each import of ``name`` comes from, an arm not taken replaced by the taken."""
        taken = self.flow.taken
        return {v: taken.get(s, s) if s else s
                for v, s in self.plan.tasks[name].import_sources.items()}

    def _imported_from(self, name: str, upstream: str) -> tuple[str, ...]:
        sources = self._sources(name)
        return tuple(sorted(n for n, source in sources.items() if source == upstream))

    def _outcomes(self, upstream: str, names: tuple[str, ...]) -> list[Future]:
        """The upstream replicas' outcome futures, slimmed on their workers to ``names``
        when they export more than that."""
        futures = [t.future for t in self.run.replicas[upstream]]
        if set(self.plan.tasks[upstream].task.exports) <= set(names):
            return futures
        round_ = self.iteration.get(upstream, 0)
        slimmed = self._slimmed.get((upstream, names, round_))
        if slimmed is None:
            variant = len(self._slimmed)
            slimmed = [self.client.submit(slim, future, names, pure=False,
                                          key=(f"{upstream}.imports-{self.run.token}", i, variant))
                       for i, future in enumerate(futures)]
            for future in slimmed:
                self.run.add_helper(upstream, future)
            self._slimmed[(upstream, names, round_)] = slimmed
        return slimmed


def _reusable(earlier: TaskResult) -> bool:
    """Its exports are still on the cluster or were pulled (else the task runs again)."""
    exports = earlier.exports
    return not isinstance(exports, RemoteExports) or exports.available()


class ExportsReleasedError(LookupError):
    """An export that was never pulled and is no longer kept on the cluster."""


class RemoteExports(Mapping):
    """A finished task's exports, left on the workers until read (then kept here)."""

    def __init__(self, client: Client, futures: list[Future], names: tuple[str, ...],
                 replicated: bool):
        self._client, self._futures = client, list(futures)
        self._names, self._replicated = names, replicated
        self._values: dict[str, Any] = {}
        self._released: str | None = None

    def futures(self) -> list[Future] | None:
        """The replicas' outcome futures, None once released."""
        return None if self._released else list(self._futures)

    def release(self, reason: str) -> None:
        self._released, self._futures = reason, []

    def available(self) -> bool:
        """Every value can still be read (on the cluster, or pulled already)."""
        return not self._released or all(name in self._values for name in self._names)

    def missing_getters(self) -> dict[str, list[Future]]:
        """Futures fetching each value not read yet (to fetch many in one gather)."""
        if self._released:
            return {}
        return {name: [self._client.submit(export_of, f, name, pure=False)
                       for f in self._futures]
                for name in self._names if name not in self._values}

    def file_getters(self) -> list[Future]:
        """Futures fetching each replica's output files (with their content)."""
        return [] if self._released else [self._client.submit(files_of, f, pure=False)
                                          for f in self._futures]

    def keep(self, name: str, values: list[Any]) -> None:
        self._values[name] = values if self._replicated else values[0]

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._values:
            if self._released:
                raise ExportsReleasedError(
                    f"export {name!r} is no longer kept on the Dask cluster ({self._released}); "
                    "it was never pulled. Run the job again, or pull with #%submit_job(pull=on)")
            getters = [self._client.submit(export_of, f, name, pure=False)
                       for f in self._futures]
            self.keep(name, self._client.gather(getters))
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"RemoteExports({', '.join(self._names)})"
