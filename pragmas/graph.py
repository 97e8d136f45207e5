"""The job as a picture and as a Graphviz dot file, through pydot and ``dot``.

Nodes are tasks, edges their dependencies (dependency → dependent); ProActive control flow adds
labelled edges (replicate, loop, if, else, continuation). After a run, nodes take the colour of
their state. ``write_dot``/``read_dot`` round-trip the dependency graph.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pydot
from pragma_kernel.pragmas.errors import GraphvizMissingError, PragmaError
from pragma_kernel.pragmas.model import Job
from pragma_kernel.pragmas.private_files import write_private
from pragma_kernel.pragmas.validation import validate

#: fill colour of a node by task state (``TaskState`` values); no state: pending
STATE_COLOURS = {
    "pending": "#e0e0e0",
    "running": "#7fb3ff",
    "done": "#8fd694",
    "failed": "#ff8a80",
    "skipped": "#f5f5f5",
    "cancelled": "#f5f5f5",
    # #%draw_job(cache=on): what a #%submit_job(cache=on) would reuse, and what it would run
    "reused": "#c8e6c9",
    "stale": "#ffcc80",
}
#: above this many tasks, layout speed matters more than the fewest edge crossings
LARGE_GRAPH = 200
_FLOW_EDGE_STYLE = {"style": "dashed", "color": "#7a5cc7", "fontcolor": "#7a5cc7"}


class DotFileError(PragmaError):
    """A dot file that cannot be read or parsed."""


@dataclass(frozen=True)
class DotGraph:
    """Nodes and edges as read from a dot file, in file order."""

    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]


def has_dot() -> bool:
    return shutil.which("dot") is not None


def require_dot() -> None:
    if not has_dot():
        raise GraphvizMissingError()


def job_graph(job: Job, title: str, states: Mapping[str, str] | None = None,
              flow: EdgeLabels | None = None) -> pydot.Dot:
    """The pydot graph of ``job``; ``states`` maps task names to ``TaskState`` values;
    ``flow``: which edges were inferred (dashed) and the labels of edges."""
    report = validate(job)
    graph = pydot.Dot(title, graph_type="digraph", rankdir="TB", label=title, labelloc="t",
                      fontname="Helvetica")  # fmt: skip
    graph.set_node_defaults(shape="box", style="rounded,filled", fontname="Helvetica",
                            fillcolor=STATE_COLOURS["pending"], color="#555555")  # fmt: skip
    graph.set_edge_defaults(color="#555555", fontname="Helvetica", fontsize="9")
    if len(job.tasks) > LARGE_GRAPH:
        # dot's crossing minimisation dominates on big jobs; a rougher layout is 2x faster
        graph.set("nslimit", "1")
        graph.set("mclimit", "0.1")
        graph.set("splines", "line")
    states = states or {}
    for name, task in job.tasks.items():
        attributes = {"label": _label(name, task.runs, states.get(name))}
        state = states.get(name)
        if state in STATE_COLOURS:
            attributes["fillcolor"] = STATE_COLOURS[state]
        graph.add_node(pydot.Node(_dot_id(name), **attributes))
    for name, deps in report.deps.items():
        for dep in deps:
            graph.add_edge(pydot.Edge(_dot_id(dep), _dot_id(name), **_data_edge(flow, dep, name)))
    for name, task in job.tasks.items():
        for target, label in _flow_edges(task):
            if target in job.tasks:
                graph.add_edge(pydot.Edge(_dot_id(name), _dot_id(target), label=label,
                                          **_FLOW_EDGE_STYLE))
    return graph


@dataclass(frozen=True)
class EdgeLabels:
    """What ``flow=auto`` adds to a drawing: its edges dashed, variables written on edges."""

    inferred: frozenset[tuple[str, str]] = frozenset()  #: (dep, dependent)
    labels: Mapping[tuple[str, str], str] = field(default_factory=dict)


def _data_edge(flow: EdgeLabels | None, dep: str, name: str) -> dict[str, str]:
    if flow is None:
        return {}
    attributes = {}
    label = flow.labels.get((dep, name), "")
    if (dep, name) in flow.inferred:
        attributes["style"] = "dashed"
        label = f"inferred: {label}" if label else "inferred"
    if label:
        attributes["label"] = label
    return attributes


def _dot_id(name: str) -> str:
    """Always quoted: a task may be called ``node``, ``graph`` or ``1x``, which dot would
    otherwise read as keywords or numbers."""
    return '"' + name.replace('"', '\\"') + '"'


def _label(name: str, runs: int, state: str | None) -> str:
    label = name if runs == 1 else f"{name} ×{runs}"
    return label if state is None else f"{label}\n{state}"


def _flow_edges(task) -> list[tuple[str, str]]:
    flow = task.flow
    edges = []
    if flow.action == "loop" and flow.target:
        edges.append((flow.target, "loop"))
    for target, label in ((flow.if_target, "if"), (flow.else_target, "else"),
                          (flow.continuation_target, "continuation")):  # fmt: skip
        if target:
            edges.append((target, label))
    return edges


def render(graph: pydot.Dot, fmt: str) -> bytes:
    """``svg`` or ``png`` bytes from Graphviz's ``dot``."""
    require_dot()
    return graph.create(prog="dot", format=fmt)


