"""The Python shell of the kernel: runs ordinary cells in the user namespace like IPython does,
without IPython.

A cell is rewritten for magics (:mod:`kernel.magics`), parsed with :mod:`ast`, and run with all
statements but the last executed and a final expression evaluated: its value becomes the
cell's ``execute_result`` (``Out[n]``, ``_``), unless the cell ends with ``;``. The source is
registered in :mod:`linecache` under the cell's label so tracebacks read ``Cell In[n], line k``.
Errors become an :class:`ExecuteOutcome`; the process layer publishes them (once).
"""

from __future__ import annotations

import ast
import builtins
import os
import sys
import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pragma_kernel.kernel import (
    cell_sources,
    cell_syntax,
    completion,
    display,
    ipython_compat,
    library_adapters,
    magics,
    tracebacks,
)
from pragma_kernel.kernel.context import PerShell

if TYPE_CHECKING:
    import asyncio

    from pragma_kernel.kernel.autoreload import ModuleReloader
    from pragma_kernel.kernel.context import CellContext

INLINE_BACKEND = "module://pragma_kernel.kernel.mpl_backend"  #: matplotlib backend that shows figures inline
_COMPILE_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_CO_COROUTINE = 0x0080  # inspect.CO_COROUTINE, without importing inspect
_SYSTEM_EXIT_PREAMBLE = "An exception has occurred, use %tb to see the full traceback.\n"


@dataclass
class ExecuteOutcome:
    """How a cell ended; for errors, the content of the one ``error`` message to publish."""

    status: str = "ok"  #: "ok" or "error"
    ename: str = ""
    evalue: str = ""
    traceback: list[str] = field(default_factory=list)

    @classmethod
    def from_exception(cls, exc: BaseException) -> ExecuteOutcome:
        if isinstance(exc, magics.MagicUsageError):
            formatted = tracebacks.format_short("UsageError", str(exc))
        elif isinstance(exc, SystemExit):
            evalue = "" if exc.code is None else str(exc.code)
            formatted = tracebacks.format_short("SystemExit", evalue, _SYSTEM_EXIT_PREAMBLE)
        else:
            formatted = tracebacks.format_exception(exc)
        return cls("error", formatted.ename, formatted.evalue, formatted.traceback)


class ExitRequest:
    """``exit``/``quit`` in a cell: ask the frontend to close (an ``ask_exit`` payload), as
    ipykernel does; the kernel itself keeps running."""

    def __init__(self, shell: PythonShell):
        self._shell = shell

    def __repr__(self) -> str:
        return "Use exit() or quit() to ask the frontend to exit."

    def __call__(self, keep_kernel: bool = False) -> None:
        if self._shell.context is not None:
            self._shell.context.payload.append({"source": "ask_exit", "keepkernel": keep_kernel})


