"""Reuse (``#%submit_job(cache=on)``) through the real kernel: a 20-task job run once, submitted
again unchanged, then again after one leaf task was edited.

    python -m bench.reuse_bench [--tasks 20] [--work 0.2]

The job: ``--tasks`` tasks in five layers (each task imports the value of one task of the layer
before), each working ``--work`` seconds of CPU and making a small list. Timed is the
``#%submit_job(cache=on)`` cell (request to idle, display and pull included). The store is a
temporary folder. Goals (issue 11): the unchanged job takes at most 5 % of the first run; after
the leaf edit only that leaf runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from bench.engine_bench import run_cell, start_pragma_kernel

LAYERS = 5


def task_cell(index: int, per_layer: int, work: float, salt: str = "") -> str:
    layer = index // per_layer
    parent = index - per_layer if layer else None
    header = f"#%task(name=t{index}, export=[v{index}]"
    header += f", dep=[t{parent}], import=[v{parent}])" if parent is not None else ")"
    base = f"v{parent}[-1]" if parent is not None else "0"
    return (f"{header}\nimport time\nstart = time.process_time()\n"
            f"while time.process_time() - start < {work}:\n    pass\n"
            f"v{index} = [{base}, {index}{salt}]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--work", type=float, default=0.2)
    args = parser.parse_args(argv)
    os.environ["PRAGMA_KERNEL_RESULTS"] = tempfile.mkdtemp(prefix="reuse-bench-")
    km, kc = start_pragma_kernel()
    try:
        per_layer = max(args.tasks // LAYERS, 1)
        run_cell(kc, "#%job(name=reuse_bench)")
        for index in range(args.tasks):
            run_cell(kc, task_cell(index, per_layer, args.work))
        first = run_cell(kc, "#%submit_job(cache=on)")
        again = run_cell(kc, "#%submit_job(cache=on)")
        leaf = args.tasks - 1
        run_cell(kc, task_cell(leaf, per_layer, args.work, salt=" + 1"))
        edited = run_cell(kc, "#%submit_job(cache=on)")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    print(f"{args.tasks} tasks, {args.work} s of CPU each, 2 workers")
    print(f"first run (stores):        {first:.3f} s")
    print(f"unchanged, all reused:     {again:.3f} s  ({100 * again / first:.1f} % of the first;"
          " goal <= 5 %)")
    print(f"one leaf edited (it runs): {edited:.3f} s  ({100 * edited / first:.1f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
