"""Pragma family: tasks — task, delete_task, import, configure, job.

Also the helpers the other task-creating families (flow) share: the task parameters, reading a
body from ``path=``, compiling a Python body at definition, warning about unknown deps.
"""

from __future__ import annotations

import keyword
import os
from pathlib import Path
from typing import Any

from pragma_kernel.pragmas.dataflow import FLOW_CHOICES, check_task, infer_flow, is_auto
from pragma_kernel.pragmas.declaration import Param, PragmaCall, pragma
from pragma_kernel.pragmas.errors import PragmaStateError
from pragma_kernel.pragmas.model import (
    DEFAULT_LANGUAGE,
    DEFAULT_OUTPUT_LINES,
    MAX_RETRIES,
    MAX_RUNS,
    MAX_TIMEOUT,
    OUTPUT_CHARS_PER_LINE,
    FlowInfo,
    Job,
    OutputLimit,
    SourceLocation,
    Task,
)
from pragma_kernel.pragmas.task_files import normalized, pattern_problem
from pragma_kernel.pragmas.validation import check_python_syntax, unknown_deps

#: ProActive's script languages (the SDK's ``ProactiveScriptLanguage``), Python first.
LANGUAGES = (
    "Python", "Linux_Bash", "Bash", "Shell", "Windows_Cmd", "DockerCompose", "DockerFile",
    "Kubernetes", "PHP", "VBScript", "Scalaw", "Groovy", "Javascript", "Jython", "Ruby", "Perl",
    "PowerShell", "R",
)  # fmt: skip


def language_param(default: str = DEFAULT_LANGUAGE, required: bool = False) -> Param:
    return Param(
        "language", "choice", required=required, default=default, choices=LANGUAGES,
        help=f"the script language (default {default}); Python runs on every backend",
    )  # fmt: skip


NAME = Param("name", "name", required=True, help="the task's name; defining it again replaces it")
DEP = Param("dep", "list", default=[], help="tasks that must finish first")
GENERIC_INFO = Param("generic_info", "pairs", default={}, help="ProActive generic information")
PATH = Param("path", "path", help="take the code from this file instead of the cell")

MAX_OUTPUT_LINES = 10**9  #: beyond that a typo, not a limit
OUTPUT_LIMIT = Param(
    "output_limit", "word", suggestions=("off", "100000"),
    help=f"how many lines of each replica's output the cell shows as it comes (default "
    f"{DEFAULT_OUTPUT_LINES:,}; also at most {OUTPUT_CHARS_PER_LINE} characters per line of the "
    "limit); beyond that the rest goes to a log file, the cell shows its last tenth when the "
    "replica ends and #%print_task_output all of it (local and Dask); off: all in the cell")

TASK_PARAMS = (
    NAME,
    DEP,
    Param("import", "list", default=[], help="variables bound before the body runs, from the "
          "nearest ancestor that exports them, else from the notebook's namespace"),
    Param("export", "list", default=[], help="variables kept at the end of the task for its "
          "dependents and pulled into the notebook"),
    Param("runs", "int", default=1, minimum=1, maximum=MAX_RUNS,
          help="run N replicas in parallel; each sees `replication`"),
    language_param(),
    PATH,
    Param("variables", "pairs", default={}, help="task variables, seen as `variables[K]`"),
    GENERIC_INFO,
    Param("precious_result", "flag", default=False, help="ProActive: keep the task's result "
          "as a job result"),
    Param("retries", "int", default=0, minimum=0, maximum=MAX_RETRIES,
          help="run again up to N times after a failure (local and Dask)"),
    Param("timeout", "number", minimum=0, exclusive_minimum=True, maximum=MAX_TIMEOUT,
          help="seconds after which the task is stopped and fails (local and Dask); "
          "at most 2147483 (about 24.8 days)"),
    OUTPUT_LIMIT,
    Param("flow", "choice", choices=FLOW_CHOICES, help="auto: import, export and dep are "
          "inferred from the code (written entries are kept); written: as written (default: "
          "the job's flow)"),
    Param("cache", "flag", default=True, help="off: never reuse this task's result (it reads "
          "files, draws random numbers, has side effects...); the tasks after it run too"),
    Param("input_files", "list", default=[], help="files it reads, placed in its own working "
          "directory before it starts: paths or globs relative to it (data/*.csv, a folder: "
          "plots/), from the notebook's folder or the output_files of its ancestors (the "
          "nearest wins); ProActive: transferred from the input or output space"),
    Param("output_files", "list", default=[], help="files it writes, kept when it ends for "
          "its dependents' input_files and brought into the notebook's folder after the job "
          "(pull=on); one it does not write is its error; ProActive: transferred to the "
          "output space"),
)  # fmt: skip


