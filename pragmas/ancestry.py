"""Every task's ancestors in a job's graph, cheaply enough for jobs of thousands of tasks.

A backend asks for each task's ancestors as it starts it (they say whose variables it sees).
Scanning the whole job each time made a 10,000-task job quadratic; so positions are computed
once, and a chain's next link reuses the answer given for its parent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


class Ancestry:
    """The ancestors of each task of a graph (``deps``: task -> its direct dependencies), listed
    in the order of ``order`` (a topological order of the tasks)."""

    #: answers kept for reuse by their dependents (a chain needs only the last one)
    RECENT = 64

    def __init__(self, order: Iterable[str], deps: Mapping[str, Sequence[str]]):
        self.deps = deps
        self.position = {name: index for index, name in enumerate(order)}
        self._recent: dict[str, tuple[str, ...]] = {}

    def of(self, name: str) -> tuple[str, ...]:
        known = self._recent.get(name)
        if known is not None:
            return known
        deps = [d for d in self.deps[name] if d in self.position]
        parent = self._recent.get(deps[0]) if len(deps) == 1 else None
        if parent is not None and (not parent or self._before(parent[-1], deps[0])):
            found = (*parent, deps[0])  # a link of a chain: its parent's, then the parent
        else:
            found = self._search(deps)
        self._recent[name] = found
        if len(self._recent) > self.RECENT:
            del self._recent[next(iter(self._recent))]
        return found

    def _search(self, deps: list[str]) -> tuple[str, ...]:
        seen: set[str] = set()
        stack = list(deps)
        while stack:
            dep = stack.pop()
            if dep not in seen and dep in self.position:
                seen.add(dep)
                stack.extend(self.deps[dep])
        return tuple(sorted(seen, key=self.position.__getitem__))

    def _before(self, first: str, second: str) -> bool:
        return self.position[first] < self.position[second]
