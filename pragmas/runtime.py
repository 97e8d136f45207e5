"""The code that runs inside a task, identical on every backend.

CONTRACT (stable; the Dask and ProActive backends call only this)::

    spec = TaskSpec.from_plan(plan, task_name, replication)      # in the kernel, picklable
    inputs = gather_inputs(spec, plan.local_inputs, replica_exports, replica_variables)
    outcome = run_task(spec, inputs, emit=None)                   # wherever the task runs

``inputs`` maps each import name to its value (a list of replica values when the source task
has runs>1) plus the key ``"__variables__"``: the ProActive-style variables put by ancestors.
``emit`` (optional) receives each :class:`Output` as it is produced (stdout/stderr in batches
of whole lines, at most ``output_batch.DELAY`` seconds late; ``display()`` bundles, figures),
for streaming; the outcome lists the same items as well (``keep_outputs=False``: it lists
none, for a caller that keeps what it was emitted).
``run_task`` never raises for the user's errors: ``outcome.ok`` / ``outcome.error`` say.
Exports, ``result`` and put variables are checked serialisable (cloudpickle) by the runtime,
so every backend reports "export 'x' cannot be serialised: ..." the same way;
``keep_packed=True`` keeps those pickles (``outcome.packed``) so the caller need not pickle
again. Only one task runs at a time per process (stdout and matplotlib are process-wide).

Changes (announced here): ``TaskSpec`` gained ``imports``, ``import_sources``,
``source_runs``, ``ancestors``, ``runs``, ``retries``, ``setup_source``, ``flow_action``,
``flow_script``, ``segments`` (multiblock: each cell of a Python body runs under its own
location; ``setup_source`` is where the ``#%import`` code was written); ``TaskOutcome`` gained ``packed`` and ``flow`` (the decision of a ProActive
control-flow script, run after the task: ``{"runs": N}``, ``{"loop": bool}`` or
``{"branch": "if"|"else"}``; see ``pragma_kernel.pragmas.backends.flow_graph.FlowGraph`` for how the embedded
backend applies it); helper :func:`gather_inputs`. Variables put by ancestors override job and
task variables; ``PA_TASK_ITERATION`` is 0 outside loops. ``from_plan`` takes the run's
``job_id`` (backends pass it) for ProActive's ``PA_JOB_ID`` and ``PA_TASK_ID``. Bash bodies get
the language's ``#%import`` code too, and every variable as ``$NAME`` and ``$variables_NAME``.
``run_task`` gained ``keep_outputs``; output is emitted in batches, no longer line by line, and
``outcome.outputs`` lists those batches unmerged (the n-th emitted item is the n-th listed).
"""

from __future__ import annotations

import ast
import contextlib
import linecache
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import CodeType, TracebackType
from typing import TYPE_CHECKING, Any

from pragma_kernel.pragmas.ancestry import Ancestry
from pragma_kernel.pragmas.backends.base import Output, TaskError
from pragma_kernel.pragmas.model import (
    DEFAULT_MAX_LOOP_ROUNDS,
    MAX_RUNS,
    CodeSegment,
    Script,
    SourceLocation,
)
from pragma_kernel.pragmas.output_batch import OutputBatcher
from pragma_kernel.pragmas.task_files import (
    FileRef,
    FileTraffic,
    TaskFileError,
    TaskFolder,
    select_inputs,
)
from pragma_kernel.pragmas.transfer import Packed, SerialisationError, pack

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pragma_kernel.pragmas.backends.base import JobPlan

#: CPython 3 only: Jython (Python 2 on the JVM) is one of ProActive's engines, not this runtime's
PYTHON_LANGUAGES = frozenset({"python", "cpython", "python3"})
SHELL_LANGUAGES = frozenset({"linux_bash", "bash", "shell"})
#: what this runtime runs (lower case); any other language needs a ProActive scheduler
LOCAL_LANGUAGES = PYTHON_LANGUAGES | SHELL_LANGUAGES
RESULT_KEY = "__result__"  #: key of ``result`` in ``TaskOutcome.packed``
VARIABLES_KEY = "__variables__"  #: key of inherited variables in ``inputs``
FILES_KEY = "__files__"  #: key of the files placed in the task's folder (``FileRef`` list)
_UNSET = object()