def output_limit(call: PragmaCall) -> OutputLimit | None:
    """The ``output_limit`` given: a whole number of lines, or off (None: not given)."""
    if "output_limit" not in call.given:
        return None
    text = str(call.args["output_limit"]).strip().replace("_", "")
    if text.lower() == "off":
        return OutputLimit(None)
    lines = int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else 0
    if not 1 <= lines <= MAX_OUTPUT_LINES:
        raise call.error(f"expected a number of lines from 1 to {MAX_OUTPUT_LINES} or off, "
                         f"not {text!r}", "output_limit")
    return OutputLimit(lines)


# --------------------------------------------------------------------------- shared helpers


def load_body(call: PragmaCall, ctx: Any) -> tuple[str, SourceLocation]:
    """The code of a body-taking pragma: the file of ``path=`` (relative to the working
    directory) or the cell's body."""
    path = call.args.get("path")
    if not path:
        source = call.body_source or SourceLocation(ctx.cell_label, call.lineno + 1)
        return call.body, source
    file = Path(path)
    try:
        code = file.read_text(encoding="utf-8")
    except OSError as error:
        raise call.error(f"cannot read {str(file)!r} ({error.strerror or error}); the path is "
                         f"relative to {os.getcwd()}", "path") from None
    except UnicodeDecodeError as error:
        raise call.error(f"{str(file)!r} is not UTF-8 text ({error.reason} at byte "
                         f"{error.start})", "path") from None
    if call.body.strip():
        ctx.stream("stderr", f"Warning: #%{call.spec.name} reads its code from {path}; the code "
                             "in this cell is ignored.\n")
    return code, SourceLocation(str(file), 1)


def check_identifiers(call: PragmaCall, names: list[str], param: str) -> None:
    for name in names:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise call.error(f"{name!r} is not a Python variable name", param)


def refuse_if_not_run_here(engine: Any, call: PragmaCall, language: str, what: str) -> None:
    """Refuse, at definition, code in a language only ProActive's script engines run (Jython,
    Groovy, R...) while the backend is local or Dask: it could only fail at submission there,
    and a Jython body would otherwise run as CPython 3 without notice."""
    from pragma_kernel.pragmas.runtime import LOCAL_LANGUAGES

    backend = engine.backend.name if engine.backend is not None else "local"
    if backend == "proactive" or language.lower() in LOCAL_LANGUAGES:
        return
    raise call.error(
        f"{language} {what} run only on a ProActive scheduler; the {backend} backend runs "
        "Python and Linux_Bash (also Bash, Shell). Connect to ProActive first "
        "(#%connect(host=..., login=...)), or write it in Python",
        "language",
    )


def compile_if_python(code: str, language: str, source: SourceLocation) -> None:
    """Compile a Python body now, so a syntax error is reported at definition."""
    if language == "Python":
        error = check_python_syntax(code, source)
        if error is not None:
            raise error


def warn_unknown_deps(job: Job, task: Task, ctx: Any) -> None:
    for dep in unknown_deps(job, task):
        ctx.stream("stderr", f"Warning: task '{task.name}' depends on '{dep}', which is not "
                             "defined; that dependency is ignored until it is.\n")


