"""The first job of a fresh pragma kernel against ipykernel with a new process pool, in one run.

    python -m bench.first_job_bench [--kernels 5] [--pause 1.0]

For ``--kernels`` fresh kernels of each kind, one of each after the other (the same load):

- the pragma kernel (its default local backend: one worker process per core): three cells
  define three small tasks (``#%task(name=tI)`` / ``value = I * I``), then ``#%submit_job()``;
- ipykernel: one cell defines ``square``, then one cell runs ``square(0..2)`` on a new 2-process
  ``concurrent.futures.ProcessPoolExecutor`` (a ``with`` block: started, used, shut down).

Timed through jupyter_client (request to idle): the job's cell (``first job``) and every cell
from the first one that defines something (``with definitions``); the kernels' own start is not
timed. Two ways of running the cells: one right after the other (``run all``), and with
``--pause`` seconds before the job's cell, as a user reading what they wrote (the pragma
kernel starts its workers in the background at its first pragma cell). Prints medians and the
ratios pragma / ipykernel (goal: the first job at most 2x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.engine_bench import run_cell
from bench.kernel_bench import prepare_kernelspecs

PRAGMA_CELLS = [f"#%task(name=t{i})\nvalue = {i} * {i}" for i in range(3)]
PRAGMA_JOB = "#%submit_job()"
IPYKERNEL_CELLS = ["def square(i):\n    return i * i"]
IPYKERNEL_JOB = ("from concurrent.futures import ProcessPoolExecutor\n"
                 "with ProcessPoolExecutor(2) as pool:\n"
                 "    values = [f.result() for f in [pool.submit(square, i) for i in range(3)]]")


def first_job(kernel_name: str, cells: list[str], job: str, pause: float) -> tuple[float, float]:
    """Seconds of the job's cell, and of all the cells, in a fresh kernel."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name=kernel_name, startup_timeout=60)
    try:
        run_cell(kc, "1 + 1")  # the kernel is up and has run a cell: not part of the job
        defining = sum(run_cell(kc, code) for code in cells)
        time.sleep(pause)
        seconds = run_cell(kc, job)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return seconds, defining + seconds


def measure(kernels: int, pause: float) -> dict[tuple[str, float], list[tuple[float, float]]]:
    figures: dict[tuple[str, float], list[tuple[float, float]]] = {}
    for wait in (0.0, pause):
        for _ in range(kernels):
            figures.setdefault(("pragma", wait), []).append(
                first_job("pragma", PRAGMA_CELLS, PRAGMA_JOB, wait))
            figures.setdefault(("ipykernel", wait), []).append(
                first_job("python3", IPYKERNEL_CELLS, IPYKERNEL_JOB, wait))
    return figures


def report(figures: dict[tuple[str, float], list[tuple[float, float]]]) -> None:
    print(f"{'cells':<22}{'pragma kernel':>16}{'ipykernel + pool':>18}{'ratio':>8}  goal")
    for wait in sorted({w for _, w in figures}):
        how = "run all" if wait == 0 else f"after a {wait:g} s pause"
        ours = [statistics.median(t[i] for t in figures[("pragma", wait)]) for i in (0, 1)]
        theirs = [statistics.median(t[i] for t in figures[("ipykernel", wait)]) for i in (0, 1)]
        for i, what in enumerate(("first job", "with definitions")):
            goal = "<= 2: " + ("met" if ours[0] / theirs[0] <= 2 else "NOT met") if i == 0 else ""
            print(f"{how + ', ' + what:<34}{ours[i]:>7.3f} s{theirs[i]:>14.3f} s"
                  f"{ours[i] / theirs[i]:>8.2f}  {goal}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.first_job_bench")
    parser.add_argument("--kernels", type=int, default=5)
    parser.add_argument("--pause", type=float, default=1.0)
    args = parser.parse_args(argv)
    prepare_kernelspecs(Path(tempfile.mkdtemp(prefix="first-job-bench-")))
    figures = measure(args.kernels, args.pause)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}; median of {args.kernels} fresh kernels each")  # fmt: skip
    report(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
