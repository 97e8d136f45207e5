"""Pragma family: reuse — why, clear_cache (the result store of ``#%submit_job(cache=on)``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pragma_kernel.pragmas.declaration import Param, PragmaCall, pragma
from pragma_kernel.pragmas.validation import validate

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pragma_kernel.kernel.seam import OutputContext


@pragma(
    "why",
    family="reuse",
    summary="says why each task ran or was reused, or why it would run now",
    params=[Param("task", "name", help="one task (default: every task of the job)")],
    example="#%why(task=train)",
    details="For a task unchanged since the job's last submission in this kernel: 'reused "
    "from job J run N at TIME' or 'ran because: ...'. For one changed since, or before any "
    "submission: what #%submit_job(cache=on) would do now, 'would be reused from ...' or "
    "'would run because: ...'. The reasons: no earlier result | its code changed | its "
    "options changed | input X changed | ancestor Y changed | module file F changed | it "
    "decides control flow, is part of a loop or is marked cache=off (never reused) | ancestor "
    "Y always runs | reuse was off.",
)
def why(engine: Any, call: PragmaCall, ctx: OutputContext) -> None:
    last = engine.reuse.last
    plan = engine.plan(ctx, name=last.job if last is not None else None,
                       files_needed=False)
    wanted = call.args["task"]
    if wanted is not None and wanted not in plan.tasks:
        known = ", ".join(plan.tasks)
        raise call.error(f"the job has no task {wanted!r} (its tasks: {known})", "task")
    now = engine.reuse.assess(plan)
    lines = []
    for name in [wanted] if wanted else plan.tasks:
        unchanged = last is not None and name in last.keys and (
            last.keys[name].stable == now.keys[name].stable)
        lines.append(f"{name}: {(last if unchanged else now).line(name)}\n")
    ctx.stream("stdout", "".join(lines))


@pragma(
    "clear_cache",
    family="reuse",
    summary="removes stored results: all of them, or a task's and its descendants'",
    params=[Param("task", "name", help="this task of the job and the tasks after it "
                  "(default: every stored result, of every job)")],
    example="#%clear_cache(task=train)",
    details="The next #%submit_job(cache=on) runs what was removed again. Results are stored "
    "by #%submit_job(cache=on) under Jupyter's data folder (pragma-kernel/results), or in "
    "$PRAGMA_KERNEL_RESULTS.",
)
def clear_cache(engine: Any, call: PragmaCall, ctx: OutputContext) -> None:
    store = engine.reuse.store
    task = call.args["task"]
    if task is None:
        removed = store.remove()
        ctx.stream("stdout", f"Removed {_results(removed)} ({store.folder}).\n")
        return
    if task not in engine.job.tasks:
        known = ", ".join(engine.job.tasks) or "none"
        raise call.error(f"there is no task {task!r} (tasks: {known})", "task")
    job_name = engine.reuse.last.job if engine.reuse.last else engine.job_name(ctx)
    tasks = _with_descendants(engine, task, ctx)
    removed = store.remove(job=job_name, tasks=tasks)
    ctx.stream("stdout", f"Removed {_results(removed)} of job {job_name}, tasks "
               f"{', '.join(sorted(tasks))}.\n")


def _results(count: int) -> str:
    return f"{count} stored result{'' if count == 1 else 's'}"


def _with_descendants(engine: Any, task: str, ctx: OutputContext) -> set[str]:
    """``task`` and the tasks after it, inferred dependencies (flow=auto) included."""
    job = engine.data_flow(ctx.namespace).applied(engine.job)
    deps = validate(job).deps
    found = {task}
    changed = True
    while changed:
        changed = False
        for name, upstream in deps.items():
            if name not in found and found.intersection(upstream):
                found.add(name)
                changed = True
    return found