@dataclass
class TaskSpec:
    """Everything one replica of one task needs; picklable, no references to the job."""

    job_name: str
    task_name: str
    language: str
    body: str
    source: SourceLocation
    setup_code: str = ""  #: the job's ``#%import`` code for this language
    pre_script: Script | None = None
    post_script: Script | None = None
    exports: tuple[str, ...] = ()
    variables: dict[str, Any] = field(default_factory=dict)  #: job + task variables
    replication: int | None = None  #: index of this replica when runs > 1
    timeout: float | None = None
    imports: tuple[str, ...] = ()
    #: import name -> exporting ancestor task, or None for the local-namespace snapshot
    import_sources: dict[str, str | None] = field(default_factory=dict)
    source_runs: dict[str, int] = field(default_factory=dict)  #: runs of each source task
    ancestors: tuple[str, ...] = ()  #: every ancestor, in topological order
    runs: int = 1
    retries: int = 0
    setup_source: SourceLocation = field(default_factory=lambda: SourceLocation("#%import", 1))
    #: ProActive control flow decided by this task: "replicate" | "loop" | "if" | None, and
    #: the script (run after the task) that sets ``runs`` / ``loop`` / ``branch``
    flow_action: str | None = None
    flow_script: Script | None = None
    max_rounds: int = DEFAULT_MAX_LOOP_ROUNDS  #: a loop's cap (see FlowInfo.max_rounds)
    #: multiblock mode: the cells ``body`` is made of, each with its own location; a Python
    #: task runs them one by one so a traceback names the right cell and line. Empty when
    #: ``body`` comes from one place (``source``).
    segments: tuple[CodeSegment, ...] = ()
    #: ``input_files`` / ``output_files`` patterns, and for each input pattern the ancestors
    #: whose outputs may serve it, nearest first (``pragma_kernel.pragmas.task_files``)
    input_files: tuple[str, ...] = ()
    output_files: tuple[str, ...] = ()
    file_sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: where the task's own working directory is made (None: the temporary folder) and, with
    #: ``link_files``, where its outputs are kept by hard link (a backend whose tasks share
    #: this machine) rather than read into bytes that travel
    work_root: str | None = None
    link_files: bool = False
    #: the notebook's folder, when it is on this machine (the local backend): its modules
    #: import from there, though the task runs in a folder of its own
    module_folder: str | None = None

    @property
    def label(self) -> str:
        """How the user names this replica: ``train`` or ``train[2]``."""
        return (
            self.task_name if self.replication is None else f"{self.task_name}[{self.replication}]"
        )

    @classmethod
    def from_plan(cls, plan: JobPlan, task_name: str, replication: int | None = None,
                  job_id: str = "") -> TaskSpec:
        """The spec of one replica (``replication`` None when the task has runs=1);
        ``job_id``: the id the backend gave the run (``PA_JOB_ID``, ``PA_TASK_ID``)."""
        planned = plan.tasks[task_name]
        task = planned.task
        body, source = task.code, task.source
        if task.path and not body.strip():
            body, source = _read_body(task.path), SourceLocation(task.path, 1)
        setup_code, setup_source = _import_code(plan, task.language)
        variables: dict[str, Any] = {**plan.job.variables, **task.variables}
        variables.update(
            PA_JOB_NAME=plan.name,
            PA_TASK_NAME=task_name,
            PA_TASK_REPLICATION=replication if replication is not None else 0,
            PA_TASK_ITERATION=0,  # a loop's later rounds count up (the backend sets it)
        )
        if job_id:
            variables.update(PA_JOB_ID=job_id, PA_TASK_ID=_task_id(plan, job_id, task_name))
        return cls(
            job_name=plan.name,
            task_name=task_name,
            language=task.language,
            body=body,
            source=source,
            setup_code=setup_code,
            setup_source=setup_source,
            pre_script=task.pre_script,
            post_script=task.post_script,
            exports=tuple(task.exports),
            variables=variables,
            replication=replication,
            timeout=task.timeout,
            imports=tuple(task.imports),
            import_sources=dict(planned.import_sources),
            source_runs={
                src: plan.tasks[src].task.runs
                for src in planned.import_sources.values()
                if src is not None
            },
            ancestors=_ancestry(plan).of(task_name),
            runs=task.runs,
            retries=task.retries,
            flow_action=task.flow.action if task.flow.script is not None else None,
            flow_script=task.flow.script,
            max_rounds=task.flow.max_rounds,
            segments=tuple(task.segments) if body == task.code else (),
            input_files=tuple(task.input_files),
            output_files=tuple(task.output_files),
            file_sources=dict(planned.file_sources),
        )


