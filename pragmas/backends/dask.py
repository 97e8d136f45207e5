"""The Dask distributed backend: a job's tasks as Dask tasks on a real cluster.

Each replica of a task is one Dask task (``dask_task.run_replica``, on a worker) whose
dependencies are the futures of its upstream tasks, so the scheduler spreads independent tasks
over the workers and moves exported values worker to worker; a dependent that imports only
some of a parent's exports receives a slimmed copy made on the parent's worker. Exports reach
the kernel only when pulled: a done task's ``TaskResult.exports`` is a ``RemoteExports``
(``dask_graph``, which also submits the job stage by stage for ProActive's control flow).
The kernel follows a job through events the workers publish on the scheduler (start, each
output as produced, end with the report) and the futures' completions (``dask_run``).

This module connects (to a scheduler, or a cluster started here), ships pragma-kernel's code
to clusters that lack it, submits and cancels.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import itertools
import logging
import sys
import tempfile
import threading
import uuid
import weakref
import zipfile
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster
from pragma_kernel.pragmas.backends.base import Backend, JobPlan, JobRun, Listener, TaskState
from pragma_kernel.pragmas.backends.dask_graph import ExportsReleasedError, RemoteExports
from pragma_kernel.pragmas.backends.dask_run import DaskJobRun, one_line
from pragma_kernel.pragmas.backends.dask_task import cancel_job
from pragma_kernel.pragmas.backends.dask_watch import (
    ClusterWatch,
    lost_scheduler_text,
    no_workers_timeout,
)
from pragma_kernel.pragmas.errors import PragmaError

__all__ = ["ClusterLostError", "DaskBackend", "DaskConnectError", "DaskJobRun",
           "ExportsReleasedError", "RemoteExports", "StaleCodeError"]

log = logging.getLogger(__name__)
_job_numbers = itertools.count(1)  #: job ids "dask-1", "dask-2"... unique in this kernel

CONNECT_TIMEOUT = 5.0  #: seconds to reach a scheduler before the connect fails
#: how long a cancel waits for the workers to confirm they stopped the job's running tasks
STOP_WAIT = 3.0
#: the packages a worker needs to run tasks; shipped to clusters that lack them
CODE_PACKAGES = ("pragmas",)  #: under the pragma_kernel namespace: the task runtime is a leaf
SHIPPED_MODULE = "pragma_kernel_shipped"  #: in the zip: the fingerprint of the code shipped


def _keep_dask_logs_out_of_cells() -> None:
    """distributed logs to the ``sys.stderr`` of the moment it is imported, which in the
    kernel is the running cell's stream: its warnings (a busy event loop, slow garbage
    collections) would land in whatever cell runs. They are for whoever runs the kernel."""
    for name in ("distributed", "tornado", "bokeh", *logging.root.manager.loggerDict):
        if not name.startswith(("distributed", "tornado", "bokeh")):
            continue
        for handler in logging.getLogger(name).handlers:
            if type(handler) is logging.StreamHandler and handler.stream is not sys.__stderr__:
                handler.setStream(sys.__stderr__)


_keep_dask_logs_out_of_cells()


class DaskConnectError(ConnectionError):
    """The Dask scheduler could not be reached or the local cluster could not start."""


class StaleCodeError(DaskConnectError):
    """The cluster runs pragma-kernel code that another version of the kernel shipped."""


class ClusterLostError(PragmaError):
    """The kernel's connection to its Dask scheduler is gone: no job can be submitted."""


