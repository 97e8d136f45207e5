"""ProActive workflow export: the kernel's shared JVM against a JVM per export (Activeeon's kernel
builds a new ``ProActiveGateway``, hence a new JVM, at every connect).

    python -m bench.bench_proactive_export [--repeat 10] [--tasks 20]

Prints the median time of ``export_workflow_xml`` for a chain of N tasks on the cached gateway,
and of the same export with a fresh gateway started and stopped around it, and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import proactive
from pragma_kernel.pragmas import proactive_jvm
from pragma_kernel.pragmas.backends.proactive_job import export_workflow_xml
from pragma_kernel.pragmas.engine import PragmaEngine

from tests.pragmas.pragma_cells import run_cells


def chain_plan(tasks: int):
    engine = PragmaEngine()
    cells = ["#%task(name=t0, export=[x])\nx = 0"]
    cells += [f"#%task(name=t{i}, dep=[t{i - 1}], import=[x], export=[x])\nx = x + 1"
              for i in range(1, tasks)]
    ctx = run_cells(engine, *cells)
    return engine.plan(ctx)


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def fresh_gateway_export(plan) -> None:
    gateway = proactive.ProActiveGateway("http://localhost:8080")
    try:
        export_workflow_xml(plan, gateway)
    finally:
        proactive_jvm.quiet_terminate(gateway)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()
    plan = chain_plan(args.tasks)
    export_workflow_xml(plan)  # start the shared JVM once, as the kernel does
    cached = statistics.median(timed(lambda: export_workflow_xml(plan)) for _ in range(args.repeat))
    fresh = statistics.median(timed(lambda: fresh_gateway_export(plan)) for _ in range(args.repeat))
    print(f"export of {args.tasks} tasks, median of {args.repeat}:")
    print(f"  shared JVM (pragma-kernel):        {cached * 1000:8.1f} ms")
    print(f"  new JVM per export (Activeeon's):   {fresh * 1000:8.1f} ms")
    print(f"  ratio new/shared:                   {fresh / cached:8.1f}x")
    proactive_jvm.shutdown()


if __name__ == "__main__":
    main()
