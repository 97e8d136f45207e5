"""Whether a Dask cluster can still run a job: its scheduler answers, it has workers.

Dask itself waits: with its scheduler gone the client tries to reconnect, then closes (its futures
cancelled); with no worker left a task waits in the scheduler's ``no-worker`` state for ever. A
job must not. While a job runs, its run looks at the cluster once a second through a
:class:`ClusterWatch` and ends the job with a clear message when the scheduler is lost, or when the
cluster has had no worker for ``no-workers-timeout`` seconds: Dask's configuration key
``pragma-kernel.no-workers-timeout`` (30 s by default; for instance the environment variable
``DASK_PRAGMA_KERNEL__NO_WORKERS_TIMEOUT=2m``).
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass

import dask.config
from dask.utils import parse_timedelta
from distributed import Client

CONFIG_KEY = "pragma-kernel.no-workers-timeout"
DEFAULT_NO_WORKERS_TIMEOUT = 30.0
#: how long a scheduler may stay unreachable (the client reconnecting) before the job ends
UNREACHABLE_GRACE = 10.0
#: how long one question to the scheduler may take
ASK_TIMEOUT = 5.0


def no_workers_timeout() -> float:
    """Seconds a job waits for a worker when the cluster has none (Dask's configuration)."""
    value = dask.config.get(CONFIG_KEY, default=DEFAULT_NO_WORKERS_TIMEOUT)
    seconds = parse_timedelta(value, default="seconds")
    if seconds is None or not 0 < seconds < float("inf"):
        raise ValueError(f"{CONFIG_KEY} must be a positive time (e.g. '30s'), not {value!r}")
    return float(seconds)


def lost_scheduler_text(address: str) -> str:
    return (f"the connection to the Dask scheduler at {address} was lost (it stopped, or it "
            "cannot be reached): #%connect(backend=dask, url=...) again once it is back, or "
            "#%connect(backend=local)")


@dataclass(frozen=True)
class ClusterHealth:
    """One look at the cluster."""

    workers: frozenset[str] | None  #: the workers' addresses; None when the scheduler is silent
    description: str  #: what the job's display says of the backend now
    problem: str | None = None  #: why no job can go on (None: all is well, or may still be)


class ClusterWatch:
    """Looks at one client's cluster; remembers since when it has been unwell."""

    def __init__(self, client: Client, address: str, origin: str,
                 no_workers_after: float | None = None):
        self.client, self.address, self.origin = client, address, origin
        self.no_workers_after = no_workers_after or no_workers_timeout()
        self._silent_since: float | None = None
        self._empty_since: float | None = None

    def check(self) -> ClusterHealth:
        now = time.monotonic()
        if self.client.status in ("closing", "closed") or self.client.scheduler is None:
            return self._silent(now, lost=True)
        if self.client.status != "running":  # reconnecting
            return self._silent(now, lost=False)
        try:
            workers = self._workers()
        except (OSError, TimeoutError):
            return self._silent(now, lost=False)
        self._silent_since = None
        count = len(workers)
        text = f"{self.origin} at {self.address}: {count} worker{'' if count == 1 else 's'}"
        if workers:
            self._empty_since = None
            return ClusterHealth(frozenset(workers), text)
        self._empty_since = self._empty_since or now
        waited = now - self._empty_since
        if waited < self.no_workers_after:
            return ClusterHealth(frozenset(), f"{text} (none for {waited:.0f} s)")
        problem = (f"the Dask cluster at {self.address} has had no worker for "
                   f"{self.no_workers_after:g} s (they died or were stopped): start workers "
                   f"(dask worker {self.address}), or #%connect(backend=local); the wait is "
                   f"Dask's setting {CONFIG_KEY}")
        return ClusterHealth(frozenset(), f"{text} (none for {waited:.0f} s)", problem)

    def _silent(self, now: float, lost: bool) -> ClusterHealth:
        self._silent_since = self._silent_since or now
        waited = now - self._silent_since
        text = f"{self.origin} at {self.address}: not answering for {waited:.0f} s"
        if lost or waited >= UNREACHABLE_GRACE:
            return ClusterHealth(None, f"{self.origin} at {self.address}: connection lost",
                                 lost_scheduler_text(self.address))
        return ClusterHealth(None, text)

    def _workers(self) -> dict[str, dict]:
        # distributed 2025 lists at most 5 workers unless asked (n_workers), older ones all
        every = ({"n_workers": -1} if "n_workers" in
                 inspect.signature(self.client.scheduler_info).parameters else {})
        info = self.client.sync(self.client.scheduler.identity, callback_timeout=ASK_TIMEOUT,
                                **every)
        return info.get("workers", {})