def _task_id(plan: JobPlan, job_id: str, task_name: str) -> str:
    """ProActive's task id: the job's number × 10000 + the task's position in the job."""
    number = re.search(r"\d+$", job_id)
    position = _ancestry(plan).position[task_name]
    return str((int(number.group()) if number else 0) * 10000 + position)


#: id(plan) -> (its tasks dict, its Ancestry); one entry per live plan
_ANCESTRY: dict[int, tuple[dict, Ancestry]] = {}


def _ancestry(plan: JobPlan) -> Ancestry:
    """The plan's ancestry, made once per plan (a backend asks for every task's spec)."""
    known = _ANCESTRY.get(id(plan))
    if known is not None and known[0] is plan.tasks and len(known[1].position) == len(plan.tasks):
        return known[1]
    ancestry = Ancestry(plan.tasks, {name: p.deps for name, p in plan.tasks.items()})
    if known is None:
        try:
            weakref.finalize(plan, _ANCESTRY.pop, id(plan), None)
        except TypeError:  # a stand-in plan without weak references: not kept
            return ancestry
    _ANCESTRY[id(plan)] = (plan.tasks, ancestry)
    return ancestry


def _read_body(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


def _import_code(plan: JobPlan, language: str) -> tuple[str, SourceLocation]:
    """The job's ``#%import`` code for ``language`` (any case) and where it was written."""
    wanted = language.lower()
    for lang, code in plan.job.import_code.items():
        if lang.lower() == wanted:
            return code, plan.job.import_source.get(lang, SourceLocation("#%import", 1))
    return "", SourceLocation("#%import", 1)


@dataclass
class TaskOutcome:
    ok: bool
    exports: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    variables: dict[str, Any] = field(default_factory=dict)  #: put by this task
    outputs: list[Output] = field(default_factory=list)
    error: TaskError | None = None
    started: float = 0.0
    finished: float = 0.0
    #: with ``keep_packed``: export name (and RESULT_KEY) -> its pickle, ready to ship
    packed: dict[str, Packed] = field(default_factory=dict, repr=False, compare=False)
    #: the flow script's decision: {"runs": N} | {"loop": bool} | {"branch": "if" | "else"}
    flow: dict[str, Any] = field(default_factory=dict)
    files: list[FileRef] = field(default_factory=list)  #: its output_files, kept
    file_traffic: FileTraffic = field(default_factory=FileTraffic)


def gather_inputs(
    spec: TaskSpec,
    local_inputs: dict[str, bytes],
    replica_exports: Callable[[str], list[dict[str, Any]]],
    replica_variables: Callable[[str], list[dict[str, Any]]],
    notebook_files: list[FileRef] | tuple[FileRef, ...] = (),
    written_by: Callable[[str], list[FileRef]] | None = None,
) -> dict[str, Any]:
    """The ``inputs`` of ``run_task`` from finished ancestors, for backends holding values.

    ``replica_exports(task)`` / ``replica_variables(task)``: one dict per replica of an
    ancestor, in replica order. ``notebook_files``: the files of the notebook's folder the
    task reads; ``written_by(task)``: the output files of an ancestor (all its replicas').
    """
    import cloudpickle

    inputs: dict[str, Any] = {}
    for name, source in spec.import_sources.items():
        if source is None:
            inputs[name] = cloudpickle.loads(local_inputs[name])
            continue
        values = [exports[name] for exports in replica_exports(source)]
        inputs[name] = values if spec.source_runs.get(source, 1) > 1 else values[0]
    inherited: dict[str, Any] = {}
    for ancestor in spec.ancestors:
        for put in replica_variables(ancestor):
            inherited.update(put)
    inputs[VARIABLES_KEY] = inherited
    if spec.input_files:
        inputs[FILES_KEY] = select_inputs(spec.input_files, spec.file_sources, notebook_files,
                                          written_by or (lambda task: []))
    return inputs


class TaskVariables(dict):
    """ProActive's ``variables``: a dict with ``get``/``put``; remembers what the task put."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.put_names: list[str] = []

    def put(self, key: str, value: Any) -> None:
        self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        if key not in self.put_names:
            self.put_names.append(key)

    def put_values(self) -> dict[str, Any]:
        return {k: self[k] for k in self.put_names if k in self}


class TaskFailure(Exception):
    """A failure of the task itself that is not an exception of the user's code."""

    def __init__(self, ename: str, evalue: str):
        super().__init__(evalue)
        self.ename, self.evalue = ename, evalue


def run_task(
    spec: TaskSpec,
    inputs: dict[str, Any],
    emit: Callable[[Output], None] | None = None,
    *,
    keep_packed: bool = False,
    keep_outputs: bool = True,
    in_place: bool = False,
) -> TaskOutcome:
    """Run one replica of a task; see the module docstring. It runs in a working directory
    of its own (``pragma_kernel.pragmas.task_files.TaskFolder``) holding ``inputs[FILES_KEY]``;
    ``in_place``: in the current one, which the caller made for it (ProActive's local space).
    A task that declares no file runs in the current one too."""
    capture = OutputCapture(spec.label, emit, keep=keep_outputs)
    outcome = TaskOutcome(ok=False, started=time.time())
    # A task that declares no file runs where tasks always ran (the notebook's folder on the
    # local backend, the worker's on Dask), so notebooks that read and write files without
    # declaring them (Activeeon's as they ship) keep working; declaring files opts in to a
    # folder of its own.
    own_folder = bool(spec.input_files or spec.output_files)
    folder = TaskFolder(spec.label, spec.work_root, "link" if spec.link_files else "data",
                        in_place=in_place or not own_folder)
    try:
        with capture, folder.entered(inputs.get(FILES_KEY, [])), _importing_from(spec):
            _run(spec, inputs, capture, outcome, keep_packed, folder)
        outcome.ok = True
    except (TaskFailure, TaskFileError) as failure:
        ename = getattr(failure, "ename", "TaskFileError")
        evalue = getattr(failure, "evalue", str(failure))
        outcome.error = TaskError(ename, evalue, [f"{ename}: {evalue}"])
    except BaseException as exc:  # noqa: BLE001 - the user's code may raise anything
        outcome.error = user_error(exc)
    finally:
        outcome.finished = time.time()
        outcome.outputs = capture.outputs
        outcome.file_traffic = folder.traffic
    if not outcome.ok:
        outcome.exports, outcome.packed, outcome.result = {}, {}, None
        outcome.files = []
    return outcome


@contextlib.contextmanager
def _importing_from(spec: TaskSpec) -> Iterator[None]:
    """The notebook's folder on ``sys.path`` while the task runs (after its own folder)."""
    folder = spec.module_folder
    if not folder or folder in sys.path:
        yield
        return
    sys.path.insert(1 if sys.path and sys.path[0] == "" else 0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def _run(
    spec: TaskSpec,
    inputs: dict[str, Any],
    capture: OutputCapture,
    outcome: TaskOutcome,
    keep_packed: bool,
    folder: TaskFolder,
) -> None:
    language = spec.language.lower()
    if language not in LOCAL_LANGUAGES:
        raise TaskFailure(
            "LanguageError",
            f"task {spec.task_name!r} is written in {spec.language}, which only a ProActive "
            "scheduler runs; connect to one (#%connect(host=...)) or use Python or Linux_Bash",
        )
    # What ancestors put overrides job and task variables; the PA_* ones are this task's own.
    variables = TaskVariables(spec.variables)
    variables.update(inputs.get(VARIABLES_KEY, {}))
    variables.update((k, v) for k, v in spec.variables.items() if k.startswith("PA_"))
    variables.put_names.clear()  # only what the task itself puts travels on
    replication = spec.replication if spec.replication is not None else 0
    folder.check_inputs(spec.task_name, spec.input_files, spec.file_sources)
    if spec.pre_script is not None:
        _run_script(spec.pre_script, spec, variables, replication, capture)
    if language in SHELL_LANGUAGES:
        if spec.exports:
            raise TaskFailure(
                "ExportError",
                f"task {spec.task_name!r} is {spec.language}: only Python tasks export",
            )
        setup = CodeSegment(spec.setup_code, spec.setup_source) if spec.setup_code else None
        run_shell(spec.body, spec.source, variables, capture, setup)
        result = None
    else:
        namespace = _task_namespace(spec, inputs, variables, replication, capture)
        if spec.setup_code.strip():
            run_python(spec.setup_code, spec.setup_source, namespace)
        segments = spec.segments or (CodeSegment(spec.body, spec.source),)
        last_value = run_segments(segments, namespace)
        result = namespace.get("result", _UNSET)
        if result is _UNSET:
            result = last_value
        outcome.exports = _exports(spec, namespace)
    capture.flush_figures()
    if spec.post_script is not None:
        _run_script(spec.post_script, spec, variables, replication, capture, result)
        capture.flush_figures()
    _keep_files(spec, folder, capture, outcome)
    if spec.flow_script is not None and spec.flow_action in FLOW_VARIABLES:
        outcome.flow = run_flow_script(spec, variables, result)
    outcome.result = result
    outcome.variables = variables.put_values()
    packed = _pack_all(spec, outcome)
    if keep_packed:
        outcome.packed = packed


def _keep_files(spec: TaskSpec, folder: TaskFolder, capture: OutputCapture,
                outcome: TaskOutcome) -> None:
    """The task's declared outputs kept; files it left undeclared said (they go with its
    folder)."""
    folder.check_unchanged(spec.task_name)
    outcome.files = folder.collect(spec.task_name, spec.output_files)
    left = folder.undeclared(spec.output_files)
    if left:
        shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
        capture.write("stderr", f"Note: {spec.label} wrote {shown} in its working directory "
                      "without declaring it: it is removed with that directory. Declare what "
                      "should be kept with output_files=[...]\n")


#: the variable each flow script sets, and its value when the script leaves it unset
FLOW_VARIABLES = {"replicate": ("runs", 1), "loop": ("loop", False), "if": ("branch", None)}


def run_flow_script(spec: TaskSpec, variables: TaskVariables, result: Any) -> dict[str, Any]:
    """Run the task's control-flow script (ProActive's replicate/loop/branch) after it."""
    script = spec.flow_script
    assert script is not None and spec.flow_action is not None
    name, default = FLOW_VARIABLES[spec.flow_action]
    if script.language.lower() not in PYTHON_LANGUAGES:
        raise TaskFailure(
            "LanguageError",
            f"the {script.language} flow script of task {spec.task_name!r} only runs on "
            f"ProActive; write it in Python (e.g. `{name} = ...`) to run it here",
        )
    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "variables": variables,
                 "result": result, name: default}  # fmt: skip
    run_python(script.code, script.source, namespace)
    decision = {name: _checked_decision(spec, name, namespace[name])}
    if decision.get("loop"):
        _check_loop_rounds(spec, variables)
    return decision


def _check_loop_rounds(spec: TaskSpec, variables: TaskVariables) -> None:
    """A condition that still says "loop" after the loop's last allowed round fails the loop,
    rather than running forever."""
    round_number = int(variables.get("PA_TASK_ITERATION") or 0) + 1  # rounds count from 1
    if round_number >= spec.max_rounds:
        raise TaskFailure(
            "LoopLimitError",
            f"the loop ending at task {spec.task_name!r} ran its maximum of {spec.max_rounds} "
            f"rounds and its condition still says loop; raise the cap with "
            f"#%loop(max_rounds=N) or check the condition",
        )


def _checked_decision(spec: TaskSpec, name: str, value: Any) -> Any:
    where = f"the flow script of task {spec.task_name!r}"
    if name == "runs":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RUNS:
            raise TaskFailure("FlowError", f"{where} must set runs to a whole number from 1 "
                              f"to {MAX_RUNS}, not {value!r}")  # fmt: skip
        return value
    if name == "loop":
        return bool(value)
    choice = str(value).lower() if value is not None else ""
    if choice not in ("if", "else"):
        raise TaskFailure("FlowError", f"{where} must set branch to 'if' or 'else', not {value!r}")
    return choice


def _task_namespace(
    spec: TaskSpec,
    inputs: dict[str, Any],
    variables: TaskVariables,
    replication: int,
    capture: OutputCapture,
) -> dict[str, Any]:
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "__builtins__": __builtins__,
        "variables": variables,
        "replication": replication,
        "display": capture.display_objects,
    }
    namespace.update((k, v) for k, v in inputs.items() if k not in (VARIABLES_KEY, FILES_KEY))
    return namespace


