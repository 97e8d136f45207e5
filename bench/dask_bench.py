"""The Dask backend against raw Dask on the same cluster, in one run, as ratios.

    python -m bench.dask_bench [--tasks 1000] [--chain 200] [--megabytes 500] [--repeat 5]

Starts a cluster on this machine (two worker processes, one thread each, 127.0.0.1) and runs
each shape with the backend (a job plan of pragma tasks, through ``run_task``, with events
for progress and outputs) and with raw Dask (``client.submit`` of a no-op function, parents'
futures as arguments, ``pure=False``), taking the best of ``--repeat`` runs of each (alternating):

- ``flat``: N independent no-op tasks;
- ``chain``: M no-op tasks each depending on the previous one;
- ``transfer``: two tasks each make a 500 MB numpy array (one per worker) and a third uses
  both, so one array crosses from one worker to the other.

Prints seconds and the ratio backend / raw for each (the goal for ``flat`` is under 1.5), and
for the transfer the median rate of the worker-to-worker moves of each.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import cloudpickle
from distributed import Client, wait
from pragma_kernel.pragmas.backends.base import JobPlan, PlannedTask
from pragma_kernel.pragmas.backends.dask import DaskBackend
from pragma_kernel.pragmas.model import Job, Task
from pragma_kernel.pragmas.validation import validate


def plan_of(tasks: list[Task], name: str) -> JobPlan:
    job = Job(name=name)
    for task in tasks:
        job.define(task)
    report = validate(job, {})
    assert report.ok, report.errors
    planned = {n: PlannedTask(job.tasks[n], report.deps[n], report.import_sources[n])
               for n in report.order}
    local = {v: cloudpickle.dumps(None) for p in planned.values()
             for v, s in p.import_sources.items() if s is None}
    # pull=off: exports stay on the workers, as raw Dask leaves its results there
    return JobPlan(job, name, planned, local, fetch_exports=False)


def flat_plan(count: int) -> JobPlan:
    return plan_of([Task(f"t{i}", code="pass") for i in range(count)], "flat")


def chain_plan(count: int) -> JobPlan:
    return plan_of([Task(f"t{i}", code="pass", dep=[f"t{i - 1}"] if i else [])
                    for i in range(count)], "chain")


def transfer_plan(megabytes: int) -> JobPlan:
    make = f"import numpy as np\n{{name}} = np.ones({megabytes << 20}, dtype=np.uint8)"
    return plan_of([
        Task("left", code=make.format(name="a"), exports=["a"]),
        Task("right", code=make.format(name="b"), exports=["b"]),
        Task("use", code="total = int(a[:1024].sum() + b[:1024].sum())", dep=["left", "right"],
             imports=["a", "b"], exports=["total"]),
    ], "transfer")


# --- raw Dask, the same shapes -------------------------------------------------------------


def noop(*parents: object) -> None:
    return None


def make_array(megabytes: int):
    import numpy as np

    return np.ones(megabytes << 20, dtype=np.uint8)


def use_arrays(a, b) -> int:
    return int(a[:1024].sum() + b[:1024].sum())


def raw_flat(client: Client, count: int) -> None:
    futures = [client.submit(noop, pure=False) for _ in range(count)]
    with client.as_current():
        wait(futures)


def raw_chain(client: Client, count: int) -> None:
    future = None
    futures = []
    for _ in range(count):
        future = client.submit(noop, *([future] if future is not None else []), pure=False)
        futures.append(future)
    with client.as_current():
        wait(futures)


def raw_transfer(client: Client, megabytes: int) -> None:
    left = client.submit(make_array, megabytes, pure=False)
    right = client.submit(make_array, megabytes, pure=False)
    assert client.submit(use_arrays, left, right, pure=False).result() == 2048


# --- measuring -----------------------------------------------------------------------------


def with_backend(backend: DaskBackend, plan_factory: Callable[[], JobPlan]) -> Callable[[], None]:
    def run() -> None:
        job = backend.submit(plan_factory(), lambda event: None)
        job.wait()
        failed = [n for n, r in job.results.items() if r.state.value != "done"]
        assert not failed, {n: job.results[n].error for n in failed}

    return run


def best_of(repeat: int, ours: Callable[[], None], raw: Callable[[], None],
            client: Client) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Best times of each, the two alternating so that load from elsewhere hits both; and the
    rates (MB/s) of the large worker-to-worker transfers each made."""
    times: dict[str, list[float]] = {"ours": [], "raw": []}
    rates: dict[str, list[float]] = {"ours": [], "raw": []}
    transfers(client)
    for _ in range(repeat):
        for label, action in (("ours", ours), ("raw", raw)):
            started = time.perf_counter()
            action()
            times[label].append(time.perf_counter() - started)
            rates[label] += [rate for mb, rate in transfers(client) if mb >= 100]
            client.run(_collect_garbage)
    return {label: min(values) for label, values in times.items()}, rates


def _collect_garbage() -> None:
    import gc

    gc.collect()


def transfers(client: Client) -> list[tuple[float, float]]:
    """(MB, MB/s) of every worker-to-worker transfer since the last call."""

    def drain(dask_worker) -> list[tuple[float, float]]:
        log = list(dask_worker.transfer_incoming_log)
        dask_worker.transfer_incoming_log.clear()
        return [(e["total"] / 1e6, e["bandwidth"] / 1e6) for e in log]

    return [t for ts in client.run(drain).values() for t in ts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--chain", type=int, default=200)
    parser.add_argument("--megabytes", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    backend = DaskBackend.connect(workers=2)
    client = backend.client
    try:
        print(f"cluster: {backend.describe()}")
        shapes = [
            (f"flat ({args.tasks} no-op tasks)",
             with_backend(backend, lambda: flat_plan(args.tasks)),
             lambda: raw_flat(client, args.tasks)),
            (f"chain ({args.chain} no-op tasks)",
             with_backend(backend, lambda: chain_plan(args.chain)),
             lambda: raw_chain(client, args.chain)),
            (f"transfer ({args.megabytes} MB array to the other worker)",
             with_backend(backend, lambda: transfer_plan(args.megabytes)),
             lambda: raw_transfer(client, args.megabytes)),
        ]
        with_backend(backend, lambda: flat_plan(20))()  # warm up both paths
        raw_flat(client, 20)
        print(f"{'shape':<48} {'backend s':>10} {'raw dask s':>10} {'ratio':>7}")
        for title, ours, raw in shapes:
            best, rates = best_of(args.repeat, ours, raw, client)
            print(f"{title:<48} {best['ours']:>10.3f} {best['raw']:>10.3f} "
                  f"{best['ours'] / best['raw']:>6.2f}x")
            if rates["ours"] and rates["raw"]:
                ours_rate, raw_rate = statistics.median(rates["ours"]), statistics.median(
                    rates["raw"])
                print(f"    worker-to-worker transfer, median of {len(rates['ours'])}: "
                      f"backend {ours_rate:.0f} MB/s, raw dask {raw_rate:.0f} MB/s "
                      f"(ratio {raw_rate / ours_rate:.2f}x in time)")
    finally:
        backend.close()


if __name__ == "__main__":
    main()