class DaskBackend(Backend):
    """Runs jobs on a Dask distributed cluster through one ``distributed.Client``."""

    name = "dask"

    def __init__(self, client: Client, cluster: LocalCluster | None = None):
        self.client = client
        self.cluster = cluster  #: the cluster this backend started (closed with it), if any
        #: kept: the client forgets it when the connection is lost
        self.address: str = client.scheduler.address
        self.no_workers_after = no_workers_timeout()
        self.topic = f"pragma-kernel-{client.id}"
        self._runs: dict[str, DaskJobRun] = {}  #: unfinished runs, by token
        self._every_run: weakref.WeakSet[DaskJobRun] = weakref.WeakSet()  #: still referenced
        self._dashboard = _find_dashboard(client)
        client.subscribe_topic(self.topic, self._on_event)

    # --- connecting -----------------------------------------------------------------------

    @classmethod
    def connect(cls, url: str | None = None, *, workers: int | None = None,
                timeout: float = CONNECT_TIMEOUT) -> DaskBackend:
        """Attach to the scheduler at ``url`` or, without one, start a cluster on this machine
        (worker processes on 127.0.0.1). Raises :class:`DaskConnectError` with the reason."""
        cluster = None
        if url and workers is not None:
            raise DaskConnectError("workers= sizes a cluster started here; a running scheduler "
                                   f"({url}) has the workers it has: leave out one or the other")
        try:
            no_workers_timeout()
        except ValueError as exc:
            raise DaskConnectError(str(exc)) from None
        if url:
            client = _attach(url, timeout)
        else:
            cluster, client = _start_local_cluster(workers)
        try:
            _ship_code(client)
        except StaleCodeError:
            client.close()
            if cluster is not None:
                cluster.close()
            raise
        except Exception as exc:
            client.close()
            if cluster is not None:
                cluster.close()
            raise DaskConnectError(
                f"connected to {client.scheduler.address} but could not make pragma-kernel's "
                f"code available to the cluster: {type(exc).__name__}: {exc}") from exc
        return cls(client, cluster)

    @property
    def origin(self) -> str:
        return "a local cluster started by this kernel" if self.cluster else "Dask scheduler"

    @property
    def connected(self) -> bool:
        return self.client.status == "running"

    def watch(self) -> ClusterWatch:
        """A fresh look-out on this backend's cluster, for one job."""
        return ClusterWatch(self.client, self.address, self.origin, self.no_workers_after)

    def describe(self) -> str:
        origin = self.origin
        if not self.connected:
            return f"{origin} at {self.address} (connection lost)"
        try:
            info = _scheduler_info(self.client, every_worker=True)
        except (OSError, TimeoutError) as exc:  # described also when it has gone away
            return f"{origin} at {self.address} (not answering: {one_line(exc)})"
        workers = info.get("workers", {})
        threads = sum(w.get("nthreads", 0) for w in workers.values())
        text = f"{origin} at {self.address}: {len(workers)} workers, {threads} threads"
        if any(w.get("nthreads", 1) > 1 for w in workers.values()):
            text += (" (tasks run one at a time per worker process, since a task's output "
                     "capture is per process: start workers with --nthreads 1)")
        return text

    def dashboard_url(self) -> str | None:
        return self._dashboard

    def close(self) -> None:
        """Cancel what runs, forget the outcomes, disconnect; never fails, even when the
        scheduler is gone (switching backends must work then, above all)."""
        for run in list(self._runs.values()):
            if not run.done:
                _logged(self.cancel, run)
        for run in list(self._every_run):
            _logged(run.release, f"the kernel disconnected from the Dask scheduler at "
                                 f"{self.address}")
        if self.client.status not in ("closed", "closing"):
            _logged(self.client.unsubscribe_topic, self.topic)
            _logged(self.client.close)
        if self.cluster is not None:
            _logged(self.cluster.close)

    # --- running --------------------------------------------------------------------------

    def ensure_ready(self) -> None:
        if not self.connected:
            raise ClusterLostError(lost_scheduler_text(self.address))

    def submit(self, plan: JobPlan, listener: Listener) -> DaskJobRun:
        self.ensure_ready()
        token = uuid.uuid4().hex[:8]
        run = DaskJobRun(f"dask-{next(_job_numbers)}", plan, self, token, listener)
        self._runs[token] = run
        self._every_run.add(run)
        run.announce_pending()
        try:
            run.graph.start()
        except Exception:
            self.cancel(run)
            raise
        run.submitted_all()
        threading.Thread(target=run.follow, name=f"dask-job-{run.job_id}", daemon=True).start()
        threading.Thread(target=run.watch, name=f"dask-watch-{run.job_id}", daemon=True).start()
        return run

    def forget(self, run: DaskJobRun) -> None:
        """A finished run needs no more events."""
        self._runs.pop(run.token, None)

    def cancel(self, run: JobRun) -> None:
        assert isinstance(run, DaskJobRun)
        if not run.start_cancel():
            return
        try:
            if self.connected:  # else the cluster forgot the job with the connection
                self.client.cancel(run.all_futures(), force=True)
                self._stop_running(run)
        finally:
            run.settle_cancelled()

    def _stop_running(self, run: DaskJobRun) -> None:
        """Dask cannot stop a task already running: every worker raises into the threads of
        the job's tasks. A worker that does not answer soon is left to finish on its own."""
        answers: dict[str, Any] = {}

        def ask() -> None:
            try:
                answers.update(self.client.run(cancel_job, run.token, on_error="return"))
            except (OSError, TimeoutError) as exc:
                answers["the scheduler"] = exc

        asking = threading.Thread(target=ask, name=f"dask-cancel-{run.job_id}", daemon=True)
        asking.start()
        asking.join(STOP_WAIT)
        silent = [w for w, answer in answers.items() if isinstance(answer, BaseException)]
        if asking.is_alive() or silent:
            note = (f"could not tell every worker to stop it ({', '.join(silent) or 'no answer'})"
                    "; it finishes on its own")
            for result in run.results.values():
                if result.state is TaskState.RUNNING:
                    result.notes.append(note)

    def fetch(self, run: JobRun, task: str, name: str) -> Any:
        """The value of export ``name`` of ``task`` (a list for runs>1), from the workers."""
        return run.results[task].exports[name]

    def _on_event(self, event: tuple[float, dict]) -> None:
        """Called on the client's event loop for every event of this backend's topic."""
        _, message = event
        run = self._runs.get(message.get("job", ""))
        if run is not None:
            run.on_event(message)


