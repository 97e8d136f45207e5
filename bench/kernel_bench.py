"""The pragma kernel side by side with ipykernel, in one run; prints figures and ratios.

    python bench/kernel_bench.py [--runs 1000] [--starts 10]

Measured, for each kernel, through jupyter_client (the same client code for both):

- cold start: launch (KernelManager.start_kernel) to the first kernel_info_reply, median;
- execute round trip (reply *and* idle received) of ``1+1`` and of ``print('x'*100)``,
  p50/p99 over ``--runs`` requests;
- heartbeat during a cell that holds the GIL: pings answered / sent, p50/p99 latency;
- control-channel kernel_info during a busy cell: p50/p99 latency.

Kernelspecs: ``pragma`` installed into a temporary prefix (as the tests do), ``python3`` from
ipykernel (installed into the same prefix when absent).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

ROOT = Path(__file__).resolve().parent.parent
BUSY_CELL = "n = 0\nwhile True:\n    n += 1"


def prepare_kernelspecs(prefix: Path) -> None:
    jupyter_path = prefix / "share" / "jupyter"
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        filter(None, [str(jupyter_path), os.environ.get("JUPYTER_PATH")])
    )
    os.environ["JUPYTER_DATA_DIR"] = str(prefix / "data")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    sys.path.insert(0, str(ROOT))
    from pragma_kernel.kernel.install import install_kernelspec

    install_kernelspec(prefix=str(prefix), name="pragma")
    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        subprocess.run(
            [sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix)], check=True
        )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Session:
    """One started kernel and a client whose sockets reconnect fast (so start-up is measured,
    not zmq's 100 ms default reconnect interval)."""

    def __init__(self, kernel_name: str):
        self.context = zmq.Context()
        self.context.setsockopt(zmq.RECONNECT_IVL, 2)
        self.km = KernelManager(kernel_name=kernel_name, context=self.context)
        start = time.perf_counter()
        self.km.start_kernel()
        self.kc = self.km.client(context=self.context)
        self.kc.start_channels()
        msg_id = self.kc.kernel_info()
        self.shell_reply(msg_id, timeout=60)
        self.start_seconds = time.perf_counter() - start
        self.drain_iopub()

    def shell_reply(self, msg_id: str, timeout: float = 30) -> dict:
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def wait_idle(self, msg_id: str, timeout: float = 30) -> None:
        while True:
            message = self.kc.get_iopub_msg(timeout=timeout)
            if (
                message["parent_header"].get("msg_id") == msg_id
                and message["msg_type"] == "status"
                and message["content"]["execution_state"] == "idle"
            ):
                return

    def drain_iopub(self) -> None:
        while self.kc.iopub_channel.msg_ready() or self.kc.iopub_channel.socket.poll(200):
            self.kc.get_iopub_msg(timeout=1)

    def round_trip(self, code: str) -> float:
        start = time.perf_counter()
        msg_id = self.kc.execute(code)
        self.shell_reply(msg_id)
        self.wait_idle(msg_id)
        return time.perf_counter() - start

    def start_busy_cell(self) -> str:
        msg_id = self.kc.execute(BUSY_CELL)
        while True:
            message = self.kc.get_iopub_msg(timeout=30)
            if message["parent_header"].get("msg_id") == msg_id and message["msg_type"] == "execute_input":
                return msg_id

    def stop_busy_cell(self, msg_id: str) -> None:
        self.km.interrupt_kernel()
        self.shell_reply(msg_id)
        self.wait_idle(msg_id)

    def heartbeat_during_busy_cell(self, pings: int) -> tuple[int, list[float]]:
        msg_id = self.start_busy_cell()
        socket = self.context.socket(zmq.REQ)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(f"tcp://{self.km.ip}:{self.km.hb_port}")
        latencies, answered = [], 0
        try:
            for index in range(pings):
                start = time.perf_counter()
                socket.send(b"%d" % index)
                if not socket.poll(3000):
                    break
                socket.recv()
                answered += 1
                latencies.append(time.perf_counter() - start)
                time.sleep(0.01)
        finally:
            socket.close()
            self.stop_busy_cell(msg_id)
        return answered, latencies

    def control_during_busy_cell(self, requests: int) -> list[float]:
        msg_id = self.start_busy_cell()
        latencies = []
        try:
            for _ in range(requests):
                message = self.kc.session.msg("kernel_info_request", {})
                start = time.perf_counter()
                self.kc.control_channel.send(message)
                while True:
                    reply = self.kc.get_control_msg(timeout=30)
                    if reply["parent_header"]["msg_id"] == message["header"]["msg_id"]:
                        break
                latencies.append(time.perf_counter() - start)
                time.sleep(0.01)
        finally:
            self.stop_busy_cell(msg_id)
        return latencies

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)
        self.context.destroy(linger=0)


def measure(kernel_name: str, runs: int, starts: int) -> dict[str, float]:
    start_times = []
    for _ in range(starts):
        session = Session(kernel_name)
        start_times.append(session.start_seconds)
        session.close()
    session = Session(kernel_name)
    try:
        figures = {"cold start": statistics.median(start_times)}
        for label, code in (("1+1", "1+1"), ("print('x'*100)", "print('x'*100)")):
            for _ in range(50):  # warm-up: lazy imports, first-cell costs
                session.round_trip(code)
            times = [session.round_trip(code) for _ in range(runs)]
            figures[f"{label} p50"] = percentile(times, 0.50)
            figures[f"{label} p99"] = percentile(times, 0.99)
        answered, beats = session.heartbeat_during_busy_cell(100)
        figures["heartbeat answered %"] = 100.0 * answered / 100
        figures["heartbeat p50"] = percentile(beats, 0.5) if beats else float("nan")
        figures["heartbeat p99"] = percentile(beats, 0.99) if beats else float("nan")
        control = session.control_during_busy_cell(50)
        figures["control kernel_info p50"] = percentile(control, 0.5)
        figures["control kernel_info p99"] = percentile(control, 0.99)
    finally:
        session.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="round trips per code sample")
    parser.add_argument("--starts", type=int, default=10, help="cold starts per kernel")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kernel-bench-") as prefix:
        prepare_kernelspecs(Path(prefix))
        ours = measure("pragma", args.runs, args.starts)
        reference = measure("python3", args.runs, args.starts)
    print(f"{'':28} {'pragma':>12} {'ipykernel':>12} {'ratio':>8}")
    for name, value in ours.items():
        other = reference[name]
        unit = "%" if name.endswith("%") else "ms"
        scale = 1 if unit == "%" else 1000
        ratio = value / other if other else float("nan")
        print(f"{name:28} {value * scale:10.2f}{unit:>2} {other * scale:10.2f}{unit:>2} {ratio:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