def _run_script(
    script: Script,
    spec: TaskSpec,
    variables: TaskVariables,
    replication: int,
    capture: OutputCapture,
    result: Any = None,
) -> None:
    """A pre- or post-script: its own namespace, the task's ``variables`` (and ``result``)."""
    if script.language.lower() in SHELL_LANGUAGES:
        run_shell(script.code, script.source, variables, capture)
        return
    if script.language.lower() not in PYTHON_LANGUAGES:
        raise TaskFailure(
            "LanguageError",
            f"a {script.language} script of task {spec.task_name!r} only runs on ProActive",
        )
    namespace = {
        "__name__": "__main__",
        "__builtins__": __builtins__,
        "variables": variables,
        "replication": replication,
        "result": result,
        "display": capture.display_objects,
    }
    run_python(script.code, script.source, namespace)


def _exports(spec: TaskSpec, namespace: dict[str, Any]) -> dict[str, Any]:
    missing = [name for name in spec.exports if name not in namespace]
    if missing:
        names = ", ".join(repr(n) for n in missing)
        raise TaskFailure(
            "ExportError",
            f"task {spec.task_name!r} exports {names} but never assigned "
            f"{'it' if len(missing) == 1 else 'them'}",
        )
    return {name: namespace[name] for name in spec.exports}


