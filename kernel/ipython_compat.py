"""``get_ipython()`` for libraries written against IPython kernels: a small stand-in.

ipywidgets, ipympl, matplotlib, pandas, altair and others ask ``get_ipython()`` whether they
run in a Jupyter kernel, then use a handful of its attributes. This kernel has no IPython shell,
so :class:`ZMQInteractiveShell` offers exactly those attributes, backed by the kernel's parts:

==========================================  =================================================
``kernel.comm_manager``                     the ``comm`` package's manager (widget targets)
``get_parent()``, ``kernel.get_parent()``   the request now running, as a message dict: the
                                            Output widget captures by its ``msg_id``
``display_pub.publish``/``.clear_output``   rich output of the running request
``events.register/unregister/trigger``      IPython's events, fired around every Python cell
                                            and comm message (ipympl, matplotlib use
                                            ``post_execute``)
``user_ns``                                 the user namespace
``showtraceback()``                         the current exception as an ``error`` output
``run_line_magic``/``run_cell_magic``,      this kernel's magics (scripts exported by
``system``, ``getoutput``                   nbconvert call them)
``enable_gui(None)``                        GUI event loops are not supported: only ``None``
==========================================  =================================================

The class is named like ipykernel's shell because that name is what libraries test to recognise
a Jupyter kernel (rich compares it, pandas looks for "zmq" in it). It is not IPython's class and
has nothing else: no ``display_formatter``, ``history_manager``, ``config``, ``set_parent``,
``register_magic_function``. Code that needs those fails with an ``AttributeError`` naming them.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from pragma_kernel.kernel import display, tracebacks

if TYPE_CHECKING:
    from pragma_kernel.kernel.shell import PythonShell

#: IPython's event names (IPython.core.events.available_events) and their callbacks' arguments
EVENTS = ("pre_execute", "pre_run_cell", "post_execute", "post_run_cell", "shell_initialized")


@dataclass
class ExecutionInfo:
    """What ``pre_run_cell`` callbacks receive (IPython's attribute names)."""

    raw_cell: str
    store_history: bool
    silent: bool
    shell_futures: bool = True
    cell_id: str | None = None


@dataclass
class ExecutionResult:
    """What ``post_run_cell`` callbacks receive (IPython's attribute names)."""

    info: ExecutionInfo
    execution_count: int | None = None
    error_before_exec: BaseException | None = None
    error_in_exec: BaseException | None = None
    result: Any = None

    @property
    def success(self) -> bool:
        return self.error_before_exec is None and self.error_in_exec is None


class EventCallbacks:
    """IPython's ``shell.events``: callbacks per event name, called in registration order."""

    def __init__(self, show_error: Callable[[], None]):
        self._show_error = show_error
        self.callbacks: dict[str, list[Callable[..., Any]]] = {name: [] for name in EVENTS}

    def register(self, event: str, function: Callable[..., Any]) -> None:
        if not callable(function):
            raise TypeError(f"Need a callable, got {function!r}")
        callbacks = self._named(event)
        if function not in callbacks:
            callbacks.append(function)

    def unregister(self, event: str, function: Callable[..., Any]) -> None:
        callbacks = self._named(event)
        if function not in callbacks:
            raise ValueError(f"Function {function!r} is not registered as a {event} callback")
        callbacks.remove(function)

    def trigger(self, event: str, *args: Any, **kwargs: Any) -> None:
        """Call every callback; one that fails is reported (as IPython does) and the others
        still run, so a broken extension cannot stop cells from running."""
        for function in list(self._named(event)):
            try:
                function(*args, **kwargs)
            except (Exception, KeyboardInterrupt):  # noqa: BLE001 - shown to the user
                print(f"Error in callback {function} (for {event}):")
                self._show_error()

    def _named(self, event: str) -> list[Callable[..., Any]]:
        try:
            return self.callbacks[event]
        except KeyError:
            raise KeyError(f"Unknown event type: {event} (known: {', '.join(EVENTS)})") from None


class DisplayPublisher:
    """``get_ipython().display_pub``: publishes to the running request."""

    # IPython's DisplayPublisher.publish signature, which publish_display_data has
    publish = staticmethod(display.publish_display_data)

    def clear_output(self, wait: bool = False) -> None:
        display.clear_output(wait=wait)


def current_request() -> dict[str, Any]:
    """The request now running (the cell, or the comm message a widget callback answers) as
    ipykernel's ``get_parent()`` returns it; ``{}`` outside of any request."""
    from pragma_kernel.kernel.context import current_context

    context = current_context()
    if context is None:
        return {}
    request = context.request
    return {
        "header": request.header,
        "parent_header": request.parent_header,
        "metadata": request.metadata,
        "content": request.content,
        "msg_id": request.msg_id,
        "msg_type": request.msg_type,
    }


class KernelView:
    """``get_ipython().kernel``: what widget libraries use of ipykernel's kernel object."""

    def __init__(self, shell: ZMQInteractiveShell):
        self.shell = shell

    @property
    def comm_manager(self) -> Any:
        import comm

        return comm.get_comm_manager()

    def get_parent(self, channel: str = "shell") -> dict[str, Any]:
        return current_request()


class ZMQInteractiveShell:
    """What ``get_ipython()`` returns in this kernel; see the module docstring for its scope."""

    def __init__(self, shell: PythonShell):
        self._shell = shell
        self.kernel = KernelView(self)
        self.display_pub = DisplayPublisher()
        self.events = EventCallbacks(self.showtraceback)

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} (pragma-kernel's get_ipython())>"

    @property
    def user_ns(self) -> dict[str, Any]:
        return self._shell.namespace

    user_global_ns = user_ns

    def get_ipython(self) -> ZMQInteractiveShell:
        return self

    def get_parent(self) -> dict[str, Any]:
        return current_request()

    def showtraceback(
        self,
        exc_tuple: tuple[type[BaseException], BaseException, TracebackType | None] | None = None,
        filename: str | None = None,
        tb_offset: int | None = None,
        exception_only: bool = False,
        running_compiled_code: bool = False,
    ) -> None:
        """Show the exception being handled (or ``exc_tuple``'s) as an ``error`` output."""
        error = exc_tuple[1] if exc_tuple else sys.exc_info()[1]
        if error is None:
            print("No traceback available to show.", file=sys.stderr)
            return
        formatted = tracebacks.format_exception(error)
        if exception_only:
            formatted.traceback = formatted.traceback[-1:]
        content = {"ename": formatted.ename, "evalue": formatted.evalue,
                   "traceback": formatted.traceback}
        from pragma_kernel.kernel.context import current_context

        context = current_context()
        if context is None:
            sys.stderr.write("\n".join(formatted.traceback) + "\n")
            return
        context.publish("error", content)

    def run_line_magic(self, magic_name: str, line: str, _stack_depth: int = 1) -> Any:
        return self._shell.magic_calls.line(magic_name, line)

    def run_cell_magic(self, magic_name: str, line: str, cell: str) -> Any:
        return self._shell.magic_calls.cell(magic_name, line, cell)

    def system(self, cmd: str) -> None:
        self._shell.magic_calls.system(cmd)

    def getoutput(self, cmd: str, split: bool = True, depth: int = 0) -> Any:
        lines = self._shell.magic_calls.getoutput(cmd)
        return lines if split else lines.n

    def enable_gui(self, gui: str | None = None) -> None:
        """matplotlib calls this when a GUI backend is chosen after pyplot's import."""
        if gui not in (None, "inline"):
            raise NotImplementedError(
                f"GUI event loop {gui!r}: pragma-kernel runs no GUI event loops; use "
                "%matplotlib inline or %matplotlib widget"
            )


_instance: ZMQInteractiveShell | None = None


def get_ipython() -> ZMQInteractiveShell | None:
    """The kernel's compatibility shell (None before the Python shell exists)."""
    return _instance


def install(shell: PythonShell) -> ZMQInteractiveShell:
    """Make ``get_ipython()`` answer with a shell bound to ``shell``: as a builtin, as IPython
    puts it in the user namespace, and as ``IPython.get_ipython`` whenever IPython is
    imported (it would answer None: no IPython shell runs in this process)."""
    global _instance
    _instance = ZMQInteractiveShell(shell)
    builtins.get_ipython = get_ipython  # type: ignore[attr-defined]
    display.install_post_import_patches({"IPython.core.getipython": _patch_getipython})
    return _instance


def _patch_getipython(module: ModuleType) -> None:
    module.get_ipython = get_ipython
    for name in ("IPython", "IPython.core.interactiveshell"):
        reexporting = sys.modules.get(name)
        if reexporting is not None and "get_ipython" in vars(reexporting):
            reexporting.get_ipython = get_ipython
