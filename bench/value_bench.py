"""Big values through the real kernel: task -> dependent and task -> notebook, cold and warm.

    python -m bench.value_bench [--megabytes 400] [--kernels 3] [--warm 4] [--settle 3]

The reference is a single-threaded ``numpy.copyto`` of the same array in this process, in the
same run: into a destination already written once (the memory's speed, the goal's anchor), and
into fresh memory (``numpy.empty``: what any copy into new memory costs on this machine).

For ``--kernels`` fresh pragma kernels (kernelspec in a temporary prefix, started by
jupyter_client, the default local backend with 2 worker processes), each of two kinds:

- ``dependent``: ``make`` builds a numpy array (``np.ones``) and exports it with the time it was
  done; ``use`` imports it, reads it whole twice and prints how long the value took: from the
  end of ``make``'s body to ``use`` holding it, plus its first read minus its second (what a lazy
  mapping defers to the first read). Submitted with ``pull=off``: nothing comes to the notebook.
- ``notebook``: ``make`` alone with ``pull=on``: from the end of its body to the client seeing
  the cell's idle status (the job's summary included), plus the first read of ``a`` in the next
  cell minus its second.

The first job of each kernel is ``cold`` (the first transfer of a fresh kernel), the next
``--warm`` are ``warm`` (median); the notebook drops ``a`` between jobs. Before each cold job
the bench waits ``--settle`` seconds: on a virtual machine whose balloon reports free pages to
the host (``/sys/bus/virtio/drivers/virtio_balloon``), memory freed less than ~2 s earlier is
still backed and would make a cold run look warm. Prints MB/s (1 MB = 1e6 bytes) and the ratio
to copyto (goal >= 0.5, cold and warm), and the resident memory of the kernel and its workers
after the cold job and after the last warm one (values released: no growth).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.kernel_bench import prepare_kernelspecs

MAKE = ("#%task(name=make, export=[a, made])\nimport time\nimport numpy as np\n"
        "a = np.ones({size}, dtype=np.uint8)\nmade = time.time()")
USE = ("#%task(name=use, dep=[make], import=[a, made])\nimport time\ngot = time.time()\n"
       "a.max()\ntouched = time.time()\na.max()\nagain = time.time()\n"
       "print('took', (got - made) + (touched - got) - (again - touched))")
TOUCH = ("import time as _time\n_t0 = _time.time(); a.max(); _t1 = _time.time(); a.max()\n"
         "_touch = (_t1 - _t0) - (_time.time() - _t1)")


def copyto_reference(size: int, repeat: int = 5) -> tuple[float, float]:
    """Seconds of numpy.copyto of ``size`` bytes: into a written destination (median), and
    into fresh memory (one, after the settle pause the cold runs get too)."""
    import numpy as np

    source = np.ones(size, dtype=np.uint8)
    target = np.zeros_like(source)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        np.copyto(target, source)
        times.append(time.perf_counter() - started)
    del target
    time.sleep(3)
    fresh = np.empty_like(source)
    started = time.perf_counter()
    np.copyto(fresh, source)
    return statistics.median(times), time.perf_counter() - started


class Kernel:
    """A fresh pragma kernel and its client; cells run to their idle status."""

    def __init__(self):
        from jupyter_client.manager import start_new_kernel

        self.km, self.kc = start_new_kernel(kernel_name="pragma", startup_timeout=60)
        self.pid = int(self.expression("__import__('os').getpid()"))

    def run(self, code: str, expressions: dict[str, str] | None = None):
        """(time.time() at idle, the cell's stream text, its user_expressions' text)."""
        msg_id = self.kc.execute(code, user_expressions=expressions or {})
        text, failed = [], None
        while True:
            message = self.kc.get_iopub_msg(timeout=300)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                text.append(content["text"])
            elif kind == "error":
                failed = content
            elif kind == "status" and content["execution_state"] == "idle":
                idle = time.time()
                break
        reply = self.kc.get_shell_msg(timeout=300)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=300)
        if failed is not None:
            raise RuntimeError(f"cell failed: {failed['ename']}: {failed['evalue']}\n{code}")
        found = reply["content"].get("user_expressions", {})
        values = {k: v["data"]["text/plain"] for k, v in found.items() if v["status"] == "ok"}
        return idle, "".join(text), values

    def expression(self, expression: str) -> str:
        return self.run("", {"value": expression})[2]["value"]

    def resident_mb(self) -> float:
        """Resident memory of the kernel and every process under it (workers, fork server)."""
        import psutil

        kernel = psutil.Process(self.pid)
        processes = [kernel, *kernel.children(recursive=True)]
        return sum(p.memory_info().rss for p in processes) / 1e6

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def dependent_seconds(kernel: Kernel) -> float:
    _, text, _ = kernel.run("#%submit_job(pull=off)")
    return float(text.split("took ", 1)[1].split()[0])


def notebook_seconds(kernel: Kernel) -> float:
    idle, _, _ = kernel.run("#%submit_job()")
    _, _, found = kernel.run(TOUCH, {"made": "made", "touch": "_touch"})
    seconds = idle - float(found["made"]) + float(found["touch"])
    kernel.run("del a")
    return seconds


def one_kernel(kind: str, args) -> tuple[float, list[float], float, float]:
    """Cold seconds, warm seconds, resident MB after the cold and after the last warm job."""
    kernel = Kernel()
    try:
        size = args.megabytes * 1_000_000
        kernel.run(MAKE.format(size=size))
        if kind == "dependent":
            kernel.run(USE)
        measure = dependent_seconds if kind == "dependent" else notebook_seconds
        time.sleep(args.settle)
        cold = measure(kernel)
        cold_rss = kernel.resident_mb()
        warm = [measure(kernel) for _ in range(args.warm)]
        return cold, warm, cold_rss, kernel.resident_mb()
    finally:
        kernel.close()


def report(args, reference: tuple[float, float], figures: dict) -> None:
    megabytes = args.megabytes
    written, fresh = (megabytes / s for s in reference)
    print(f"copyto {megabytes} MB: {written:.0f} MB/s into written memory (the anchor), "
          f"{fresh:.0f} MB/s into fresh memory")
    print(f"{'transfer':<22}{'MB/s':>8}{'/ copyto':>10}{'goal >= 0.5':>13}"
          f"{'/ fresh copyto':>16}{'seconds':>10}")
    for kind in ("dependent", "notebook"):
        runs = figures[kind]
        cold = statistics.median(r[0] for r in runs)
        warm = statistics.median(statistics.median(r[1]) for r in runs)
        for how, seconds in (("cold", cold), ("warm", warm)):
            rate = megabytes / seconds
            verdict = "met" if rate / written >= 0.5 else "NOT met"
            print(f"{'task -> ' + kind + ', ' + how:<22}{rate:>8.0f}{rate / written:>10.2f}"
                  f"{verdict:>13}{rate / fresh:>16.2f}{seconds:>10.3f}")
    for kind in ("dependent", "notebook"):
        after_cold = statistics.median(r[2] for r in figures[kind])
        after_warm = statistics.median(r[3] for r in figures[kind])
        print(f"resident MB, kernel + workers ({kind}): {after_cold:.0f} after the cold job, "
              f"{after_warm:.0f} after {args.warm} more")
    print("seconds per kernel (cold, warm...):")
    for kind, runs in figures.items():
        for cold, warm, _, _ in runs:
            print(f"  {kind:<10} {cold:.3f}  " + " ".join(f"{s:.3f}" for s in warm))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.value_bench")
    parser.add_argument("--megabytes", type=int, default=400)
    parser.add_argument("--kernels", type=int, default=3)
    parser.add_argument("--warm", type=int, default=4)
    parser.add_argument("--settle", type=float, default=3.0)
    args = parser.parse_args(argv)
    prepare_kernelspecs(Path(tempfile.mkdtemp(prefix="value-bench-")))
    reference = copyto_reference(args.megabytes * 1_000_000)
    figures: dict[str, list] = {"dependent": [], "notebook": []}
    for _ in range(args.kernels):
        for kind, runs in figures.items():
            runs.append(one_kernel(kind, args))
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}; median of {args.kernels} fresh kernels")
    report(args, reference, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