def define_task(
    engine: Any, call: PragmaCall, ctx: Any, *, name: str | None = None,
    dep: list[str] | None = None, flow: FlowInfo | None = None,
) -> Task:
    """Create or replace a task from a task-like pragma (task, split, process, ...)."""
    args = call.args
    name = name or args["name"]
    dep = list(args.get("dep") or []) if dep is None else dep
    if name in dep:
        raise call.error(f"task '{name}' cannot depend on itself", "dep")
    language = args.get("language") or DEFAULT_LANGUAGE
    refuse_if_not_run_here(engine, call, language, "tasks")
    code, source = load_body(call, ctx)
    task = Task(name=name, code=code, language=language, source=source, dep=dep,
                path=args.get("path"), generic_info=dict(args.get("generic_info") or {}),
                flow=flow or FlowInfo(), data_flow=args.get("flow"),
                cell=getattr(ctx, "execution_count", 0) or 0)  # fmt: skip
    if "variables" in args:
        task.variables = dict(args["variables"] or {})
    _set_options(call, task)
    compile_if_python(code, language, source)
    old = engine.job.tasks.get(name)
    if old is not None:  # attachments come from other cells: keep them
        task.pre_script, task.post_script = old.pre_script, old.post_script
        task.selection_script, task.fork_env = old.selection_script, old.fork_env
    engine.job.define(task)
    engine.note_defined(name)
    warn_unknown_deps(engine.job, task, ctx)
    verb = "replaced" if old is not None else "defined"
    ctx.stream("stdout", f"Task '{name}' {verb}{_inferred_so_far(engine.job, task, ctx)}.\n")
    for finding in check_task(engine.job, task, ctx.namespace):
        ctx.stream("stderr", f"Warning: {finding.message}.\n")
    return task


def _inferred_so_far(job: Job, task: Task, ctx: Any) -> str:
    """For a flow=auto task: what it takes from the tasks before it and the notebook (its
    exports depend on the cells after it, known at submission)."""
    if not is_auto(job, task) or task.language != "Python":
        return ""
    flow = infer_flow(job, ctx.namespace).tasks[task.name]
    parts = [f"import=[{', '.join(flow.imports)}]"]
    if flow.inferred_dep:
        parts.append(f"dep=[{', '.join(flow.inferred_dep)}] (inferred)")
    return f" (flow=auto: {', '.join(parts)})"


def _set_options(call: PragmaCall, task: Task) -> None:
    args = call.args
    task.imports = list(args.get("import") or [])
    task.exports = list(args.get("export") or [])
    if task.language == "Python":
        check_identifiers(call, task.imports, "import")
        check_identifiers(call, task.exports, "export")
    if "runs" in args:  # numbers were checked against their declared range
        task.runs = args["runs"]
    task.precious_result = bool(args.get("precious_result", False))
    task.retries = args.get("retries", 0)
    task.timeout = args.get("timeout")
    task.output_limit = output_limit(call)
    task.cache = args.get("cache", True)
    task.input_files = _file_patterns(call, "input_files")
    task.output_files = _file_patterns(call, "output_files")


def _file_patterns(call: PragmaCall, param: str) -> list[str]:
    """The patterns given, normalized; one that leaves the working directory is refused."""
    patterns = []
    for pattern in call.args.get(param) or []:
        problem = pattern_problem(pattern)
        if problem is not None:
            raise call.error(problem, param)
        if normalized(pattern) not in patterns:
            patterns.append(normalized(pattern))
    return patterns


def existing_task(engine: Any, call: PragmaCall, param: str = "name") -> Task:
    """The task named by ``param``, or an error that suggests the closest existing one."""
    from pragma_kernel.pragmas.parser import closest

    name = call.args[param]
    task = engine.job.tasks.get(name)
    if task is None:
        names = list(engine.job.tasks)
        hint = closest(name, names)
        known = f" Did you mean '{hint}'?" if hint else (
            f" Defined tasks: {', '.join(names)}." if names else " No task is defined yet.")
        raise call.error(f"there is no task '{name}'.{known}", param)
    return task


# --------------------------------------------------------------------------- pragmas


@pragma(
    "task",
    family="tasks",
    summary="creates or replaces a task whose code is the rest of the cell",
    params=TASK_PARAMS,
    body="optional",
    example="#%task(name=prep, export=[df])\ndf = [3, 1, 2]\n\n"
    "#%task(name=train, dep=[prep], import=[df], export=[model])\nmodel = sorted(df)",
    details=(
        "Running the cell again replaces the task with what the cell now says (idempotent); "
        "pre/post/selection scripts and fork environments attached by other cells are kept. "
        "A dep on a task that does not exist is a warning and is ignored. The code is compiled "
        "now: a syntax error is reported at its line. retries and timeout apply on the local "
        "and Dask backends."
    ),
)
def task(engine: Any, call: PragmaCall, ctx: Any) -> None:
    define_task(engine, call, ctx)


