"""A submitted job as the notebook sees it: waiting for it (an interrupt cancels it, or only
stops the waiting), concluding (pulling what the tasks that succeeded exported, raising the
failures once), finding a run by id or name, and letting go of old runs' values.

The running pragmas (:mod:`pragmas.declarations.running`) are thin handlers over this module;
what becomes of each task is :mod:`pragmas.job_life`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pragma_kernel.pragmas import job_life
from pragma_kernel.pragmas.backends.base import TaskResult, TaskState
from pragma_kernel.pragmas.errors import PragmaError, PragmaStateError
from pragma_kernel.pragmas.job_life import counts_text
from pragma_kernel.pragmas.task_files import deliver, size_text

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pragma_kernel.kernel.seam import OutputContext
    from pragma_kernel.pragmas.backends.base import JobRun
    from pragma_kernel.pragmas.declaration import PragmaCall
    from pragma_kernel.pragmas.progress import JobProgress


class JobFailedError(PragmaError):
    """A job ended with failed tasks; the traceback shows each one's."""


class NoSuchJobError(PragmaError):
    """A result pragma named a job this kernel never submitted."""


class JobInterruptedError(PragmaError):
    """An interrupt while a cell waited for a job: it says what became of the job. Its
    ``ename`` stays ``KeyboardInterrupt``, what frontends and tools know an interrupt by."""

    def __init__(self, message: str):
        super().__init__(message)
        self.ename = "KeyboardInterrupt"
        self.traceback = [f"{self.ename}: {message}"]


#: what the display of a job cancelled by an interrupt says
INTERRUPT_REASON = "cancelled by an interrupt"


@dataclass
class Submission:
    """What the kernel remembers about one submitted run beyond the backend's JobRun."""

    progress: JobProgress
    pull: bool
    pulled: list[str] | None = None  #: names brought into the notebook, once done
    files_pulled: bool = False  #: the output files were brought into the notebook's folder
    reported: bool = False  #: its failure was raised in some cell already


#: submitted jobs whose exports and results the kernel keeps (older ones: states and outputs)
KEPT_RESULTS = 2


def release_old_values(engine: Any) -> None:
    """Let go of the values of older jobs (the notebook keeps what it pulled, the result store
    what cache=on stored), so memory does not grow with every run. The notebook's values a
    run was given (pickled at submission) were needed only to start it: every finished run
    lets them go."""
    for run in engine.submitted:
        if run.done:
            run.plan.local_inputs = {}
    for run in engine.submitted[:-KEPT_RESULTS]:
        if not run.done:
            continue
        if not run.plan.fetch_exports:  # pull=off: values the workers still hold go too
            run.release(f"only the last {KEPT_RESULTS} jobs keep their values")
        for result in run.results.values():
            if not result.exports and result.result is None:
                continue
            result.exports, result.result = {}, None
            result.notes.append(f"values released: only the last {KEPT_RESULTS} jobs keep them")


def wait_for(run: JobRun, progress: JobProgress, cancel_on_interrupt: bool) -> None:
    """Wait for the run. An interrupt cancels it (when this cell started it) or only stops the
    waiting; either way the cell ends with an interrupt that says which."""
    try:
        run.wait()
    except KeyboardInterrupt:
        if not cancel_on_interrupt:
            raise JobInterruptedError(
                f"stopped waiting for job {run.name} (id {run.job_id}), which goes on: "
                "#%wait_job() waits for it again") from None
        run.cancel(INTERRUPT_REASON)
        progress.stop()
        raise JobInterruptedError(
            f"job {run.name} (id {run.job_id}) was cancelled: {counts_text(run.results)}. The results "
            "of its done tasks are kept: #%get_job_result()") from None
    progress.stop()


