"""Pragma family: running — submit_job, wait_job, run_local, results and outputs.

``#%submit_job()`` plans the job (validation first: nothing runs if it fails), hands it to the
connected backend with a live :class:`~pragmas.progress.JobProgress` as listener, waits (an
interrupt cancels the job and re-raises), pulls the exports into the notebook and ends with an
error when a task failed, so "Run all" stops there. The result pragmas read the engine's
``submitted`` runs; one on a running job waits for it (interruptible). The handlers are thin:
what follows a submission is :mod:`pragmas.submission`'s, what becomes of each task
:mod:`pragmas.job_life`'s.
"""

from __future__ import annotations

import html
import threading
from typing import TYPE_CHECKING, Any

from pragma_kernel.pragmas import task_output
from pragma_kernel.pragmas.backends.base import PLACEMENT_OPTIONS, TaskResult, TaskState
from pragma_kernel.pragmas.declaration import Param, PragmaCall, pragma
from pragma_kernel.pragmas.errors import PragmaStateError
from pragma_kernel.pragmas.job_life import counts_text
from pragma_kernel.pragmas.model import CodeSegment, SourceLocation
from pragma_kernel.pragmas.progress import JobProgress, prefix_lines, show_task_display
from pragma_kernel.pragmas.submission import (
    JobFailedError,
    Submission,
    conclude,
    find_run,
    release_old_values,
    wait_for,
)
from pragma_kernel.pragmas.table import table_bundle

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pragma_kernel.kernel.seam import OutputContext
    from pragma_kernel.pragmas.backends.base import JobPlan, JobRun


JOB_SELECTORS = [
    Param("job_id", "word", help="the job's id (see #%list_submitted_jobs)"),
    Param("job_name", "word", help="the job's name (its latest run)"),
]


@pragma(
    "submit_job",
    family="running",
    summary="validates the job and runs it on the connected backend, with live progress",
    params=[
        Param("name", "word", help="the job's name (default: #%job's, else the notebook's)"),
        Param("wait", "flag", default=True, help="wait for the end (off: return at once)"),
        Param("pull", "flag", default=True, help="bring the exports into the notebook"),
        Param("cache", "flag", default=False, help="reuse the stored results of unchanged "
              "tasks and store what runs (on disk: across restarts; see #%why)"),
        Param("nodesource", "word", help="ProActive: run on this node source"),
        Param("host", "word", help="ProActive: run on this host"),
        Param("token", "word", help="ProActive: run on nodes with this token"),
        Param("input_path", "path", help="ProActive: the job's input folder"),
        Param("output_path", "path", help="ProActive: the job's output folder"),
        Param("variables", "pairs", default={}, help="values of job variables for this run "
              "(declared with defaults by #%job(variables=...))"),
    ],
    example="#%submit_job(wait=on, pull=on)",
    details="Independent tasks run in parallel. One display shows the progress bar, each "
    "task's state and time; each task's output appears marked [task]; figures appear. At the "
    "end: wall time, total task time, speed-up; with pull=on the exported variables are set "
    "in the notebook (in dependency order). A failed task ends the cell with its traceback; "
    "its dependents are skipped and the other results are kept. An interrupt cancels the job. "
    "wait=off returns at once: #%wait_job() picks the job up. cache=on reuses the stored "
    "result of a task whose code, options, inputs, ancestors and folder modules did not "
    "change since it last succeeded, and stores the results of the tasks that run (see "
    "#%why, #%clear_cache). variables=[(K, V)] runs with other values of job variables; "
    "#%parameters(...) sets values for every run.",
)
def submit_job(engine: Any, call: PragmaCall, ctx: OutputContext) -> None:
    from pragma_kernel.pragmas.job_variables import apply_run_variables

    plan = engine.plan(ctx, name=call.args["name"])
    apply_run_variables(engine, call, plan, ctx)
    _placement(engine, call, plan, ctx)
    plan.fetch_exports = call.args["pull"]  # pull=off: large values stay in the workers
    backend = engine.get_backend()
    reuse = engine.reuse.prepare(plan, cache=reuse_applies(engine, backend, call, ctx))
    release_old_values(engine)
    backend.ensure_ready()
    progress = JobProgress(ctx, plan, backend)
    progress.reused = set(plan.reuse)
    progress.reuse_lines = reuse.summary() if reuse.cache else []
    progress.show()
    run = backend.submit(plan, progress.listener)
    engine.reuse.submitted(reuse, run)
    engine.submitted.append(run)
    submission = Submission(progress, pull=call.args["pull"])
    engine.submissions[run] = submission
    progress.start(run)
    if not call.args["wait"]:
        threading.Thread(target=lambda: (run.wait(), engine.reuse.keep(run, reuse)),
                         name="job-cache", daemon=True).start()  # fmt: skip
        ctx.stream("stdout", f"Job {plan.name} submitted (id {run.job_id}); "
                   "#%wait_job() waits for it.\n")  # fmt: skip
        return
    wait_for(run, progress, cancel_on_interrupt=True)
    not_kept = engine.reuse.keep(run, reuse)
    if not_kept:
        ctx.stream("stdout", "Not kept for reuse: " + "; ".join(
            f"{name} ({why})" for name, why in not_kept.items()) + "\n")
    conclude(engine, run, submission, ctx)


