"""Memory of a long-lived kernel: resident size after every 10,000 executes, the pragma kernel
and ipykernel side by side, in one run.

    python -m bench.soak_bench [--executes 100000] [--every 10000] [--history] [--kernels pragma,python3]

Each kernel (started through jupyter_client, as a frontend would) runs ``--executes`` small
cells, each a different text (``value = <n>``), as a frontend that polls the kernel does:
``store_history=False`` by default (``--history``: stored, so ``In``/``Out`` and the history
database grow as they must). After every ``--every`` executes the kernel's resident memory is
read (``/proc``, through psutil) once the kernel is idle. Printed: the resident size at each
step, and the growth per 10,000 executes over the second half of the run (after warm-up), which
stays near 0 when memory is bounded.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import psutil

from bench.kernel_bench import Session, prepare_kernelspecs


def kernel_pid(session: Session) -> int:
    provisioner = session.km.provisioner
    return provisioner.process.pid  # LocalProvisioner: the kernel's own process


def soak(kernel_name: str, executes: int, every: int, history: bool) -> list[tuple[int, float]]:
    session = Session(kernel_name)
    try:
        process = psutil.Process(kernel_pid(session))
        steps = [(0, process.memory_info().rss / 2**20)]
        kc = session.kc
        for done in range(1, executes + 1):
            msg_id = kc.execute(f"value = {done}", store_history=history)
            session.shell_reply(msg_id)
            if done % 1000 == 0:
                session.drain_iopub()
            if done % every == 0:
                session.drain_iopub()
                steps.append((done, process.memory_info().rss / 2**20))
                print(f"  {kernel_name}: {done:>7} executes  {steps[-1][1]:7.1f} MB", flush=True)
        return steps
    finally:
        session.close()


def growth_per_10k(steps: list[tuple[int, float]]) -> float:
    """MB per 10,000 executes between the middle of the run and its end."""
    middle = steps[len(steps) // 2]
    last = steps[-1]
    if last[0] == middle[0]:
        return 0.0
    return (last[1] - middle[1]) / (last[0] - middle[0]) * 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executes", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--history", action="store_true", help="store_history=True")
    parser.add_argument("--kernels", default="pragma,python3",
                        help="kernelspec names, comma-separated (python3 is ipykernel)")
    args = parser.parse_args()
    prepare_kernelspecs(Path(tempfile.mkdtemp(prefix="pragma-soak-")))
    results = {}
    for name in args.kernels.split(","):
        print(f"{name}: {args.executes} executes, store_history={args.history}", flush=True)
        results[name] = soak(name, args.executes, args.every, args.history)
    print()
    print(f"{'kernel':<10} {'start MB':>9} {'end MB':>8} {'MB per 10k executes (2nd half)':>32}")
    for name, steps in results.items():
        print(f"{name:<10} {steps[0][1]:>9.1f} {steps[-1][1]:>8.1f} "
              f"{growth_per_10k(steps):>32.2f}")


if __name__ == "__main__":
    main()