def conclude(engine: Any, run: JobRun, submission: Submission, ctx: OutputContext) -> None:
    """After the run: pull the exports (all tasks done), or raise the failures."""
    failed = [r for r in run.results.values() if r.state is TaskState.FAILED]
    if submission.pull and submission.pulled is None:
        # what the tasks that succeeded exported comes back even when others failed or were
        # cancelled: a rerun would redo them only to bring it
        submission.pulled = pull_exports(run, ctx.namespace)
        partly = any(r.state is not TaskState.DONE for r in run.results.values())
        if submission.pulled:
            source = " (from the tasks that succeeded)" if partly else ""
            ctx.stream("stdout", f"Pulled into the notebook{source}: "
                       f"{', '.join(submission.pulled)}\n")
    if submission.pull and not submission.files_pulled:
        submission.files_pulled = True
        said = pull_files(run)
        if said:
            ctx.stream("stdout", said + "\n")
    if failed and not submission.reported:
        submission.reported = True
        raise job_failure(run, failed)


def pull_exports(run: JobRun, namespace: dict[str, Any]) -> list[str]:
    """Set every export of the run's done tasks in ``namespace``, in topological order."""
    names: list[str] = []
    for name in run.plan.tasks:
        result = run.results[name]
        if result.state is not TaskState.DONE:
            continue
        for variable, value in result.exports.items():
            namespace[variable] = value
            if variable not in names:
                names.append(variable)
    return names


def pull_files(run: JobRun) -> str:
    """Bring the output files of the run's done tasks into the notebook's folder (in
    topological order: a later task's file of the same path wins); what happened, in words
    (a file replaced is named as such)."""
    if not run.plan.folder or not any(r.files for r in run.results.values()):
        return ""
    run.fetch_files()
    refs = [ref for name in run.plan.tasks for ref in run.results[name].files
            if run.results[name].state is TaskState.DONE
            and (ref.data is not None or ref.location is not None)]  # (else released)
    done = deliver(refs, run.plan.folder)
    parts = [f"{path} (new)" for path in done.new]
    parts += [f"{path} (replaced: its content differed)" for path in done.replaced]
    parts += [f"{path} (unchanged)" for path in done.unchanged]
    if not parts:
        return ""
    shown = ", ".join(parts[:12]) + (f" and {len(parts) - 12} more" if len(parts) > 12 else "")
    return (f"Output files into the notebook's folder ({size_text(done.bytes)} written): "
            f"{shown}")


def job_failure(run: JobRun, failed: list[TaskResult]) -> JobFailedError:
    counts = job_life.counts(run.results)
    names = ", ".join(r.name for r in failed)
    message = (
        f"{len(failed)} of {len(run.results)} tasks of job {run.name} failed ({names}); "
        f"{counts[TaskState.DONE]} done, {counts[TaskState.SKIPPED]} skipped. The results of "
        "the others are kept: #%get_task_result(task_name=...)"
    )
    lines: list[str] = []
    for result in failed:
        assert result.error is not None
        lines.append(f"--- task {result.name} failed" + (" (platform)" if result.error.platform
                                                           else "") + " ---")  # fmt: skip
        lines.extend(result.error.traceback)
        lines.append("")
    error = JobFailedError(message)
    error.traceback = [*lines, f"JobFailedError: {message}"]
    return error


def find_run(engine: Any, call: PragmaCall) -> JobRun:
    """The run named by job_id / job_name, else the last submitted one."""
    runs = list(engine.submitted)
    if not runs:
        raise PragmaStateError("no job has been submitted in this kernel yet: #%submit_job()")
    job_id, job_name = call.args.get("job_id"), call.args.get("job_name")
    if job_id is not None:
        found = [r for r in runs if str(r.job_id) == str(job_id)]
        if not found:
            known = ", ".join(str(r.job_id) for r in runs)
            raise NoSuchJobError(
                f"no job with id {job_id} was submitted from this kernel (its jobs: {known}); "
                "the results of jobs submitted elsewhere, e.g. from Activeeon's kernel to a "
                "ProActive server, are not fetched: submit the job here first")
        return found[-1]
    if job_name is not None:
        found = [r for r in runs if r.name == job_name]
        if not found:
            known = ", ".join(sorted({r.name for r in runs}))
            raise NoSuchJobError(f"no submitted job is named {job_name!r} (known: {known})")
        return found[-1]
    return runs[-1]