def _logged(action, *args) -> None:
    """Do ``action``; a failure is logged (for whoever runs the kernel), not raised."""
    try:
        action(*args)
    except Exception:
        log.warning("closing the Dask backend: %s failed", getattr(action, "__name__", action),
                    exc_info=True)


# --- connecting ---------------------------------------------------------------------------


def _attach(url: str, timeout: float) -> Client:
    address = url if "://" in url else f"tcp://{url}"
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DaskConnectError(
            f"cannot reach the Dask scheduler at {address}: {one_line(exc)} (is a scheduler "
            f"running there? `dask scheduler` prints its address)") from None


def _start_local_cluster(workers: int | None) -> tuple[LocalCluster, Client]:
    try:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # a free port; without bokeh, its /info pages
            silence_logs=logging.ERROR,
        )
    except (OSError, TimeoutError, RuntimeError) as exc:
        raise DaskConnectError(f"could not start a local Dask cluster: {one_line(exc)}") from exc
    return cluster, Client(cluster, set_as_default=False)


def _scheduler_info(client: Client, every_worker: bool) -> dict[str, Any]:
    # distributed 2025 lists at most 5 workers unless asked (n_workers), older ones all
    if "n_workers" not in inspect.signature(client.scheduler_info).parameters:
        return client.scheduler_info()
    return client.scheduler_info(n_workers=-1 if every_worker else 0)


def _find_dashboard(client: Client) -> str | None:
    """The dashboard's address; without bokeh on the scheduler (the dashboard's page then
    only says to install it), its plain-HTML worker list, which needs nothing."""
    services = _scheduler_info(client, every_worker=False).get("services", {})
    if "dashboard" not in services:
        return None

    def has_bokeh() -> bool:  # pickled by value, run on the scheduler
        return importlib.util.find_spec("bokeh") is not None

    link = client.dashboard_link
    if client.run_on_scheduler(has_bokeh):
        return link
    return link.removesuffix("/status") + "/info/main/workers.html"


def _ship_code(client: Client) -> None:
    """Workers and the scheduler unpickle the tasks' functions and arguments, which are
    pragma-kernel's: a cluster where it is not installed receives it as a zip
    (``Client.upload_file``, which also reaches workers that join later). Code shipped by
    another version cannot be replaced in running processes: that is an error to act on."""
    fingerprint, sources = _code_sources()

    def shipped() -> str:  # pickled by value: it must not need pragma-kernel itself
        if importlib.util.find_spec("pragma_kernel.pragmas.backends.dask_task") is None:
            return "missing"
        if importlib.util.find_spec(SHIPPED_MODULE) is None:
            return "installed"  # by pip: like any library of the cluster, its owners' choice
        return importlib.import_module(SHIPPED_MODULE).FINGERPRINT

    states = [client.run_on_scheduler(shipped), *client.run(shipped).values()]
    if any(state not in ("missing", "installed", fingerprint) for state in states):
        raise StaleCodeError(
            f"the Dask cluster at {client.scheduler.address} runs pragma-kernel code shipped by "
            "another version of this kernel; restart its scheduler and workers (or install "
            "this version of pragma-kernel on them), then connect again")
    if "missing" not in states:
        return
    with tempfile.TemporaryDirectory(prefix="pragma-kernel-") as directory:
        archive = Path(directory) / "pragma_kernel_code.zip"
        with zipfile.ZipFile(archive, "w") as zipped:
            for name, text in sources.items():
                zipped.writestr(name, text)
            zipped.writestr(f"{SHIPPED_MODULE}.py", f"FINGERPRINT = {fingerprint!r}\n")
        client.upload_file(str(archive))


def _code_sources() -> tuple[str, dict[str, bytes]]:
    """The packages' source files by path in the zip, and a fingerprint of them all."""
    sources = {}
    for package in CODE_PACKAGES:
        folder = Path(importlib.import_module(f"pragma_kernel.{package}").__file__).parent
        for path in sorted(folder.rglob("*.py")):
            name = f"pragma_kernel/{package}/{path.relative_to(folder).as_posix()}"
            sources[name] = path.read_bytes()
    digest = hashlib.sha256()
    for name, text in sources.items():
        digest.update(name.encode() + b"\0" + text)
    return digest.hexdigest()[:16], sources
