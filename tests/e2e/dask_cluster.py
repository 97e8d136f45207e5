"""A real Dask cluster for the tests: one ``dask scheduler`` and two ``dask worker`` processes.

Started as subprocesses on 127.0.0.1 with random ports, once per test session (the first test
that asks for it) and stopped when the session's interpreter exits. The processes run from a
scratch directory with no path to this checkout, like a cluster that knows nothing of
pragma-kernel: the backend must bring its own code to them.

``allowed-failures`` is 1 (Dask's default is 3) so the test of a task that kills every worker it
lands on gives up after two deaths instead of four.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START_TIMEOUT = 60.0
WORKERS = 2
ALLOWED_FAILURES = 1


class ClusterStartError(RuntimeError):
    """The scheduler or the workers did not come up; the message carries their logs."""


class DaskTestCluster:
    """A scheduler and worker processes; ``address`` is the scheduler's ``tcp://`` URL."""

    def __init__(self, workers: int = WORKERS, threads: int = 1):
        self.workers, self.threads = workers, threads
        self.directory = Path(tempfile.mkdtemp(prefix="pragma-dask-cluster-"))
        self.scheduler_file = self.directory / "scheduler.json"
        self.processes: list[subprocess.Popen] = []
        self.address = ""

    def start(self) -> DaskTestCluster:
        self._spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--scheduler-file", str(self.scheduler_file),
                                  "--no-dashboard"])
        self.address = self._wait_for_scheduler_file()
        for index in range(self.workers):
            self._spawn(f"worker-{index}", [
                "worker", "--scheduler-file", str(self.scheduler_file), "--nworkers", "1",
                "--nthreads", str(self.threads), "--host", "127.0.0.1", "--no-dashboard",
                "--local-directory", str(self.directory / f"worker-{index}"),
                "--name", f"worker-{index}",
            ])
        self.wait_for_workers(self.workers)
        return self

    def _spawn(self, name: str, args: list[str]) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = str(ALLOWED_FAILURES)
        log = open(self.directory / f"{name}.log", "wb")  # noqa: SIM115 - kept for the process
        process = subprocess.Popen(
            [sys.executable, "-m", "dask", *args],
            cwd=self.directory, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # stopped as a group: the nanny's worker child goes too
        )
        log.close()
        self.processes.append(process)

    def _wait_for_scheduler_file(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.scheduler_file.exists():
                try:
                    return json.loads(self.scheduler_file.read_text())["address"]
                except (json.JSONDecodeError, KeyError):
                    pass  # being written
            self._check_alive()
            time.sleep(0.1)
        raise ClusterStartError(f"no scheduler file after {START_TIMEOUT:.0f} s\n{self.logs()}")

    def wait_for_workers(self, count: int, timeout: float = START_TIMEOUT) -> None:
        from distributed import Client

        with Client(self.address, timeout=10, set_as_default=False) as client:
            try:
                client.wait_for_workers(count, timeout=timeout)
            except TimeoutError as error:
                raise ClusterStartError(f"{error}\n{self.logs()}") from error

    def _check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise ClusterStartError(
                    f"{process.args} exited with {process.returncode}\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.directory.glob("*.log")))

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()


_shared: DaskTestCluster | None = None


def shared_cluster() -> DaskTestCluster:
    """The session's cluster, started on first use, stopped when the interpreter exits.

    A plain singleton rather than a conftest fixture so that tests in several folders
    (``tests/pragmas``, ``tests/e2e``) share one cluster without a top-level conftest.
    """
    global _shared
    if _shared is None:
        cluster = DaskTestCluster()
        try:
            cluster.start()
        except BaseException:
            cluster.stop()
            raise
        atexit.register(cluster.stop)
        _shared = cluster
    return _shared