@pragma(
    "delete_task",
    family="tasks",
    summary="removes a task (and the dependencies on it) from the job",
    params=[Param("name", "name", required=True, help="the task to remove")],
    example="#%task(name=scratch)\nprint('not needed after all')\n\n#%delete_task(name=scratch)",
)
def delete_task(engine: Any, call: PragmaCall, ctx: Any) -> None:
    existing_task(engine, call)
    engine.job.delete(call.args["name"])
    engine.note_deleted(call.args["name"])
    ctx.stream("stdout", f"Task '{call.args['name']}' deleted.\n")


@pragma(
    "import",
    family="tasks",
    summary="code (usually imports) run at the start of every task of a language",
    params=[language_param()],
    body="required",
    example="#%import()\nimport math\nimport statistics",
    details=(
        "Running it again replaces that language's import code. It applies when the job is "
        "submitted, so it reaches tasks defined before it too (Activeeon's kernel applied it "
        "only to tasks defined after it)."
    ),
)
def import_(engine: Any, call: PragmaCall, ctx: Any) -> None:
    language = call.args["language"]
    code, source = load_body(call, ctx)
    compile_if_python(code, language, source)
    engine.job.import_code[language] = code
    engine.job.import_source[language] = source
    ctx.stream("stdout", f"Import code for {language} tasks set.\n")


@pragma(
    "configure",
    family="tasks",
    summary="block: cells without pragma run locally; multiblock: they extend the last task",
    params=[Param("task", "choice", required=True, choices=("block", "multiblock"),
                  help="block (default) or multiblock")],
    example="#%configure(task=multiblock)",
    details=(
        "In multiblock mode a cell without a pragma is appended to the last defined task "
        "instead of running locally; running the same cell again does not append it twice. "
        "#%configure(task=block) restores local runs."
    ),
)  # fmt: skip
def configure(engine: Any, call: PragmaCall, ctx: Any) -> None:
    engine.mode = call.args["task"]
    where = ("are appended to the last defined task" if engine.mode == "multiblock"
             else "run locally")
    ctx.stream("stdout", f"Cells without a pragma now {where}.\n")


@pragma(
    "job",
    family="tasks",
    summary="names the job and sets its variables and generic information",
    params=[
        Param("name", "word", help="the job's name (default: the notebook's name); quote it "
              "to use spaces"),
        Param("variables", "pairs", default={}, help="job variables, seen by every task"),
        GENERIC_INFO,
        Param("output_limit", "word", suggestions=OUTPUT_LIMIT.suggestions,
              help="the output_limit of every task that sets none (see #%task)"),
        Param("flow", "choice", choices=FLOW_CHOICES, help="auto: every task's import, export "
              "and dep are inferred from its code (written entries are kept; a task's own "
              "flow= wins); written (the default): as written"),
    ],
    example="#%job(name=training, variables=[(EPOCHS, 10), (DATA, 'data/train.csv')])",
    details="Given variables and generic information replace the previous ones (unlike "
    "Activeeon's kernel, they are never ignored). output_limit=N: the cell shows the first N "
    "lines of each task replica's output as they come; beyond them the output goes to a log "
    "file under Jupyter's data folder, and when the replica ends the cell shows one line "
    "saying how much was left out and where, then the last N/10 lines. "
    "#%print_task_output shows all of it.",
)
def job(engine: Any, call: PragmaCall, ctx: Any) -> None:
    current = engine.job
    if "name" in call.given:
        current.name = call.args["name"]
    if "variables" in call.given:
        current.variables = dict(call.args["variables"])
    if "generic_info" in call.given:
        current.generic_info = dict(call.args["generic_info"])
    if "flow" in call.given:
        current.data_flow = call.args["flow"]
    if "output_limit" in call.given:
        current.output_limit = output_limit(call)
    if not call.given:
        raise PragmaStateError("#%job: give at least one of name, variables, generic_info, "
                               "output_limit, flow")
    ctx.stream("stdout", f"Job {current.name or '(unnamed)'} updated.\n")
