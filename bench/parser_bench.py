"""Speed of the pragma language (issue 3): parsing a line, and a 1,000-task job end to end.

    python bench/parser_bench.py

1. Parsing one pragma line (tokenize, parse, check against the declaration, convert values),
   against the peer ``ast.parse`` of the same call written as Python (what a parser "using
   Python's ast on a rewritten line" would pay before any checking).
2. Defining 1,000 tasks through the engine (each a pragma cell with a body compiled at
   definition), validating the job (``PragmaEngine.plan``) and drawing it as SVG with Graphviz's
   ``dot``: the target is under 2 s in total.
"""

from __future__ import annotations

import ast
import random
import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pragma_kernel.pragmas import graph
from pragma_kernel.pragmas.declaration import declarations
from pragma_kernel.pragmas.engine import PragmaEngine
from pragma_kernel.pragmas.parser import parse_pragma

LINES = {
    "short": ("#%draw_job()", "draw_job()"),
    "task": (
        "#%task(name=train, dep=[prep, clean], import=[df], export=[model], runs=3)",
        "task(name='train', dep=['prep', 'clean'], imports=['df'], export=['model'], runs=3)",
    ),
    "pairs": (
        ("#%job(name=J, variables=[(EPOCHS, 10), (DATA, 'data/train.csv')], "
        "generic_info=[(a, b)])"),
        ("job(name='J', variables=[('EPOCHS', '10'), ('DATA', 'data/train.csv')], "
        "generic_info=[('a', 'b')])"),
    ),
}


def per_call_us(fn, number: int) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=5))
    return best / number * 1e6


def bench_lines() -> None:
    registry = declarations()
    print("1. parsing one pragma line (best of 5)")
    print(f"   {'line':6} {'pragma-kernel':>14} {'ast.parse':>10} {'ratio':>6}")
    for label, (line, python) in LINES.items():
        ours = per_call_us(lambda line=line: parse_pragma(line, 1, registry), 20000)
        peer = per_call_us(lambda python=python: ast.parse(python), 20000)
        print(f"   {label:6} {ours:11.1f} µs {peer:7.1f} µs {ours / peer:6.2f}")


class QuietContext:
    """The smallest OutputContext: the benchmark measures the engine, not Jupyter."""

    execution_count = 1
    cell_label = "Cell In[1]"
    notebook_name = "bench"

    def __init__(self):
        self.namespace = {}
        self.displayed = []

    def stream(self, name, text):
        pass

    def display(self, data, metadata=None, *, display_id=None, update=False):
        self.displayed.append(data)


def bench_thousand_tasks(count: int = 1000) -> float:
    rng = random.Random(3)
    cells = []
    for i in range(count):
        deps = sorted({f"t{rng.randrange(i)}" for _ in range(min(i, 2))})
        imports = f", import=[v{deps[0][1:]}]" if deps else ""
        cells.append(f"#%task(name=t{i}, dep=[{', '.join(deps)}]{imports}, export=[v{i}])\n"
                     f"v{i} = {i} * 2\nprint('task {i}', v{i})\n")
    engine, ctx = PragmaEngine(), QuietContext()
    started = time.perf_counter()
    for cell in cells:
        engine.run_cell(cell, ctx)
    defined = time.perf_counter()
    plan = engine.plan(ctx)
    planned = time.perf_counter()
    svg = graph.render(graph.job_graph(engine.job, "bench"), "svg")
    drawn = time.perf_counter()
    assert len(plan.tasks) == count and svg.startswith(b"<?xml")
    edges = sum(len(t.deps) for t in plan.tasks.values())
    total = drawn - started
    print(f"\n2. {count} tasks, {edges} dependencies")
    print(f"   define (run {count} pragma cells) {defined - started:7.3f} s")
    print(f"   validate + plan                  {planned - defined:7.3f} s")
    print(f"   draw (pydot + dot -Tsvg)         {drawn - planned:7.3f} s")
    print(f"   total                            {total:7.3f} s  (target < 2 s: "
          f"{'met' if total < 2 else 'MISSED'})")
    return total


if __name__ == "__main__":
    bench_lines()
    bench_thousand_tasks()
