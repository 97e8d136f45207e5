"""Big jobs on the local backend through the real kernel: time per task and memory per task.

    python -m bench.big_job_bench [--tasks 400 10000] [--chain 100 2000] [--repeat 3]

For each shape, a fresh pragma kernel (kernelspec in a temporary prefix, started by
jupyter_client; the local backend with 2 worker processes) gets one cell per task, then
``#%submit_job()`` ``--repeat`` times:

- ``flat N``: N independent no-op tasks (``pass``);
- ``chain N``: N tasks each importing the previous one's value (``v = v + 1``).

Timed through jupyter_client (request to idle): defining (ms per task) and the job's cell
(median, ms per task). The display's messages per job are counted (display_data and
update_display_data: throttled, they do not grow with the tasks). The kernel's resident memory
(the kernel process alone; the workers are bounded by the task, not the job) is read after
its first pragma cell, after the definitions and after the last job: MB per 1,000 tasks is the
growth over the whole run divided by the tasks. Prints the ratio of each big shape's time per
task to the small one's (goal: at most 1.5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.kernel_bench import prepare_kernelspecs

DISPLAY_MESSAGES = ("display_data", "update_display_data")


@dataclass
class ShapeFigures:
    shape: str
    tasks: int
    define_ms: float  #: per task
    submit_ms: list[float]  #: per task, each job
    displays: int  #: display messages of the last job
    rss_start: float
    rss_defined: float
    rss_end: float

    @property
    def per_task(self) -> float:
        return statistics.median(self.submit_ms)

    @property
    def mb_per_1000(self) -> float:
        return (self.rss_end - self.rss_start) / self.tasks * 1000


def run_cell(kc, code: str) -> tuple[float, int]:
    """Seconds from the request to idle, and how many display messages the cell sent."""
    started = time.perf_counter()
    msg_id = kc.execute(code)
    displays, failed = 0, None
    while True:
        message = kc.get_iopub_msg(timeout=3600)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        kind = message["msg_type"]
        displays += kind in DISPLAY_MESSAGES
        if kind == "error":
            failed = message["content"]
        if kind == "status" and message["content"]["execution_state"] == "idle":
            break
    elapsed = time.perf_counter() - started
    reply = kc.get_shell_msg(timeout=3600)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=3600)
    if failed is not None:
        raise RuntimeError(f"cell failed: {failed['ename']}: {failed['evalue']}\n{code[:200]}")
    return elapsed, displays


def cells(shape: str, count: int) -> list[str]:
    if shape == "flat":
        return [f"#%task(name=t{i})\npass" for i in range(count)]
    return ["#%task(name=c0, export=[v])\nv = 0"] + [
        f"#%task(name=c{i}, dep=[c{i - 1}], import=[v], export=[v])\nv = v + 1"
        for i in range(1, count)]  # fmt: skip


def kernel_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 1e6


def measure(shape: str, count: int, repeat: int) -> ShapeFigures:
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="pragma", startup_timeout=60)
    try:
        pid = km.provisioner.process.pid
        run_cell(kc, "#%connect(backend=local, workers=2)")
        rss_start = kernel_mb(pid)
        started = time.perf_counter()
        for code in cells(shape, count):
            run_cell(kc, code)
        define_ms = (time.perf_counter() - started) / count * 1e3
        rss_defined = kernel_mb(pid)
        submits, displays = [], 0
        for _ in range(repeat):
            seconds, displays = run_cell(kc, "#%submit_job()")
            submits.append(seconds / count * 1e3)
        return ShapeFigures(shape, count, define_ms, submits, displays, rss_start, rss_defined,
                            kernel_mb(pid))  # fmt: skip
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def report(figures: list[ShapeFigures]) -> None:
    print(f"{'shape':<13}{'define':>10}{'job, median':>13}{'jobs':>24}{'ratio':>7}"
          f"{'displays':>10}{'kernel MB: start/defined/end':>31}{'MB/1000':>9}")
    small: dict[str, float] = {}
    for f in figures:
        base = small.setdefault(f.shape, f.per_task)
        jobs = " ".join(f"{ms:.3f}" for ms in f.submit_ms)
        print(f"{f.shape + ' ' + str(f.tasks):<13}{f.define_ms:>7.3f} ms{f.per_task:>10.3f} ms"
              f"{jobs:>24}{f.per_task / base:>7.2f}{f.displays:>10}"
              f"{f'{f.rss_start:.0f} / {f.rss_defined:.0f} / {f.rss_end:.0f}':>31}"
              f"{f.mb_per_1000:>9.2f}")
    print("ms are per task (per link for the chain); ratio: time per task / the smallest "
          "shape's (goal <= 1.5)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.big_job_bench")
    parser.add_argument("--tasks", type=int, nargs="*", default=[400, 10000])
    parser.add_argument("--chain", type=int, nargs="*", default=[100, 2000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    prepare_kernelspecs(Path(tempfile.mkdtemp(prefix="big-job-bench-")))
    figures = [measure("flat", n, args.repeat) for n in args.tasks]
    figures += [measure("chain", n, args.repeat) for n in args.chain]
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}")
    report(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
