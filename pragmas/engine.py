"""The pragma engine: the kernel's :class:`kernel.seam.CellEngine` for pragma cells.

It owns the state of the language in one kernel — the current job, the cell mode (block or
multiblock), the backend, the submitted jobs — and runs a pragma cell in three steps: parse every
pragma line (all syntax errors of the cell reported at once), hand the body to the pragmas that
take one, call the handlers in order. :meth:`PragmaEngine.plan` freezes the job for a backend.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import types
import weakref
from collections.abc import Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import cloudpickle
from pragma_kernel.pragmas import completion
from pragma_kernel.pragmas.backends.base import JobPlan, PlannedTask
from pragma_kernel.pragmas.catalog import CatalogState
from pragma_kernel.pragmas.cells import is_pragma_cell
from pragma_kernel.pragmas.dataflow import JobFlow, infer_flow
from pragma_kernel.pragmas.declaration import PragmaCall, declarations
from pragma_kernel.pragmas.errors import (
    JobValidationError,
    LocatedError,
    Location,
    PragmaError,
    PragmaStateError,
    PragmaUsageError,
    combine,
)
from pragma_kernel.pragmas.model import CodeSegment, Job, SourceLocation
from pragma_kernel.pragmas.parser import has_code, parse_pragma, split_cell
from pragma_kernel.pragmas.result_reuse import ResultReuse
from pragma_kernel.pragmas.validation import check_python_syntax, validate

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pragma_kernel.kernel.seam import OutputContext
    from pragma_kernel.pragmas.backends.base import Backend, JobRun


#: seconds a backend has, at kernel exit, to end a run it was told to cancel
STOP_WAIT = 1.0
#: pragmas that only read the engine's state: a cell of these alone may run in a subshell
#: while another pragma cell runs (``runs_alongside``)
READ_ONLY_PRAGMAS = frozenset({"help", "list_submitted_jobs"})


class PragmaEngine:
    """The pragma language of one kernel (implements ``pragma_kernel.kernel.seam.CellEngine``)."""

    def __init__(self, start_workers_early: bool = False) -> None:
        #: the first pragma cell starts the default backend's workers in the background (the
        #: kernel's engine); otherwise the first job starts them
        self.start_workers_early = start_workers_early
        self.registry = declarations()
        self.job = Job()
        self.mode = "block"  #: "block" | "multiblock" (``#%configure``)
        self.backend: Backend | None = None
        self.submitted: list[JobRun] = []
        #: what the running pragmas remember of each submitted run beyond the backend's
        #: JobRun (its display, whether it was pulled or its failure reported)
        self.submissions: weakref.WeakKeyDictionary[JobRun, Any] = weakref.WeakKeyDictionary()
        self.reuse = ResultReuse()  #: the result store and why the last job's tasks ran
        self.control = None  #: the control-flow sequence being written (declarations.flow)
        self.catalog = CatalogState()  #: the job catalog in use (declarations.catalog)
        #: values of job variables for every submit (#%parameters, the runner's -p)
        self.parameters: dict[str, str] = {}
        self._said: set[str] = set()
        self._appended: dict[str, list[str]] = {}  #: multiblock cells already in a task
        self._last_defined: str | None = None
        self._generated_name: str | None = None
        self._started = False
        self._workers_asked = False
        self._backend_lock = threading.Lock()  #: the workers may be started by a thread
        self._shut_down = False

    # ------------------------------------------------------------------ backend

    def get_backend(self) -> Backend:
        with self._backend_lock:
            if self.backend is None:
                from pragma_kernel.pragmas.backends.local import LocalBackend

                self.backend = LocalBackend()
            return self.backend

    def set_backend(self, backend: Backend) -> None:
        with self._backend_lock:
            previous, self.backend = self.backend, backend
        if previous is not None and previous is not backend:
            previous.close()

    def say_once(self, key: str, text: str, ctx: OutputContext) -> None:
        """Print a plain notice the first time ``key`` comes up in this kernel."""
        if key not in self._said:
            self._said.add(key)
            ctx.stream("stdout", text if text.endswith("\n") else text + "\n")

    # ------------------------------------------------------------------ job bookkeeping

    def note_defined(self, name: str) -> None:
        """A task was (re)defined: multiblock cells go to it, earlier appended cells are gone."""
        self._last_defined = name
        self._appended.pop(name, None)

    def note_deleted(self, name: str) -> None:
        self._appended.pop(name, None)
        if self._last_defined == name:
            self._last_defined = None

    def replace_job(self, job: Job) -> None:
        """Make ``job`` the job being written (``#%load_job``): the control flow and the
        multiblock cells of the previous one are forgotten."""
        self.job = job
        self.control = None
        self._appended.clear()
        self._last_defined = None

    def job_name(self, ctx: OutputContext | None, name: str | None = None,
                 generate: bool = True) -> str | None:
        """name → ``#%job`` name → notebook name → ``JPY_SESSION_NAME`` → generated (None
        when ``generate`` is False)."""
        notebook = getattr(ctx, "notebook_name", None) or os.environ.get("JPY_SESSION_NAME")
        if name or self.job.name:
            return name or self.job.name
        if notebook:
            stem = PurePath(notebook).name
            return stem.removesuffix(".ipynb")
        if not generate:
            return None
        if self._generated_name is None:
            self._generated_name = f"job_{secrets.token_hex(3)}"
        return self._generated_name

    # ------------------------------------------------------------------ CellEngine

    def claims(self, code: str) -> bool:
        if is_pragma_cell(code):
            return True
        return self.mode == "multiblock" and bool(code.strip())

    def runs_alongside(self, code: str) -> bool:
        """True when the cell only reads the engine's state (READ_ONLY_PRAGMAS, no body), so the
        kernel may run it in a subshell while another pragma cell runs."""
        if not self._started or not is_pragma_cell(code):
            return False
        parts = split_cell(code)
        if has_code(parts.body):
            return False
        try:
            calls = [parse_pragma(line, n, self.registry) for n, line in parts.pragma_lines]
        except LocatedError:
            return False
        return all(call.spec.name in READ_ONLY_PRAGMAS for call in calls)

    def run_cell(self, code: str, ctx: OutputContext) -> None:
        if not self._started:
            self._started = True
            self._auto_connect(ctx)
        if not is_pragma_cell(code):
            self._append_to_last_task(code, ctx)
            return
        calls = self._parse_cell(code, ctx)
        self._start_workers_early(calls)
        for call in calls:
            try:
                call.spec.handler(self, call, ctx)
            except LocatedError as error:
                raise self._label(error, ctx) from None
            except PragmaError as error:  # about the job, not a value: show the pragma's line
                if not error.shows_pragma_line:
                    raise
                where = Location(call.line, call.lineno, call.columns.get("", 0))
                raise error.shown_at(ctx.cell_label, where) from None

    def _start_workers_early(self, calls: list[PragmaCall]) -> None:
        """At the first pragma cell, start the default backend's workers in the background, so
        that the first job need not wait for them; not when that cell connects elsewhere."""
        if not self.start_workers_early or self._workers_asked:
            return
        self._workers_asked = True
        if self.backend is None and not any(c.spec.name == "connect" for c in calls):
            threading.Thread(target=self._start_default_workers, name="local-workers-start",
                             daemon=True).start()  # fmt: skip

    def _start_default_workers(self) -> None:
        # on a thread: importing the backend is part of what the cell need not wait for
        from pragma_kernel.pragmas.backends.local import LocalBackend

        with self._backend_lock:
            if self.backend is not None or self._shut_down:
                return  # a later cell connected meanwhile, the first job came, or the end
            self.backend = backend = LocalBackend()
        backend.start_unless_closed()

    def _parse_cell(self, code: str, ctx: OutputContext) -> list[PragmaCall]:
        parts = split_cell(code)
        calls, errors = [], []
        for lineno, line in parts.pragma_lines:
            try:
                calls.append(parse_pragma(line, lineno, self.registry))
            except LocatedError as error:
                errors.append(self._label(error, ctx))
        if errors:
            raise combine(errors)
        source = SourceLocation(ctx.cell_label, parts.body_first_line)
        owners = [c for c in calls if c.spec.body != "none"]
        if has_code(parts.body) and not owners:
            raise self._stray_code(calls[-1], parts.body, parts.body_first_line, ctx)
        for call in owners:
            call.body, call.body_source = parts.body, source
            if call.spec.body == "required" and not has_code(parts.body) and not call.args.get(
                "path"
            ):
                errors.append(self._label(call.error("needs code below the pragma line"), ctx))
        if errors:
            raise combine(errors)
        return calls

    def _stray_code(self, last: PragmaCall, body: str, first_line: int,
                    ctx: OutputContext) -> LocatedError:
        lines = body.splitlines()
        index = next(i for i, line in enumerate(lines)
                     if line.strip() and not line.strip().startswith("#"))  # fmt: skip
        line = lines[index]
        error = PragmaUsageError(
            f"#%{last.spec.name} takes no code, and no pragma of this cell takes it: the code "
            "would never run. Put it in a cell of its own, or under a #%task(...) line",
            Location(line, first_line + index, len(line) - len(line.lstrip())),
            pragma=last.spec.name,
        )
        return self._label(error, ctx)

    @staticmethod
    def _label(error: LocatedError, ctx: OutputContext) -> LocatedError:
        return error.relabel(ctx.cell_label) if error.label == "<cell>" else error

    def _append_to_last_task(self, code: str, ctx: OutputContext) -> None:
        """Multiblock mode: a cell without pragma extends the last defined task."""
        name = self._last_defined if self._last_defined in self.job.tasks else None
        task = self.job.tasks.get(name) if name else self.job.last_task()
        if task is None:
            raise PragmaStateError(
                "multiblock mode: this cell has no pragma and there is no task to append it to. "
                "Start with #%task(name=...), or run #%configure(task=block) to run cells locally"
            )
        appended = self._appended.setdefault(task.name, [])
        if code in appended:
            ctx.stream("stdout", f"This cell is already part of task '{task.name}'.\n")
            return
        if task.language == "Python":
            error = check_python_syntax(code, SourceLocation(ctx.cell_label, 1))
            if error is not None:
                raise error
        if not task.segments:
            task.segments.append(CodeSegment(task.code, task.source))
        task.segments.append(CodeSegment(code, SourceLocation(ctx.cell_label, 1)))
        task.code = f"{task.code.rstrip(chr(10))}\n{code}" if task.code.strip() else code
        appended.append(code)
        ctx.stream("stdout", f"Appended to task '{task.name}'.\n")

    # ------------------------------------------------------------------ planning

    def plan(self, ctx: OutputContext, name: str | None = None,
             files_needed: bool = True) -> JobPlan:
        """Validate the job (every problem in one error) and freeze it for a backend;
        ``files_needed`` False: an input file missing from the notebook's folder is no error
        (the job is described, not run)."""
        if not self.job.tasks:
            raise PragmaStateError("the job has no task yet: define one with #%task(name=...)")
        flow = self.data_flow(ctx.namespace)
        frozen = flow.applied(self.job)  # a copy with the inferred lists (flow=auto)
        folder = os.getcwd()
        report = validate(frozen, ctx.namespace, folder)
        if files_needed:
            report.errors += report.missing_files
        for warning in report.warnings:
            ctx.stream("stderr", f"Warning: {warning}.\n")
        if report.errors:
            raise JobValidationError(report.errors)
        for note in flow.notes(frozen):
            ctx.stream("stdout", f"Note: {note.message}.\n")
        tasks = {
            task: PlannedTask(frozen.tasks[task], report.deps[task], report.import_sources[task],
                              report.file_sources[task])
            for task in report.order
        }
        local_inputs = self._local_inputs(tasks, ctx)
        return JobPlan(job=frozen, name=self.job_name(ctx, name), tasks=tasks,
                       local_inputs=local_inputs, folder=folder,
                       input_files=report.input_files)  # fmt: skip

    @staticmethod
    def _local_inputs(tasks: dict[str, PlannedTask], ctx: OutputContext) -> dict[str, bytes]:
        values: dict[str, bytes] = {}
        problems = []
        for planned in tasks.values():
            for variable, source in planned.import_sources.items():
                if source is not None or variable in values:
                    continue
                try:
                    values[variable] = cloudpickle.dumps(ctx.namespace[variable])
                # Any exception of pickling (TypeError, PicklingError, RecursionError...) is the
                # user's value's problem: reported with its name, never swallowed.
                except Exception as error:  # noqa: BLE001
                    problems.append(
                        f"task '{planned.name}' imports '{variable}' from the notebook, but it "
                        f"cannot be serialised: {type(error).__name__}: {error}"
                    )
        if problems:
            raise JobValidationError(problems)
        return values

    def data_flow(self, namespace: Mapping[str, Any] | None) -> JobFlow:
        """The job's data flow, with the cells the kernel has run (``In``) as later readers."""
        history = (namespace or {}).get("In")
        return infer_flow(self.job, namespace, history if isinstance(history, list) else None)

    # ------------------------------------------------------------------ editor support

    def complete(self, code: str, cursor_pos: int,
                 namespace: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        variables = [name for name, value in (namespace or {}).items()
                     if not isinstance(value, types.ModuleType)]  # modules are not task inputs
        return completion.complete(code, cursor_pos, self.registry, self.job.tasks, variables)

    def inspect(self, code: str, cursor_pos: int, detail_level: int = 0) -> dict[str, Any] | None:
        return completion.inspect(code, cursor_pos, self.registry)

    def is_complete(self, code: str) -> dict[str, Any] | None:
        return completion.is_complete(code)

    def _auto_connect(self, ctx: OutputContext) -> None:
        """A ``proactive_config.ini`` in the working directory connects at start (the first
        pragma cell, whose context can ask for a password). Whatever happens is one line; on
        any failure the kernel stays on the local backend and the cell's pragmas still run."""
        if not os.path.isfile(os.path.join(os.getcwd(), "proactive_config.ini")):
            return  # the SDK and its JVM are not even imported without one
        from pragma_kernel.pragmas.backends.proactive import auto_connect

        outcome = auto_connect(os.getcwd(), ctx.input)
        if outcome is None:
            return
        if outcome.backend is not None:
            self.set_backend(outcome.backend)
        ctx.stream(outcome.stream, outcome.notice + "\n")

    def shutdown(self, reason: str = "kernel shutting down") -> None:
        """Stop the running jobs, saying why in their displays ("stopped: kernel
        restarting"), then release the backend."""
        stopping = [run for run in self.submitted if not run.done]
        for run in stopping:
            run.cancel(f"stopped: {reason}")
        for run in stopping:
            # the kernel is on its way out: a run its backend has not ended by now is said
            # over, so that its display shows a final state
            if not run.wait(timeout=STOP_WAIT):
                run.finish()
        with self._backend_lock:
            self._shut_down = True  # workers starting in the background do not start
            backend, self.backend = self.backend, None
        if backend is not None:
            backend.close()
        if "pragma_kernel.pragmas.proactive_jvm" in sys.modules:  # only if export_xml or ProActive started it
            sys.modules["pragma_kernel.pragmas.proactive_jvm"].shutdown()