def _pack_all(spec: TaskSpec, outcome: TaskOutcome) -> dict[str, Packed]:
    """Pickle what leaves the task now, so an unpicklable value is this task's error."""
    packed: dict[str, Packed] = {}
    try:
        for name, value in outcome.exports.items():
            packed[name] = pack(value, f"export {name!r} of task {spec.task_name!r}")
        for name, value in outcome.variables.items():
            pack(value, f"variable {name!r} put by task {spec.task_name!r}")
    except SerialisationError as exc:
        raise TaskFailure("SerialisationError", str(exc)) from exc
    try:
        packed[RESULT_KEY] = pack(outcome.result, "result")
    except SerialisationError:
        # an accidental last expression (a generator, an open file) must not fail the task
        outcome.result = ResultRepr(repr(outcome.result))
        packed[RESULT_KEY] = pack(outcome.result)
    return packed


class ResultRepr(str):
    """Stands for a task result that could not be serialised: its repr."""


# --- running code with the user's line numbers ---------------------------------------------


def run_python(code: str, source: SourceLocation, namespace: dict[str, Any]) -> Any:
    """Run ``code`` like a notebook cell: return the value of a final expression, else None.

    Compiled padded with ``first_line - 1`` blank lines under the cell's label, and the text
    registered in ``linecache``, so tracebacks show the user's cell and line numbers.
    """
    body, last = compile_cell(code, source)
    exec(body, namespace)  # noqa: S102 - running the user's task is the point
    return eval(last, namespace) if last is not None else None


