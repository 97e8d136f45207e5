"""A loud task against the same loop in a plain cell of the same kernel, in one run.

    python -m bench.output_bench [--lines 20000 200000] [--repeat 3] [--no-dask]

What is timed is what the user waits for: the cell, from the execute_request to the kernel's
idle status, every IOPub message of it received by the client (jupyter_client, the ``pragma``
kernelspec). The plain cell runs ``for i in range(N): print(...)`` in the kernel; the task runs
the same loop as ``#%task(name=loud)`` and is timed as its ``#%submit_job()`` cell (progress
display, the task's output in the cell, the summary). Each task variant is measured
alternately with the plain cell (one of each, ...), median of ``--repeat`` after a warm-up:

- ``local``: the embedded local backend (2 worker processes), the default output limit (the
  cell shows the first 10,000 lines and the last 1,000; the whole log goes to a file);
- ``local, no limit``: the same with ``output_limit=off``: every line shown in the cell, like
  the plain cell;
- ``dask``: a Dask cluster started by the kernel (2 worker processes), default limit.

Prints seconds and the ratios task / plain cell (goals: at most 1.5 at 20,000 lines, 2 at
200,000; on Dask at most 3), the lines each task cell showed, and the latency of a line a task
prints before sleeping: from its ``print`` to the client (goal 0.1-0.2 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

from bench.engine_bench import run_cell, start_pragma_kernel

LOOP = "for i in range({lines}):\n    print(f'step {{i}}: loss {{1.0 / (i + 1):.6f}}')"
GOALS = {"local": {20000: 1.5, 200000: 2.0}, "dask": {20000: 3.0, 200000: 3.0}}


def timed_cell(kc, code: str, timeout: float = 1800) -> tuple[float, int]:
    """Seconds from the request to the idle status, and the lines of stream text the cell
    showed (checked: the task's cell shows what its limit says); raises if the cell failed."""
    started = time.perf_counter()
    msg_id = kc.execute(code)
    shown = 0
    while True:
        message = kc.get_iopub_msg(timeout=timeout)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            shown += content["text"].count("\n")
        elif kind == "error":
            raise RuntimeError(f"cell failed: {content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            break
    elapsed = time.perf_counter() - started
    kc.get_shell_msg(timeout=timeout)
    return elapsed, shown


def alternately(repeat: int, ours: Callable[[], tuple[float, int]],
                plain: Callable[[], tuple[float, int]]) -> tuple[float, float, int]:
    """Median seconds of each, measured one after the other (the same machine load), and the
    lines the task's cell showed."""
    ours(), plain()  # warm-up: workers started, modules imported
    pairs = [(ours(), plain()) for _ in range(repeat)]
    return (statistics.median(p[0][0] for p in pairs), statistics.median(p[1][0] for p in pairs),
            pairs[-1][0][1])


PAUSE = "import time\nprint(repr(time.time()))\ntime.sleep(1.0)"


def latency(kc) -> float:
    """Seconds from a task's print to the client, the task going on (asleep) meanwhile."""
    run_cell(kc, f"#%task(name=pause)\n{PAUSE}")
    msg_id = kc.execute("#%submit_job()")
    seen = None
    while True:
        message = kc.get_iopub_msg(timeout=120)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        printed = [line for line in content.get("text", "").splitlines()
                   if line.startswith("[pause] ")] if kind == "stream" else []  # fmt: skip
        if printed and seen is None:
            seen = time.time() - float(printed[0].split()[1])
        if kind == "status" and content["execution_state"] == "idle":
            break
    kc.get_shell_msg(timeout=120)
    run_cell(kc, "#%delete_task(name=pause)")
    if seen is None:
        raise RuntimeError("the task's line never reached the cell")
    return seen


Row = tuple[str, int, float, float, int]


def measure(kc, lines: list[int], repeat: int, dask: bool) -> tuple[list[Row], dict[str, float]]:
    rows, latencies = [], {}
    variants = [("local", ""), ("local, no limit", ", output_limit=off")]
    if dask:
        variants.append(("dask", ""))
    for variant, option in variants:
        if variant == "dask":
            run_cell(kc, "#%connect(backend=dask, workers=2)", timeout=120)
        if option == "":
            latency(kc)  # warm-up
            latencies[variant] = statistics.median(latency(kc) for _ in range(repeat))
        for count in lines:
            loop = LOOP.format(lines=count)
            run_cell(kc, f"#%task(name=loud{option})\n{loop}")
            task = lambda: timed_cell(kc, "#%submit_job()")
            plain = lambda loop=loop: timed_cell(kc, loop)
            ours, theirs, shown = alternately(repeat, task, plain)
            rows.append((variant, count, ours, theirs, shown))
            print(f"  {variant:<16}{count:>8} lines  task {ours:7.2f} s  plain cell "
                  f"{theirs:7.2f} s", flush=True)  # fmt: skip
    return rows, latencies


def report(rows: list[Row], latencies: dict[str, float]) -> None:
    print(f"{'backend':<18}{'lines':>8}{'task':>10}{'plain cell':>12}{'ratio':>8}  "
          f"{'goal':<15}lines in the task's cell")  # fmt: skip
    for variant, count, ours, theirs, shown in rows:
        goal = GOALS["dask" if variant == "dask" else "local"].get(count)
        verdict = "" if goal is None else f"<= {goal:g}: {'met' if ours / theirs <= goal else 'NOT met'}"
        print(f"{variant:<18}{count:>8}{ours:>9.2f}s{theirs:>11.2f}s{ours / theirs:>8.2f}  "
              f"{verdict:<15}{shown:,}")  # fmt: skip
    for variant, seconds in latencies.items():
        print(f"{variant}: a line printed before a pause reaches the client in {seconds:.3f} s "
              "(goal: 0.1-0.2 s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.output_bench")
    parser.add_argument("--lines", type=int, nargs="+", default=[20000, 200000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-dask", dest="dask", action="store_false")
    args = parser.parse_args(argv)
    os.environ["JUPYTER_DATA_DIR"] = tempfile.mkdtemp(prefix="output-bench-data-")  # the logs
    km, kc = start_pragma_kernel()
    try:
        run_cell(kc, "#%connect(backend=local, workers=2)")
        rows, latencies = measure(kc, args.lines, args.repeat, args.dask)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    load = os.getloadavg()[0]
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, load {load:.1f}; "
          f"median of {args.repeat}")  # fmt: skip
    report(rows, latencies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
