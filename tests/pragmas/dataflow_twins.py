"""A notebook with hand-written data flow and its bare twin (``#%job(flow=auto)``, tasks named
and nothing else), both run cell by cell through a real PragmaEngine, and how their flows
compare entry by entry."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pragma_kernel.pragmas.cells import is_pragma_cell
from pragma_kernel.pragmas.dataflow import check_task
from pragma_kernel.pragmas.declaration import declarations
from pragma_kernel.pragmas.parser import parse_line, parse_pragma, split_cell

from tests.pragmas.engine_helpers import Notebook

#: the pragmas the comparison runs; the others need a server, files, or only show things
KEPT = {"task", "import", "job"}
LISTS = ("import", "dep", "export")


def notebook_cells(path: Path) -> list[str]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in notebook["cells"]
            if c["cell_type"] == "code" and "".join(c["source"]).strip()]  # fmt: skip


def _pragma_name(cell: str) -> str:
    """The (first) pragma of the cell, without checking its arguments."""
    _, line = split_cell(cell).pragma_lines[0]
    return parse_line(line, 1).name


def bare(cell: str) -> str:
    """The cell with its #%task line stripped of import, export and dep."""
    parts = split_cell(cell)
    lineno, line = parts.pragma_lines[0]
    call = parse_pragma(line, lineno, declarations())
    kept = [f"{k}={call.args[k]}" for k in ("name", "language", "runs") if k in call.given]
    lines = cell.split("\n")
    lines[lineno - 1] = f"#%task({', '.join(kept)})"
    return "\n".join(lines)


def run(cells: list[str], auto: bool, notebook: Notebook) -> Notebook:
    """Run the kept pragma cells (bare ones when ``auto``) and the ordinary cells; an
    ordinary cell that reads what only a submitted job gives is seen but fails, as in a kernel
    where the job was not run."""
    if auto:
        notebook.run("#%job(flow=auto)")
    for cell in cells:
        if not is_pragma_cell(cell):
            try:
                notebook.run_python(cell)
            except NameError:
                pass
            continue
        name = _pragma_name(cell)
        if name in KEPT:
            notebook.run(bare(cell) if auto and name == "task" else cell)
    return notebook


@dataclass
class Comparison:
    matched: int = 0
    misses: list[tuple[str, str, str]] = field(default_factory=list)  #: (task, list, name)
    #: (task, name) of everything the checker says about the hand-written notebook
    reported: set[tuple[str, str]] = field(default_factory=set)

    @property
    def entries(self) -> int:
        return self.matched + len(self.misses)

    def unreported(self) -> list[tuple[str, str, str]]:
        return [m for m in self.misses if (m[0], m[2]) not in self.reported]


def compare(cells: list[str], written: Notebook, twin: Notebook,
            into: Comparison | None = None) -> Comparison:
    comparison = into or Comparison()
    run(cells, False, written)
    run(cells, True, twin)
    job = written.job
    inferred = twin.engine.data_flow(twin.namespace)
    for task in job.tasks.values():
        flow = inferred.tasks[task.name]
        pairs = {"import": (task.imports, flow.imports), "export": (task.exports, flow.exports),
                 "dep": ([d for d in task.dep if d in job.tasks], flow.dep)}  # fmt: skip
        for kind, (hand, guessed) in pairs.items():
            comparison.matched += len(set(hand) & set(guessed))
            comparison.misses += [(task.name, kind, n) for n in set(hand) ^ set(guessed)]
    checked = written.engine.data_flow(written.namespace)
    findings = [f for t in job.tasks.values() for f in check_task(job, t, written.namespace)]
    findings += checked.notes(checked.applied(job))
    comparison.reported |= {(f.task, f.name) for f in findings}
    return comparison
