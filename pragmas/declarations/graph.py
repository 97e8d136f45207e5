"""Pragma family: graph — draw_job, write_dot, import_dot."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from pragma_kernel.pragmas import graph
from pragma_kernel.pragmas.declaration import Param, PragmaCall, pragma
from pragma_kernel.pragmas.model import SourceLocation, Task
from pragma_kernel.pragmas.parser import is_name
from pragma_kernel.pragmas.private_files import write_private


def _file_stem(title: str) -> str:
    return re.sub(r"[^\w.-]+", "_", title).strip("_") or "job"


def last_states(engine: Any) -> dict[str, str]:
    """The states of the last submitted run, for the tasks of the current job."""
    if not engine.submitted:
        return {}
    run = engine.submitted[-1]
    return {name: result.state.value for name, result in run.results.items()
            if name in engine.job.tasks}  # fmt: skip


def reuse_states(engine: Any, ctx: Any) -> dict[str, str]:
    """'reused' or 'stale' per task: what a cache=on submission would do now."""
    last = engine.reuse.last
    report = engine.reuse.assess(engine.plan(ctx, name=last.job if last else None,
                                                 files_needed=False))
    return {name: "reused" if name in report.reused else "stale" for name in report.keys}


@pragma(
    "draw_job",
    family="graph",
    summary="draws the job's tasks and dependencies (in the notebook; a PNG file with save=on)",
    params=[
        Param("name", "word", help="the title (default: the job's name)"),
        Param("inline", "flag", default=True, help="show the picture in the notebook"),
        Param("save", "flag", default=False, help="also write <title>.png in the working "
              "directory"),
        Param("variables", "flag", default=False, help="label every edge with the variables "
              "that flow along it (edges inferred by flow=auto are always labelled)"),
        Param("cache", "flag", default=False, help="mark each task 'reused' or 'stale': what "
              "#%submit_job(cache=on) would reuse from the result store or run"),
    ],
    example="#%draw_job(save=on)",
    details="After a job ran, each task is coloured by its state: pending grey, running blue, "
    "done green, failed red, skipped or cancelled light. The picture is sent as SVG and PNG "
    "(untrusted notebooks do not show SVG) with a text version for consoles. inline=off only "
    "writes the PNG file. Edges that flow=auto inferred are dashed, labelled with their "
    "variables. cache=on colours instead each task by what #%submit_job(cache=on) would do "
    "now: reused (light green) or stale (orange: it would run; #%why says why). Needs "
    "Graphviz's dot program.",
)  # fmt: skip
def draw_job(engine: Any, call: PragmaCall, ctx: Any) -> None:
    if not engine.job.tasks:
        ctx.stream("stdout", "The job has no task yet: nothing to draw.\n")
        return
    title = call.args["name"] or engine.job_name(ctx)
    states = reuse_states(engine, ctx) if call.args["cache"] else last_states(engine)
    flow = engine.data_flow(ctx.namespace)
    job = flow.applied(engine.job)
    inferred = frozenset(flow.inferred_edges())
    labels = {edge: ", ".join(names) for edge, names in flow.edge_variables.items()
              if call.args["variables"] or edge in inferred}  # fmt: skip
    edges = graph.EdgeLabels(inferred, labels)
    picture = graph.job_graph(job, title, states, edges)
    inline, save = call.args["inline"], call.args["save"]
    png = graph.render(picture, "png")
    if inline:
        # SVG for trusted notebooks (sharp at any zoom); PNG for untrusted ones, where JupyterLab
        # refuses SVG (every notebook written by nbclient or papermill opens untrusted)
        ctx.display({
            "image/png": base64.b64encode(png).decode("ascii"),
            "image/svg+xml": graph.render(picture, "svg").decode(),
            "text/plain": graph.job_text(job, title, states, edges),
        })
    if save or not inline:
        path = Path(f"{_file_stem(title)}.png")
        write_private(path, png)
        ctx.stream("stdout", f"Saved {path.resolve()}\n")


@pragma(
    "write_dot",
    family="graph",
    summary="writes the job's dependency graph to a Graphviz .dot file",
    params=[Param("name", "path", help="the file (default <job name>.dot; .dot is added)")],
    example="#%write_dot(name=pipeline)",
)
def write_dot(engine: Any, call: PragmaCall, ctx: Any) -> None:
    title = engine.job_name(ctx)
    name = call.args["name"] or _file_stem(title)
    path = Path(name if name.endswith(".dot") else f"{name}.dot")
    graph.write_dot(engine.job, path, title)
    ctx.stream("stdout", f"Wrote {path.resolve()}\n")


@pragma(
    "import_dot",
    family="graph",
    summary="creates tasks with empty bodies and the dependencies of a .dot file",
    params=[Param("path", "path", required=True, help="the .dot file")],
    example="#%import_dot(path=pipeline.dot)",
    details="A node becomes a task with an empty body (an existing task keeps its code); an "
    "edge A -> B makes B depend on A. Define the bodies afterwards with #%task.",
)
def import_dot(engine: Any, call: PragmaCall, ctx: Any) -> None:
    read = graph.read_dot(call.args["path"])
    bad = [name for name in read.nodes if not is_name(name)]
    if bad:
        raise call.error(
            f"these nodes cannot be task names: {', '.join(repr(b) for b in bad)} (a task name "
            "is letters, digits, _ . and -); rename them in the file", "path")
    created = 0
    for name in read.nodes:
        if name not in engine.job.tasks:
            engine.job.define(Task(name=name, source=SourceLocation(call.args["path"], 1)))
            created += 1
    for source, target in read.edges:
        deps = engine.job.tasks[target].dep
        if source not in deps:
            deps.append(source)
    ctx.stream("stdout", f"Imported {len(read.nodes)} tasks ({created} new) and "
                         f"{len(read.edges)} dependencies from {call.args['path']}.\n")
