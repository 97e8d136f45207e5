"""The Python shell alone, side by side with IPython's InteractiveShell (what ipykernel runs),
both in this process, no sockets: the cost of running a cell and of creating the shell.

    python bench/shell_bench.py [--runs 1000]

Prints p50/p99 per cell for a few typical cells, the cold import+create time of each shell
(in a fresh interpreter), and the ratio IPython / ours (higher is better for us).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CELLS = ["1+1", "print('x' * 100)", "x = [i * i for i in range(100)]\nsum(x)", "1/0"]


class NullContext:
    """The smallest output context: drops what it is given (measures the shell, not IOPub)."""

    execution_count = 1
    cell_label = "Cell In[1]"
    silent = False
    notebook_name = None

    def __init__(self) -> None:
        self.payload: list = []
        self.namespace: dict = {}

    def stream(self, name, text):
        pass

    def display(self, data, metadata=None, *, display_id=None, update=False):
        pass

    def execute_result(self, data, metadata=None):
        pass

    def clear_output(self, wait=False):
        pass

    def flush(self):
        pass


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def time_ours(code: str, runs: int) -> list[float]:
    from pragma_kernel.kernel.shell import PythonShell

    shell = PythonShell({})
    samples = []
    with contextlib.redirect_stdout(io.StringIO()):
        for count in range(1, runs + 1):
            ctx = NullContext()
            ctx.execution_count = count
            start = time.perf_counter()
            shell.execute(code, ctx, store_history=True)
            samples.append(time.perf_counter() - start)
    return samples


def time_ipython(code: str, runs: int) -> list[float]:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    samples = []
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for _ in range(runs):
            start = time.perf_counter()
            shell.run_cell(code, store_history=True)
            samples.append(time.perf_counter() - start)
    return samples


def cold_start(statement: str, repeat: int = 5) -> float:
    """Median wall time of a fresh interpreter running ``statement`` minus an empty one."""

    def run(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
        return time.perf_counter() - start

    empty = statistics.median(run("pass") for _ in range(repeat))
    return statistics.median(run(statement) for _ in range(repeat)) - empty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    runs = parser.parse_args().runs
    print(f"{'cell':40} {'ours p50/p99 (µs)':>20} {'IPython p50/p99 (µs)':>22} {'ratio p50':>10}")
    for code in CELLS:
        ours = percentiles(time_ours(code, runs))
        theirs = percentiles(time_ipython(code, runs))
        label = code.replace("\n", "\\n")[:40]
        print(
            f"{label:40} {ours[0] * 1e6:9.1f}/{ours[1] * 1e6:<9.1f} "
            f"{theirs[0] * 1e6:11.1f}/{theirs[1] * 1e6:<9.1f} {theirs[0] / ours[0]:9.1f}x"
        )
    ours_start = cold_start("from pragma_kernel.kernel.shell import PythonShell; PythonShell()")
    theirs_start = cold_start(
        "from IPython.core.interactiveshell import InteractiveShell; InteractiveShell.instance()"
    )
    print(
        f"import + create the shell: ours {ours_start * 1e3:.0f} ms, IPython "
        f"{theirs_start * 1e3:.0f} ms, ratio {theirs_start / ours_start:.1f}x"
    )


if __name__ == "__main__":
    main()