def reuse_applies(engine: Any, backend: Any, call: PragmaCall, ctx: OutputContext) -> bool:
    """cache=on, on a backend that takes stored results (not ProActive: its values live in
    its dataspace, and it runs every task)."""
    if call.args["cache"] and backend.name == "proactive":
        text = ("cache=on does not apply on ProActive: every task runs there, and its results "
                "are not stored")
        engine.say_once(text, text, ctx)
        return False
    return call.args["cache"]


def _placement(engine: Any, call: PragmaCall, plan: JobPlan, ctx: OutputContext) -> None:
    """ProActive's options travel in the plan (``plan.placement``, read by its backend); any
    other backend says once, plainly, which ProActive-only settings it does not apply."""
    placement = {k: call.args[k] for k in PLACEMENT_OPTIONS if call.args.get(k)}
    plan.placement = placement
    backend = engine.get_backend()
    if backend.name == "proactive" or not (placement or _has_proactive_only(plan.job)):
        return
    # only now: the ProActive module costs a first job tens of milliseconds to import
    from pragma_kernel.pragmas.backends.proactive import proactive_only_notices

    for text in proactive_only_notices(plan.job, backend.name, placement):
        engine.say_once(text, text, ctx)


def _has_proactive_only(job: Any) -> bool:
    return bool(job.job_selection_script or job.job_fork_env or job.runtime_env or any(
        t.selection_script is not None or t.fork_env is not None for t in job.tasks.values()))


@pragma(
    "wait_job",
    family="running",
    summary="waits for a submitted job (the last by default), then pulls its exports",
    params=JOB_SELECTORS,
    example="#%wait_job()",
    details="For jobs submitted with wait=off. An interrupt stops waiting; the job goes on.",
)
def wait_job(engine: Any, call: PragmaCall, ctx: OutputContext) -> None:
    run = find_run(engine, call)
    submission = engine.submissions.get(run)
    if submission is None:
        run.wait()
        return
    wait_for(run, submission.progress, cancel_on_interrupt=False)
    ctx.stream("stdout", f"Job {run.name} (id {run.job_id}) is over: {counts_text(run.results)}.\n")
    conclude(engine, run, submission, ctx)


def _await(run: JobRun, ctx: OutputContext) -> None:
    """A result pragma on a running job waits for it; an interrupt stops only the waiting.
    Then the values left where they were made (pull=off) are fetched."""
    if not run.done:
        ctx.stream("stdout", f"Job {run.name} (id {run.job_id}) is still running; waiting...\n")
        ctx.flush()
        run.wait()
    run.fetch()


@pragma(
    "list_submitted_jobs",
    family="running",
    summary="lists the jobs submitted in this kernel: id, name, backend, state",
    example="#%list_submitted_jobs()",
)
def list_submitted_jobs(engine: Any, call: PragmaCall, ctx: OutputContext) -> None:
    rows = []
    for run in engine.submitted:
        state = counts_text(run.results) if run.done else "running"
        rows.append((str(run.job_id), run.name, run.backend.describe(), state))
    if not rows:
        ctx.stream("stdout", "No job submitted yet.\n")
        return
    ctx.display(table_bundle(("id", "name", "backend", "state"), rows))


@pragma(
    "get_job_result",
    family="running",
    summary="shows the result of every task of a job (the last by default)",
    params=JOB_SELECTORS,
    example="#%get_job_result()",
    details="Each task's `result` (the value of its body's last expression unless it assigns "
    "`result`). Waits for a running job; an interrupt stops waiting.",
)
def get_job_result(engine: Any, call: PragmaCall, ctx: OutputContext) -> None:
    run = find_run(engine, call)
    _await(run, ctx)
    rows, plain = [], []
    for name, result in run.results.items():
        shown = _result_text(result)
        plain.append(f"{name}: {shown}")
        rows.append(
            f"<tr><td style='text-align:left'><b>{html.escape(name)}</b></td>"
            f"<td style='text-align:left'>{result.state.value}</td>"
            f"<td style='text-align:left'>{_result_html(result)}</td></tr>"
        )
    ctx.display({
        "text/html": f"<table><tr><th>task</th><th>state</th><th>result</th></tr>{''.join(rows)}"
                     "</table>",
        "text/plain": "\n".join(plain),
    })  # fmt: skip