def job_svg(job: Job, title: str, states: Mapping[str, str] | None = None) -> str:
    """The job drawn as SVG text (for a progress display that shows the graph)."""
    return render(job_graph(job, title, states), "svg").decode()


def job_text(job: Job, title: str, states: Mapping[str, str] | None = None,
             flow: EdgeLabels | None = None) -> str:
    """The job as text, for frontends that show no picture (consoles, untrusted notebooks
    without PNG): one line per task, its state after a run and what it depends on."""
    report = validate(job)
    states = states or {}
    lines = [f"<job {title}: {len(job.tasks)} tasks>"]
    width = max((len(name) for name in job.tasks), default=0)
    state_width = max((len(state) + 3 for state in states.values()), default=0)
    for name in job.tasks:
        state = f"[{states[name]}]" if name in states else ""
        deps = [f"{d} (inferred)" if flow and (d, name) in flow.inferred else d
                for d in report.deps.get(name) or []]  # fmt: skip
        after = f"<- {', '.join(deps)}" if deps else ""
        lines.append(f"  {name:<{width}}  {state:<{state_width}}{after}".rstrip())
    return "\n".join(lines)


def to_dot(job: Job, title: str) -> str:
    """The dependency graph in dot: one node per task, one edge per existing dependency."""
    report = validate(job)
    graph = pydot.Dot(title, graph_type="digraph")
    for name in job.tasks:
        graph.add_node(pydot.Node(_dot_id(name)))
    for name, deps in report.deps.items():
        for dep in deps:
            graph.add_edge(pydot.Edge(_dot_id(dep), _dot_id(name)))
    return graph.to_string()


def write_dot(job: Job, path: str | Path, title: str) -> Path:
    return write_private(path, to_dot(job, title))


def _unquote(identifier: str) -> str:
    if len(identifier) >= 2 and identifier[0] == identifier[-1] == '"':
        return identifier[1:-1].replace('\\"', '"')
    return identifier


_RESERVED = {"node", "edge", "graph"}


def read_dot(path: str | Path) -> DotGraph:
    """Nodes and edges of the first graph of a dot file (subgraphs included)."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise DotFileError(f"cannot read {str(path)!r}: {error.strerror or error}") from None
    with warnings.catch_warnings():
        # pydot's parser uses pyparsing names deprecated in pyparsing 3: not the user's concern
        warnings.simplefilter("ignore", DeprecationWarning)
        graphs = pydot.graph_from_dot_data(text)
    if not graphs:
        raise DotFileError(f"{str(path)!r} is not a Graphviz dot file")
    nodes: dict[str, None] = {}
    edges: dict[tuple[str, str], None] = {}
    _collect(graphs[0], nodes, edges)
    return DotGraph(tuple(nodes), tuple(edges))


def _collect(graph: pydot.Graph, nodes: dict[str, None], edges: dict[tuple[str, str], None]):
    for node in graph.get_nodes():
        raw = node.get_name()
        if raw not in _RESERVED:  # unquoted node/edge/graph are attribute defaults
            nodes[_unquote(raw)] = None
    for edge in graph.get_edges():
        source, target = _unquote(str(edge.get_source())), _unquote(str(edge.get_destination()))
        nodes.setdefault(source, None)
        nodes.setdefault(target, None)
        edges[(source, target)] = None
    for subgraph in graph.get_subgraphs():
        _collect(subgraph, nodes, edges)