def run_segments(segments: tuple[CodeSegment, ...] | list[CodeSegment],
                 namespace: dict[str, Any]) -> Any:
    """Run the cells of one body in order, each compiled under its own location; return what
    running them as one text would: the value of the body's final expression, else None."""
    value = None
    for segment in segments:
        statements, last = _split_cell(segment.code, segment.source)
        if not statements.body and last is None:
            continue  # blank or comments only: the previous cell's last statement stays last
        exec(compile(statements, segment.source.label, "exec"), namespace)  # noqa: S102
        value = eval(last, namespace) if last is not None else None
    return value


def compile_cell(code: str, source: SourceLocation) -> tuple[CodeType, CodeType | None]:
    """The statements and, separately, a final expression (whose value is the result)."""
    statements, last = _split_cell(code, source)
    return compile(statements, source.label, "exec"), last


def _split_cell(code: str, source: SourceLocation) -> tuple[ast.Module, CodeType | None]:
    padded = "\n" * max(source.first_line - 1, 0) + code
    remember_source(source.label, padded)
    tree = ast.parse(padded, filename=source.label, mode="exec")
    last: CodeType | None = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        expression = ast.Expression(tree.body.pop().value)
        last = compile(expression, source.label, "eval")
    return tree, last


def remember_source(label: str, padded: str) -> None:
    """Put a cell's text in ``linecache`` so tracebacks can quote it; several snippets of one
    cell (a body and a script) are overlaid line by line."""
    lines = padded.splitlines(keepends=True)
    entry = linecache.cache.get(label)
    if entry is not None and entry[1] is None:  # ours: no mtime, never checked against a file
        merged = list(entry[2]) + ["\n"] * max(len(lines) - len(entry[2]), 0)
        for i, line in enumerate(lines):
            if line.strip():
                merged[i] = line
        lines = merged
    linecache.cache[label] = (sum(map(len, lines)), None, lines, label)