class PythonShell:
    """Runs cells, completes and inspects code in one user namespace."""

    def __init__(self, namespace: dict[str, Any] | None = None):
        if namespace is None:
            namespace = _main_module_namespace()
        self.namespace = namespace
        # per shell: the main shell and each subshell run their own cell at the same time
        self._context: PerShell[CellContext | None] = PerShell(None)
        #: for top-level await, made lazily; one per shell (a loop runs one cell at a time)
        self._loops: PerShell[asyncio.AbstractEventLoop | None] = PerShell(None)
        self._hidden: set[str] = set()
        self.reloader: ModuleReloader | None = None  # made by %load_ext autoreload
        self.last_exception: BaseException | None = None  # for %tb
        self._init_namespace()
        builtins.display = display.display  # type: ignore[attr-defined] - as in IPython
        self.magic_calls = magics.MagicCalls(self)
        setattr(builtins, cell_syntax.CALLS_NAME, self.magic_calls)
        display.install_ipython_hook()
        #: what get_ipython() returns; its events fire around every cell
        self.ipython = ipython_compat.install(self)
        library_adapters.install()
        cell_sources.install_class_lookup()
        os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)

    @property
    def context(self) -> CellContext | None:
        """The cell now running (in this thread's shell)."""
        return self._context.get()

    @context.setter
    def context(self, ctx: CellContext | None) -> None:
        self._context.set(ctx)

    def _init_namespace(self) -> None:
        exit_request = ExitRequest(self)
        defaults: dict[str, Any] = {
            "__name__": "__main__",
            "__builtins__": builtins,
            "In": [""],
            "Out": {},
            "_": "",
            "__": "",
            "___": "",
            "_i": "",
            "_ii": "",
            "_iii": "",
            "_i00": "",
            "exit": exit_request,
            "quit": exit_request,
        }
        for name, value in defaults.items():
            self.namespace.setdefault(name, value)
        self.namespace["_ih"] = self.namespace["In"]
        self.namespace["_oh"] = self.namespace["Out"]
        self._hidden.update(defaults, {"_ih", "_oh", "_exit_code", "_dh_previous"})

    # ----------------------------------------------------------------------------------------
    # execute

    def execute(self, code: str, ctx: CellContext, *, store_history: bool) -> ExecuteOutcome:
        """Run one cell; its outputs go to ``ctx``. Never raises for errors of the user's code.

        IPython's events fire as in IPython's ``run_cell``: ``pre_execute`` (and, unless silent,
        ``pre_run_cell``) before a non-blank cell, ``post_execute`` (and ``post_run_cell``)
        after every cell, blank ones included.
        """
        previous_context, self.context = self.context, ctx
        previous_display = display.set_shell_context(ctx)
        info = ipython_compat.ExecutionInfo(code, store_history, ctx.silent, cell_id=_cell_id(ctx))
        result = ipython_compat.ExecutionResult(info, ctx.execution_count if store_history else None)
        events = self.ipython.events
        try:
            if store_history:
                self._record_input(code, ctx.execution_count)
            if code.strip():
                events.trigger("pre_execute")
                if not ctx.silent:
                    events.trigger("pre_run_cell", info)
            outcome = self._run_cell(code, ctx, store_history, result)
            if self.reloader is not None:
                self.reloader.remember_new_modules()
            if not ctx.silent:
                outcome = self._flush_figures(outcome)
            return outcome
        finally:
            events.trigger("post_execute")
            if not ctx.silent:
                events.trigger("post_run_cell", result)
            display.set_shell_context(previous_display)
            self.context = previous_context

    def _run_cell(
        self, code: str, ctx: CellContext, store_history: bool,
        result: ipython_compat.ExecutionResult,
    ) -> ExecuteOutcome:
        if not code.strip():  # frontends send empty silent cells just to read the counter
            return ExecuteOutcome()
        try:
            if self.reloader is not None:
                self.reloader.check()
            value = self.run_source(code, ctx.cell_label)
            if isinstance(value, ExitRequest):  # bare `exit`, like IPython's autocall
                value = value()
            result.result = value
            if value is not None and not ctx.silent:
                self._show_result(value, ctx, store_history)
        except BaseException as exc:  # noqa: BLE001
            # everything the user's code raises is the user's error
            self.last_exception = exc
            result.error_in_exec = exc
            return ExecuteOutcome.from_exception(exc)
        return ExecuteOutcome()

    def run_source(self, source: str, label: str | None = None, first_line: int = 1) -> Any:
        """Run Python (with magics) in the namespace; the value of a final expression, or None.

        ``first_line``: where ``source`` starts in its cell, so tracebacks number lines as the
        user sees them (a ``%%time`` body starts on line 2).
        """
        if label is None:
            label = self.context.cell_label if self.context is not None else "Cell In[ ]"
        padding = "\n" * (first_line - 1)
        filename = tracebacks.register_cell(padding + source, label)
        transformed = padding + cell_syntax.transform_cell(source)
        body_code, last_code = self._compile(transformed, filename)
        if body_code is not None:
            self._run_code(body_code)
        return self._run_code(last_code) if last_code is not None else None

    def _compile(self, source: str, filename: str) -> tuple[Any, Any]:
        """Code for all statements but a final displayed expression, and code for that one."""
        tree = ast.parse(source, filename)
        last: ast.expr | None = None
        final = tree.body[-1] if tree.body else None
        if isinstance(final, ast.Expr) and not _followed_by_semicolon(source, final):
            last = tree.body.pop().value
        body_code = None
        if tree.body:
            body_code = compile(tree, filename, "exec", _COMPILE_FLAGS, dont_inherit=True)
        last_code = None
        if last is not None:
            expression = ast.Expression(last)
            last_code = compile(expression, filename, "eval", _COMPILE_FLAGS, dont_inherit=True)
        return body_code, last_code

    def _run_code(self, code: types.CodeType) -> Any:
        result = eval(code, self.namespace)  # running the user's cell is the point
        if code.co_flags & _CO_COROUTINE:  # top-level await
            loop = self._loops.get()
            if loop is None:
                import asyncio  # 20 ms: only for cells that await

                loop = asyncio.new_event_loop()
                self._loops.set(loop)
            result = loop.run_until_complete(result)
        return result

    def _record_input(self, code: str, count: int) -> None:
        """IPython's input names: In[n] and _i<n> this cell, _i/_ii/_iii the three before.

        Derived from ``In`` rather than rotated, so recording a cell twice (the process layer
        may record it too) changes nothing.
        """
        ns = self.namespace
        inputs = ns["In"]
        while len(inputs) <= count:  # keep In[n] aligned with the execution count
            inputs.append("")
        inputs[count] = code
        previous = (inputs[count - k] if count >= k else "" for k in (1, 2, 3))
        ns["_i"], ns["_ii"], ns["_iii"] = previous
        ns["_i00"] = ns[f"_i{count}"] = code
        self._hidden.add(f"_i{count}")

    def _show_result(self, value: Any, ctx: CellContext, store_history: bool) -> None:
        ns = self.namespace
        if value is not ns["Out"]:
            ns["___"], ns["__"], ns["_"] = ns.get("__", ""), ns.get("_", ""), value
            if store_history:
                ns["Out"][ctx.execution_count] = value
                ns[f"_{ctx.execution_count}"] = value
                self._hidden.add(f"_{ctx.execution_count}")
        if display.ipython_display(value):  # it showed itself (IPython's displayhook: no Out)
            return
        data, metadata = display.format_mimebundle(value)
        ctx.execute_result(data, metadata)

    def _flush_figures(self, outcome: ExecuteOutcome) -> ExecuteOutcome:
        """Show the matplotlib figures the cell made (IPython's inline backend does it in a
        post-execute hook, also after an error)."""
        backend = sys.modules.get("pragma_kernel.kernel.mpl_backend")
        matplotlib = sys.modules.get("matplotlib")
        if backend is None or matplotlib is None:
            return outcome
        if dict.__getitem__(matplotlib.rcParams, "backend") != INLINE_BACKEND:
            return outcome  # the user chose another backend (dict access: no auto-resolution)
        try:
            backend.flush_figures()
        except Exception as exc:  # noqa: BLE001 - a figure that cannot be drawn is the cell's error
            return outcome if outcome.status == "error" else ExecuteOutcome.from_exception(exc)
        return outcome

    # ----------------------------------------------------------------------------------------
    # requests other than execute

    def user_expressions(self, expressions: dict[str, str]) -> dict[str, Any]:
        """Evaluate each expression; ``{name: {status, data, metadata}}`` or an error dict."""
        results: dict[str, Any] = {}
        for name, expression in expressions.items():
            try:
                value = eval(expression, self.namespace)  # the frontend's request
                data, metadata = display.format_mimebundle(value)
                results[name] = {"status": "ok", "data": data, "metadata": metadata}
            except Exception as exc:  # noqa: BLE001 - reported to the frontend as an error dict
                formatted = tracebacks.format_exception(exc)
                results[name] = {
                    "status": "error",
                    "ename": formatted.ename,
                    "evalue": formatted.evalue,
                    "traceback": formatted.traceback,
                }
        return results

    def complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        """complete_reply content."""
        return completion.complete(code, cursor_pos, self.namespace)

    def inspect(self, code: str, cursor_pos: int, detail_level: int) -> dict[str, Any]:
        """inspect_reply content."""
        return completion.inspect_at(code, cursor_pos, detail_level, self.namespace)

    def is_complete(self, code: str) -> dict[str, Any]:
        """is_complete_reply content."""
        return completion.is_complete(code)

    # ----------------------------------------------------------------------------------------
    # used by magics

    def page_object(self, name: str, detail_level: int) -> None:
        """``obj?``/``obj??``: the object's description as a pager payload."""
        found, obj = completion.resolve_name(name, self.namespace)
        if not found:
            print(f"Object `{name}` not found.")
            return
        self.page_text(completion.object_info_text(obj, name, detail_level))

    def page_text(self, text: str) -> None:
        """Show ``text`` in the frontend's pager (a ``page`` payload of the execute_reply)."""
        if self.context is None:
            print(text)
            return
        self.context.payload.append({"source": "page", "data": {"text/plain": text}, "start": 0})

    def enable_autoreload(self) -> None:
        """``%load_ext autoreload``: watch modules (the mode is set by ``%autoreload``)."""
        if self.reloader is None:
            from pragma_kernel.kernel.autoreload import ModuleReloader

            self.reloader = ModuleReloader()

    def user_variables(self) -> dict[str, Any]:
        """The names the user defined (what ``%who`` lists)."""
        return {
            name: value for name, value in self.namespace.items()
            if not name.startswith("_") and name not in self._hidden
        }


def _cell_id(ctx: CellContext) -> str | None:
    """The frontend's id of the cell (JupyterLab sends it in the request's metadata)."""
    request = getattr(ctx, "request", None)  # contexts of unit tests have no request
    cell_id = getattr(request, "metadata", {}).get("cellId")
    return cell_id if isinstance(cell_id, str) else None


def _main_module_namespace() -> dict[str, Any]:
    """A fresh ``__main__`` module whose dict is the user namespace, installed in sys.modules
    so that pickle (multiprocessing, cloudpickle by reference) finds classes defined in cells."""
    module = types.ModuleType("__main__", doc="The kernel's user namespace")
    sys.modules["__main__"] = module
    return module.__dict__


def _followed_by_semicolon(source: str, node: ast.stmt) -> bool:
    """True when a ``;`` follows the final expression: IPython's "no output" convention."""
    lines = source.splitlines()
    if node.end_lineno is None or node.end_col_offset is None:
        return False
    last_line = lines[node.end_lineno - 1].encode()[node.end_col_offset:].decode(errors="replace")
    rest = [last_line, *lines[node.end_lineno:]]
    return any(";" in line.split("#", 1)[0] for line in rest)
