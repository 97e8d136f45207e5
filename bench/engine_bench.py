"""The embedded local engine, through the real kernel, against Dask LocalCluster, in one run.

    python -m bench.engine_bench [--tasks 400] [--chain 100] [--megabytes 400] [--repeat 3]

What is timed is what the user waits for: the ``#%submit_job()`` cell, from the
execute_request to the kernel's idle status, with the live progress display, the summary and
the pull of the exports included (the kernel is the ``pragma`` kernelspec, started by
jupyter_client; the local backend has 2 worker processes). The peer is raw Dask: a
``LocalCluster`` of 2 worker processes (1 thread each) and ``client.submit`` of a no-op
function, parents' futures as arguments, ``pure=False``, waiting for the last future. Both run
at the same time and each shape is measured alternately (one of ours, one of Dask's, ...) so
both see the same machine load; best of ``--repeat`` after a warm-up, for each shape:

- ``flat``: N independent no-op tasks (time per task);
- ``chain``: M no-op tasks each importing the previous one's value (time per link);
- ``transfer``: one task makes a numpy array of the given size, its dependent reads it. The
  transfer time is that job's time minus the time of the same producer alone (the array made,
  nothing exported); for Dask the dependent is pinned to the other worker. Ours is submitted
  with ``pull=off`` (like Dask, nothing comes back to the notebook); ``+ pull`` is the same job
  with ``pull=on``, the array also copied into the kernel's namespace;
- ``cpu``: two independent tasks each burning 1 s of CPU; speed-up = 2 s / cell time.

Prints seconds, per-task figures and the ratios (goals: flat and chain at most half Dask's time
per task / link; transfer at least 5x Dask's throughput; cpu speed-up at least 1.85).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CPU_BURN = "import time\nstart = time.process_time()\nwhile time.process_time() - start < 1.0:\n    pass"


# --- the pragma kernel -----------------------------------------------------------------------


def start_pragma_kernel():
    """A started pragma kernel (kernelspec installed into a temporary prefix) and its client."""
    from jupyter_client.manager import start_new_kernel
    from pragma_kernel.kernel.install import install_kernelspec

    prefix = tempfile.mkdtemp(prefix="engine-bench-")
    install_kernelspec(prefix=prefix, name="pragma")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        filter(None, [str(Path(prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH")]))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return start_new_kernel(kernel_name="pragma", startup_timeout=60)


def run_cell(kc, code: str, timeout: float = 300) -> float:
    """Seconds from the request to the idle status; raises if the cell failed."""
    started = time.perf_counter()
    msg_id = kc.execute(code)
    failed = None
    while True:
        message = kc.get_iopub_msg(timeout=timeout)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "error":
            failed = message["content"]
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            break
    elapsed = time.perf_counter() - started
    reply = kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=timeout)
    if failed is not None:
        raise RuntimeError(f"cell failed: {failed['ename']}: {failed['evalue']}\n{code[:200]}")
    return elapsed


def define_job(kc, cells: list[str]) -> None:
    for task_name in _defined:
        run_cell(kc, f"#%delete_task(name={task_name})")
    _defined.clear()
    for code in cells:
        run_cell(kc, code)
        _defined.append(code.split("name=", 1)[1].split(",", 1)[0].split(")", 1)[0])


_defined: list[str] = []


def submit_timer(kc, options: str = "") -> Callable[[], float]:
    cell = f"#%submit_job({options})"
    return lambda: run_cell(kc, cell)


def timed(action: Callable[[], object]) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        action()
        return time.perf_counter() - started

    return run


def interleaved(repeat: int, ours: Callable[[], float], theirs: Callable[[], float]):
    """Best time of each, measured alternately (so both see the same machine load)."""
    ours(), theirs()  # warm-up: workers started, modules imported, memory touched
    pairs = [(ours(), theirs()) for _ in range(repeat)]
    return min(p[0] for p in pairs), min(p[1] for p in pairs)


# --- Dask ------------------------------------------------------------------------------------


def noop(*parents):
    return None


def increment(value=None):
    return 0 if value is None else value + 1


def make_array(size: int, export: bool):
    import numpy as np

    array = np.ones(size, dtype=np.uint8)
    return array if export else None


def use_array(array) -> int:
    return int(array[::4096].sum())


def burn() -> None:
    start = time.process_time()
    while time.process_time() - start < 1.0:
        pass


class DaskShapes:
    """The same shapes with raw Dask: ``client.submit`` of plain functions."""

    def __init__(self, client, args):
        from distributed import wait

        self.client, self.args, self.wait = client, args, wait
        self.workers = list(client.scheduler_info()["workers"])
        self.size = args.megabytes << 20

    def flat(self) -> None:
        self.wait([self.client.submit(noop, pure=False) for _ in range(self.args.tasks)])

    def chain(self) -> None:
        future = self.client.submit(increment, pure=False)
        for _ in range(self.args.chain - 1):
            future = self.client.submit(increment, future, pure=False)
        future.result()

    def alone(self) -> None:
        self.client.submit(make_array, self.size, False, pure=False,
                           workers=[self.workers[0]]).result()  # fmt: skip

    def transfer(self) -> None:
        made = self.client.submit(make_array, self.size, True, pure=False,
                                  workers=[self.workers[0]])  # fmt: skip
        self.client.submit(use_array, made, pure=False, workers=[self.workers[1]]).result()

    def cpu(self) -> None:
        self.wait([self.client.submit(burn, pure=False) for _ in range(2)])


def measure(kc, client, args) -> tuple[dict[str, float], dict[str, float]]:
    """Each shape with the pragma kernel and with Dask, alternately."""
    dask = DaskShapes(client, args)
    ours: dict[str, float] = {}
    theirs: dict[str, float] = {}
    define_job(kc, [f"#%task(name=t{i})\npass" for i in range(args.tasks)])
    ours["flat"], theirs["flat"] = interleaved(args.repeat, submit_timer(kc), timed(dask.flat))
    define_job(kc, ["#%task(name=c0, export=[v])\nv = 0"] + [
        f"#%task(name=c{i}, dep=[c{i - 1}], import=[v], export=[v])\nv = v + 1"
        for i in range(1, args.chain)])  # fmt: skip
    ours["chain"], theirs["chain"] = interleaved(args.repeat, submit_timer(kc),
                                                 timed(dask.chain))  # fmt: skip
    make = f"import numpy as np\na = np.ones({args.megabytes << 20}, dtype=np.uint8)"
    define_job(kc, [f"#%task(name=make)\n{make}"])
    alone, dask_alone = interleaved(args.repeat, submit_timer(kc), timed(dask.alone))
    define_job(kc, [f"#%task(name=make, export=[a])\n{make}",
                    ("#%task(name=use, dep=[make], import=[a], export=[s])\n"
                     "s = int(a[::4096].sum())")])  # fmt: skip
    moved, dask_moved = interleaved(args.repeat, submit_timer(kc, "pull=off"),
                                    timed(dask.transfer))  # fmt: skip
    ours["transfer"], theirs["transfer"] = moved - alone, dask_moved - dask_alone
    ours["transfer+pull"] = min(submit_timer(kc)() for _ in range(args.repeat + 1)) - alone
    define_job(kc, [f"#%task(name=burn{i})\n{CPU_BURN}" for i in range(2)])
    ours["cpu"], theirs["cpu"] = interleaved(args.repeat, submit_timer(kc), timed(dask.cpu))
    define_job(kc, [])
    return ours, theirs


# --- report ----------------------------------------------------------------------------------


def report(ours: dict[str, float], dask: dict[str, float], args) -> None:
    megabytes = args.megabytes * 1.048576  # MiB -> MB
    print(f"{'shape':<10}{'pragma kernel':>22}{'Dask LocalCluster':>22}{'ratio':>16}")
    rows = [
        ("flat", args.tasks, "ms/task", "pragma/dask (goal <= 0.5)"),
        ("chain", args.chain, "ms/link", "pragma/dask (goal <= 0.5)"),
    ]
    for shape, count, unit, goal in rows:
        a, b = ours[shape] / count * 1e3, dask[shape] / count * 1e3
        print(f"{shape:<10}{a:>14.3f} {unit}{b:>14.3f} {unit}{a / b:>10.2f}  {goal}")
    a, b = megabytes / max(ours["transfer"], 1e-9), megabytes / max(dask["transfer"], 1e-9)
    print(f"{'transfer':<10}{a:>17.0f} MB/s{b:>17.0f} MB/s{a / b:>10.2f}  "
          "pragma/dask throughput (goal >= 5)")  # fmt: skip
    a = megabytes / max(ours["transfer+pull"], 1e-9)
    print(f"{'+ pull':<10}{a:>17.0f} MB/s{'':>22}{'':>10}  the array also copied into the "
          "kernel's namespace (pull=on)")  # fmt: skip
    a, b = 2.0 / ours["cpu"], 2.0 / dask["cpu"]
    print(f"{'cpu':<10}{a:>14.2f} speed-up{b:>14.2f} speed-up{a / b:>10.2f}  "
          "(goal: pragma speed-up >= 1.85)")  # fmt: skip
    print("seconds:", {k: round(v, 4) for k, v in ours.items()}, "vs dask",
          {k: round(v, 4) for k, v in dask.items()})  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_bench")
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--chain", type=int, default=100)
    parser.add_argument("--megabytes", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    km, kc = start_pragma_kernel()
    try:
        run_cell(kc, "#%connect(backend=local, workers=2)")
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster) as client:  # fmt: skip
            ours, dask = measure(kc, client, args)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    report(ours, dask, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