def user_error(exc: BaseException) -> TaskError:
    """A TaskError whose traceback reads like Python's, without the runtime's own frames."""
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(_user_frames(exc))]
    if isinstance(exc, SyntaxError) or not _user_frames(exc):
        lines = []
    lines += traceback.format_exception_only(type(exc), exc)
    text = "".join(lines).rstrip("\n").split("\n")
    ename = type(exc).__name__
    last = text[-1]
    evalue = last[len(ename) + 2 :] if last.startswith(f"{ename}: ") else str(exc)
    return TaskError(ename, evalue, text)


def _user_frames(exc: BaseException) -> traceback.StackSummary:
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and _is_runtime_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return traceback.extract_tb(tb) if tb is not None else traceback.StackSummary()


_RUNTIME_FILES = frozenset({__file__, os.path.join(os.path.dirname(__file__), "transfer.py")})


def _is_runtime_frame(filename: str) -> bool:
    return filename in _RUNTIME_FILES


# --- shell -------------------------------------------------------------------------------


def run_shell(
    code: str,
    source: SourceLocation,
    variables: TaskVariables,
    capture: OutputCapture,
    setup: CodeSegment | None = None,
) -> None:
    """Run ``code`` with bash; each variable arrives as ``$NAME`` and, as on ProActive, as
    ``$variables_NAME`` (strings). ``setup`` (the ``#%import`` code of the language) is sourced
    first, in the same shell, so what it defines is there for the code."""
    env = dict(os.environ)
    for key, value in variables.items():
        env[str(key)] = env[f"variables_{key}"] = str(value)
    padded = "\n" * max(source.first_line - 1, 0) + code
    with tempfile.TemporaryDirectory(prefix="pragma-bash-") as folder:
        if setup is not None:
            padded = _sourcing(setup, folder) + padded
        process = subprocess.Popen(
            ["bash", "-c", padded, source.label],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group: what it leaves running ends with it
        )
        readers = [
            threading.Thread(target=_pump, args=(process.stdout, "stdout", capture), daemon=True),
            threading.Thread(target=_pump, args=(process.stderr, "stderr", capture), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            status = process.wait()
        finally:
            # A background job (`sleep 60 &`) would hold the output pipes open, and the task
            # with them; a daemon that left the group is the worker's to end (process_tree).
            _kill_group(process.pid)
        for reader in readers:
            reader.join(SHELL_OUTPUT_WAIT)
    if status != 0:
        raise TaskFailure("ShellError", f"bash exited with status {status} ({source.label})")


#: seconds the output of a finished bash script may take to arrive (a daemon it started
#: could keep the pipes open for ever)
SHELL_OUTPUT_WAIT = 5.0


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        pass  # nothing left in it (or no process groups here)


def _sourcing(setup: CodeSegment, folder: str) -> str:
    """The prefix that sources ``setup`` from a file named after where it was written (so bash
    names that cell and line in its errors). It goes on the script's first line, which is a
    blank padding line or the code's own first line: the code keeps its line numbers."""
    name = setup.source.label.replace(os.sep, "_") or "#%import"
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as file:
        file.write("\n" * max(setup.source.first_line - 1, 0) + setup.code + "\n")
    return f". {shlex.quote(path)}; "


def _pump(pipe: Any, name: str, capture: OutputCapture) -> None:
    with pipe:
        for raw in iter(pipe.readline, b""):
            capture.write(name, raw.decode(errors="replace"))


# --- output capture --------------------------------------------------------------------------


class OutputCapture:
    """stdout/stderr, ``display()`` and figures of a running task, as :class:`Output` items.

    Text is handed to ``emit`` in batches of whole lines as it is written (so a long task shows
    progress without a message per line; see :mod:`pragmas.output_batch`), and with ``keep``
    also listed in ``outputs``, in the same batches.
    """

    def __init__(self, label: str, emit: Callable[[Output], None] | None, keep: bool = True):
        self.label = label
        self.emit = emit
        self.keep = keep
        self.outputs: list[Output] = []
        self._batcher = OutputBatcher(self._add, timed=emit is not None)
        self._saved: tuple[Any, Any, Any] | None = None

    def __enter__(self) -> OutputCapture:  # noqa: PYI034
        global _active
        from pragma_kernel.pragmas import rich_display as rich

        _install_ipython_display(rich)
        self._saved = (sys.stdout, sys.stderr, _active, rich.set_shell_context(self))
        sys.stdout = _CapturedStream(self, "stdout")
        sys.stderr = _CapturedStream(self, "stderr")
        _active = self
        _use_task_figures()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._batcher.send_all()
        global _active
        from pragma_kernel.pragmas import rich_display as rich

        assert self._saved is not None
        sys.stdout, sys.stderr, _active, previous = self._saved
        rich.set_shell_context(previous)

    def write(self, name: str, text: str) -> None:
        self._batcher.write(name, text)

    def flush(self) -> None:
        self._batcher.flush()

    @staticmethod
    def display_objects(*objects: Any, **kwargs: Any) -> Any:
        """``display()`` inside a task (IPython's signature): each object's rich bundle."""
        from pragma_kernel.pragmas.rich_display import display

        return display(*objects, **kwargs)

    def display(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        *,
        display_id: str | None = None,
        update: bool = False,
    ) -> None:
        """The output-context ``display``: a ready mime bundle."""
        self.display_bundle(data, metadata)

    # The output-context methods ``pragma_kernel.pragmas.rich_display`` publishes through (IPython's display,
    # display handles, clear_output), so rich output made in a task lands in its outputs.
    def stream(self, name: str, text: str) -> None:
        self.write(name, text)

    def clear_output(self, wait: bool = False) -> None:
        """Outputs of a task are kept, not cleared (they are shown after it ran)."""

    def display_bundle(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        *,
        display_id: str | None = None,
        update: bool = False,
    ) -> None:
        self._batcher.send_all(then=Output("display", data=dict(data),
                                           metadata=dict(metadata or {})))

    def flush_figures(self) -> None:
        if "matplotlib.pyplot" in sys.modules:
            from pragma_kernel.pragmas import figures

            figures.flush_figures()

    def _add(self, output: Output) -> None:
        if self.keep:
            self.outputs.append(output)
        if self.emit is not None:
            self.emit(output)


class _CapturedStream:
    """A text stream writing into an :class:`OutputCapture`."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, capture: OutputCapture, name: str):
        self._capture, self.name = capture, name

    def write(self, text: str) -> int:
        self._capture.write(self.name, text)
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._capture.flush()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        raise OSError("a task's output stream has no file descriptor")


def _install_ipython_display(rich: Any) -> None:
    """``from IPython.display import display`` inside a task publishes like ours (once)."""
    global _ipython_hooked
    if not _ipython_hooked:
        rich.install_ipython_hook()
        _ipython_hooked = True


_ipython_hooked = False
_active: OutputCapture | None = None  #: the capture of the task running in this process


def active_capture() -> OutputCapture | None:
    """The running task's capture (``pragma_kernel.pragmas.figures`` hands figures to it)."""
    return _active


def _use_task_figures() -> None:
    # Chosen before pyplot is first imported in this process; a process that already chose
    # another backend still gets its open figures at the end of each task.
    if "matplotlib" not in sys.modules:
        os.environ["MPLBACKEND"] = "module://pragma_kernel.pragmas.figures"
