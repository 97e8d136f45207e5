"""Reuse of earlier results (``#%submit_job(cache=on)``) and why each task runs.

Before a submission, :meth:`ResultReuse.prepare` computes every task's key
(``pragma_kernel.pragmas.task_keys``), finds the results stored under them
(``pragma_kernel.pragmas.result_store``) and hands them to the backend through
``JobPlan.reuse`` (plain values; the backends mark those tasks done without running them). After
the run, :meth:`ResultReuse.keep` stores what the run's tasks made. :meth:`ResultReuse.assess`
says, without loading anything, what a submission would reuse now (``#%why``,
``#%draw_job(cache=on)``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pragma_kernel.pragmas.backends.base import TaskState
from pragma_kernel.pragmas.result_store import Origin, ResultStore
from pragma_kernel.pragmas.task_keys import TaskKey, explain, task_keys

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pragma_kernel.pragmas.backends.base import JobPlan, JobRun

log = logging.getLogger(__name__)

#: what a task that ran without cache=on ran because of
REUSE_OFF = "reuse was off (#%submit_job(cache=on) reuses)"
_LISTED = 8  #: names listed per line of a summary before "and N more"


@dataclass
class ReuseReport:
    """For one job: each task's key, and where its result comes from or why it runs."""

    job: str
    keys: dict[str, TaskKey]
    cache: bool = True  #: results are looked up and stored (cache=on)
    reused: dict[str, Origin] = field(default_factory=dict)
    reasons: dict[str, list[str]] = field(default_factory=dict)  #: the tasks that run
    run_id: str | None = None  #: the run it was made for; None: an assessment, nothing ran

    def line(self, task: str) -> str:
        """``reused from job J run 3 at ...`` or ``ran because: its code changed``, in the
        conditional for an assessment."""
        origin = self.reused.get(task)
        past = self.run_id is not None
        if origin is not None:
            return f"{'reused' if past else 'would be reused'} from {origin.text()}"
        because = " | ".join(self.reasons.get(task, ["?"]))
        return f"{'ran' if past else 'would run'} because: {because}"

    def summary(self) -> list[str]:
        """The job's summary lines: the reused tasks, then the others grouped by reason."""
        groups: dict[tuple[str, ...], tuple[str, list[str]]] = {}
        for task in self.keys:
            origin = self.reused.get(task)
            if origin is not None:  # one line per earlier run, at the time of its first task
                text = f"reused from {origin.text()}"
                group = groups.setdefault((origin.job, origin.run), (text, []))
            else:
                why = " | ".join(self.reasons.get(task, ["?"]))
                group = groups.setdefault((why,), (f"ran because: {why}", []))
            group[1].append(task)
        return [f"{_listed(tasks)}: {text}" for text, tasks in groups.values()]


def _listed(names: list[str]) -> str:
    if len(names) <= _LISTED:
        return ", ".join(names)
    return f"{', '.join(names[:_LISTED])} and {len(names) - _LISTED} more"


class ResultReuse:
    """One kernel's side of the result store: the store, and the report of its last job."""

    def __init__(self, store: ResultStore | None = None):
        self._store = store
        self.last: ReuseReport | None = None

    @property
    def store(self) -> ResultStore:
        if self._store is None:  # made at first use: the environment says where
            self._store = ResultStore()
        return self._store

    def prepare(self, plan: JobPlan, cache: bool) -> ReuseReport:
        """Keys for the plan; with ``cache``, the stored results of unchanged tasks go into
        ``plan.reuse``. The report is the job's (``last``) once :meth:`submitted` says so."""
        report = ReuseReport(plan.name, task_keys(plan), cache)
        for name, key in report.keys.items():
            stored = self.store.get(key.key) if cache and key.reusable else None
            if stored is not None:
                plan.reuse[name] = stored.result
                report.reused[name] = stored.origin
            elif cache:
                report.reasons[name] = explain(key, self.store.latest(plan.name, name))
            else:
                report.reasons[name] = [REUSE_OFF]
        return report

    def submitted(self, report: ReuseReport, run: JobRun) -> None:
        report.run_id = str(run.job_id)
        self.last = report

    def assess(self, plan: JobPlan) -> ReuseReport:
        """What a ``cache=on`` submission of ``plan`` would reuse now, and why the rest would
        run (nothing is loaded)."""
        report = ReuseReport(plan.name, task_keys(plan))
        for name, key in report.keys.items():
            origin = self.store.origin(key.key) if key.reusable else None
            if origin is not None:
                report.reused[name] = origin
            else:
                report.reasons[name] = explain(key, self.store.latest(plan.name, name))
        return report

    def keep(self, run: JobRun, report: ReuseReport) -> dict[str, str]:
        """Store the values of the run's tasks that ran and are done; task -> why it was not
        stored, for those that could not be (also in the task's notes)."""
        not_kept: dict[str, str] = {}
        if not report.cache:
            return not_kept
        if run.plan.fetch_exports and any(r.files for r in run.results.values()):
            try:
                run.fetch_files()  # their content is stored with the values
            except Exception:  # the tasks concerned are then said not kept, with why
                log.warning("could not bring the output files of job %s", run.name,
                            exc_info=True)
        for name, result in run.results.items():
            key = report.keys.get(name)
            if (key is None or not key.reusable or name in report.reused
                    or result.state is not TaskState.DONE):
                continue
            if not run.plan.fetch_exports:
                why = "pull=off left its values in the workers"
            else:
                origin = Origin(run.name, str(run.job_id), name, result.finished or time.time())
                why = self._put(key, result, origin)
            if why is not None:
                not_kept[name] = why
                result.notes.append(f"not kept for reuse: {why}")
        return not_kept

    def _put(self, key: TaskKey, result, origin: Origin) -> str | None:
        try:
            return self.store.put(key, result, origin)
        except LookupError as error:  # its values were released (Dask, never pulled)
            return f"its values are gone ({error})"
        except OSError as error:
            log.warning("result store: cannot write %s's result: %s", origin.task, error)
            return f"the store cannot be written ({error})"