def _released(result: TaskResult) -> str | None:
    return next((n for n in reversed(result.notes) if n.startswith("values released")), None)


def _result_text(result: TaskResult) -> str:
    if result.state is TaskState.DONE and _released(result) and result.result is None:
        return f"({_released(result)}; submit the job again to get them)"
    if result.state is TaskState.DONE:
        return _plain(result.result)
    if result.error is not None:
        return f"{result.state.value}: {result.error.ename}: {result.error.evalue}"
    return result.state.value


def _result_html(result: TaskResult) -> str:
    if result.state is not TaskState.DONE or (_released(result) and result.result is None):
        return html.escape(_result_text(result))
    data, _ = _bundle(result.result)
    if "text/html" in data:
        return data["text/html"]
    if "image/png" in data:
        return f"<img src='data:image/png;base64,{data['image/png']}'/>"
    return f"<pre style='margin:0'>{html.escape(data.get('text/plain', ''))}</pre>"


def _bundle(value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    from pragma_kernel.pragmas.rich_display import format_mimebundle

    return format_mimebundle(value)


def _plain(value: Any) -> str:
    return _bundle(value)[0].get("text/plain", repr(value))


@pragma(
    "get_task_result",
    family="running",
    summary="shows one task's result and exports (of the last job by default)",
    params=[Param("task_name", "name", required=True, help="the task"), *JOB_SELECTORS],
    example="#%get_task_result(task_name=train)",
    details="The result is shown as a rich output (tables, pictures). Waits for a running job.",
)
def get_task_result(engine: Any, call: PragmaCall, ctx: OutputContext) -> None:
    run = find_run(engine, call)
    result = _task_of(run, call)
    _await(run, ctx)
    if result.state is not TaskState.DONE:
        if result.error is not None:
            raise JobFailedError(f"task {result.name} of job {run.name} failed: "
                                 f"{result.error.ename}: {result.error.evalue}")  # fmt: skip
        raise PragmaStateError(f"task {result.name} of job {run.name} is {result.state.value}: "
                               "it has no result")  # fmt: skip
    released = _released(result)
    if released:
        ctx.stream("stdout", f"{result.name}: {released}\n")
    if result.exports:
        listed = ", ".join(f"{k} = {_short(v)}" for k, v in result.exports.items())
        ctx.stream("stdout", f"{result.name} exported: {listed}\n")
    data, metadata = _bundle(result.result)
    ctx.display(data, metadata)


def _short(value: Any, limit: int = 60) -> str:
    text = _plain(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _task_of(run: JobRun, call: PragmaCall) -> TaskResult:
    name = call.args["task_name"]
    if name not in run.results:
        known = ", ".join(run.results)
        raise call.error(f"job {run.name} (id {run.job_id}) has no task {name!r} "
                         f"(its tasks: {known})", "task_name")  # fmt: skip
    return run.results[name]


@pragma(
    "print_job_output",
    family="running",
    summary="prints what every task of a job wrote (the last job by default)",
    params=JOB_SELECTORS,
    example="#%print_job_output()",
)
def print_job_output(engine: Any, call: PragmaCall, ctx: OutputContext) -> None:
    run = find_run(engine, call)
    _await(run, ctx)
    for result in run.results.values():
        _replay(result, ctx, header=True)


@pragma(
    "print_task_output",
    family="running",
    summary="prints what one task wrote (of the last job by default)",
    params=[Param("task_name", "name", required=True, help="the task"), *JOB_SELECTORS],
    example="#%print_task_output(task_name=train)",
    details="All of it, also what the cell left out beyond the task's output_limit (read "
    "back from the task's log file).",
)
def print_task_output(engine: Any, call: PragmaCall, ctx: OutputContext) -> None:
    run = find_run(engine, call)
    result = _task_of(run, call)
    _await(run, ctx)
    _replay(result, ctx, header=False)


def _replay(result: TaskResult, ctx: OutputContext, header: bool) -> None:
    """Everything the task wrote, in order: what its cell left out is read from its log."""
    if header:
        ctx.stream("stdout", f"--- {result.name} ({result.state.value}) ---\n")
    for output in result.outputs:
        if output.kind == "stream":
            _replay_text(result, output.name, output.text, ctx, header)
        elif output.kind == task_output.OMITTED:
            _replay_omitted(result, output, ctx, header)
        else:  # the header names the task; print_task_output of one task needs no caption
            show_task_display(ctx, output, result.name, caption=header)
    if not result.outputs and not header:
        ctx.stream("stdout", f"(task {result.name} wrote nothing)\n")


def _replay_text(result: TaskResult, name: str, text: str, ctx: OutputContext,
                 header: bool) -> None:
    ctx.stream(name or "stdout", prefix_lines(text, f"[{result.name}] ") if header else text)


def _replay_omitted(result: TaskResult, output: Any, ctx: OutputContext, header: bool) -> None:
    try:
        for text in task_output.read_omitted(output):
            _replay_text(result, output.name, text, ctx, header)
    except OSError as error:
        ctx.stream("stderr", f"({output.metadata['length']:,} bytes of the output of task "
                   f"{result.name} were in its log, which cannot be read now: {error})\n")


@pragma(
    "get_result",
    family="running",
    summary="legacy: the results of a job by id, as #%get_job_result(job_id=N)",
    params=[Param("id", "word", help="the job's id (default: the last job)")],
    example="#%get_result(id=1)",
)
def get_result(engine: Any, call: PragmaCall, ctx: OutputContext) -> None:
    call.args = {"job_id": call.args.get("id"), "job_name": None}
    get_job_result(engine, call, ctx)


@pragma(
    "run_local",
    family="running",
    summary="runs a task's body here, in the notebook's namespace, to debug it",
    params=[Param("name", "name", required=True, help="the task")],
    example="#%run_local(name=train)",
    details="Its imports are bound from the last job's results where that job ran the "
    "exporting task, else from the notebook. `variables`, `replication` (0) and `result` are "
    "set as in a task; its exports and result stay in the notebook.",
)
def run_local(engine: Any, call: PragmaCall, ctx: OutputContext) -> None:
    from pragma_kernel.kernel.seam import CellError
    from pragma_kernel.pragmas.runtime import (
        PYTHON_LANGUAGES,
        TaskVariables,
        run_segments,
        user_error,
    )

    name = call.args["name"]
    task = engine.job.tasks.get(name)
    if task is None:
        known = ", ".join(engine.job.tasks) or "none"
        raise call.error(f"there is no task {name!r} (tasks: {known})", "name")
    if task.language.lower() not in PYTHON_LANGUAGES:
        raise call.error(f"run_local runs Python tasks; {name!r} is {task.language}", "name")
    namespace = ctx.namespace
    _bind_imports(engine, task, namespace, call)
    variables = TaskVariables({**engine.job.variables, **task.variables})
    variables.update(PA_TASK_NAME=name, PA_JOB_NAME=engine.job_name(ctx), PA_TASK_REPLICATION=0)
    namespace.update(variables=variables, replication=0)
    setup = _import_code_of(engine.job, task.language)
    segments = [
        CodeSegment(segment.code, SourceLocation(ctx.code_file(segment.source.label),
                                                 segment.source.first_line))
        for segment in [*setup, *(task.segments or [CodeSegment(task.code, task.source)])]
    ]
    try:
        value = run_segments(segments, namespace)
    except Exception as exc:  # noqa: BLE001 - the user's code: shown like a cell's error
        error = user_error(exc)
        raise CellError(error.ename, error.evalue, error.traceback) from None
    namespace.setdefault("result", value)
    _show_figures(ctx)
    if value is not None:
        data, metadata = _bundle(value)
        ctx.display(data, metadata)


def _import_code_of(job: Any, language: str) -> list[CodeSegment]:
    """The job's ``#%import`` code, which every task runs first: run_local runs it too."""
    for lang, code in job.import_code.items():
        if lang.lower() == language.lower() and code.strip():
            return [CodeSegment(code, job.import_source.get(lang, SourceLocation("#%import", 1)))]
    return []


def _bind_imports(engine: Any, task: Any, namespace: dict[str, Any], call: PragmaCall) -> None:
    last = engine.submitted[-1] if engine.submitted else None
    missing = []
    for variable in task.imports:
        value = _exported_by_last_job(last, task, variable)
        if value is not _MISSING:
            namespace[variable] = value
        elif variable not in namespace:
            missing.append(variable)
    if missing:
        names = ", ".join(missing)
        raise call.error(f"task {task.name!r} imports {names}: no earlier job exported it and "
                         "the notebook does not define it", "name")  # fmt: skip


_MISSING = object()


def _exported_by_last_job(run: JobRun | None, task: Any, variable: str) -> Any:
    if run is None or task.name not in run.plan.tasks:
        return _MISSING
    run.fetch()
    source = run.plan.tasks[task.name].import_sources.get(variable)
    if source is None:
        return _MISSING
    result = run.results.get(source)
    if result is None or result.state is not TaskState.DONE or variable not in result.exports:
        return _MISSING
    return result.exports[variable]


def _show_figures(ctx: OutputContext) -> None:
    import sys

    if "matplotlib.pyplot" not in sys.modules:
        return
    import matplotlib.pyplot as plt
    from pragma_kernel.pragmas.figures import figure_png

    for number in plt.get_fignums():
        figure = plt.figure(number)
        ctx.display({"image/png": figure_png(figure), "text/plain": repr(figure)})
    plt.close("all")
