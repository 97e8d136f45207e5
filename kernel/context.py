"""The output context of one request: everything user code and the pragma engine may publish.

A :class:`CellContext` keeps the request's header, so output made through it (also from a
background thread, after the cell ended) is routed to that request's output area. It implements
:class:`kernel.seam.OutputContext`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from pragma_kernel.kernel.iostream import OutStream
    from pragma_kernel.kernel.publisher import IOPubPublisher
    from pragma_kernel.kernel.stdin import StdinChannel
    from pragma_kernel.protocol.wire import Message

T = TypeVar("T")


class KernelIO:
    """The kernel's output channels, shared by every context."""

    __slots__ = ("publisher", "stderr", "stdin", "stdout")

    def __init__(
        self, publisher: IOPubPublisher, stdout: OutStream, stderr: OutStream, stdin: StdinChannel
    ):
        self.publisher = publisher
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = stdin


class CellContext:
    def __init__(
        self,
        io: KernelIO,
        request: Message,
        execution_count: int,
        namespace: dict[str, Any],
        silent: bool = False,
        allow_stdin: bool = False,
        notebook_name: str | None = None,
    ):
        self.io = io
        self.request = request
        self.execution_count = execution_count
        self.namespace = namespace
        self.silent = silent
        self.allow_stdin = allow_stdin
        self.notebook_name = notebook_name
        #: execute_reply payloads (pager, set_next_input, ask_exit)
        self.payload: list[dict[str, Any]] = []
        #: text/plain of the execute_result, kept for history's ``output=True``
        self.result_text: str | None = None

    @property
    def cell_label(self) -> str:
        return f"Cell In[{self.execution_count}]"

    def code_file(self, label: str) -> str:
        from pragma_kernel.kernel.cell_sources import cells

        return cells.code_file(label)

    @property
    def parent_header(self) -> dict[str, Any]:
        return self.request.header

    # -- publishing --------------------------------------------------------------------------
    def stream(self, name: str, text: str) -> None:
        stream = self.io.stderr if name == "stderr" else self.io.stdout
        stream.write_for(self, text)

    def flush(self) -> None:
        self.io.stdout.flush()
        self.io.stderr.flush()

    def publish(self, msg_type: str, content: dict[str, Any], buffers: list | None = None) -> None:
        """Publish on IOPub with this request as parent, after the text written before it."""
        if self.silent:
            return
        self.flush()
        self.io.publisher.publish(msg_type, content, self.parent_header, buffers=buffers)

    def stream_to_session(self, name: str, text: str) -> None:
        if self.silent or not text:
            return
        self.flush()  # after what the cell wrote before it
        parent = {**self.parent_header, "msg_id": f"{self.parent_header.get('msg_id', '')}-session"}
        self.io.publisher.publish("stream", {"name": name, "text": text}, parent)

    def display(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        *,
        display_id: str | None = None,
        update: bool = False,
    ) -> None:
        if update and not display_id:
            raise ValueError("display(update=True) needs the display_id of the output to update")
        content: dict[str, Any] = {"data": data, "metadata": metadata or {}, "transient": {}}
        if display_id:
            content["transient"]["display_id"] = display_id
        self.publish("update_display_data" if update else "display_data", content)

    def execute_result(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self.result_text = data.get("text/plain")
        content = {"execution_count": self.execution_count, "data": data, "metadata": metadata or {}}
        self.publish("execute_result", content)

    def clear_output(self, wait: bool = False) -> None:
        self.publish("clear_output", {"wait": bool(wait)})

    # -- input -------------------------------------------------------------------------------
    def input(self, prompt: str = "", password: bool = False) -> str:
        """A line from the frontend; ``StdinNotImplementedError`` (a NotImplementedError, as
        under ipykernel) when it said allow_stdin=False."""
        from pragma_kernel.kernel.stdin import stdin_not_implemented

        if not self.allow_stdin:
            raise stdin_not_implemented("getpass" if password else "raw_input")
        self.flush()
        return self.io.stdin.request(prompt, password, self.request)


_current: CellContext | None = None  # the request the main thread runs (or ran last)
_latest_visible: CellContext | None = None  # the latest non-silent one
_main_thread_id = threading.main_thread().ident
_current_lock = threading.Lock()
#: ident of each subshell's thread -> the request it runs (or ran last); see kernel.subshells
_subshell_current: dict[int, CellContext | None] = {}


def current_context() -> CellContext | None:
    """The context of the request now running, or of the latest one (for background threads).

    The main thread and each subshell's thread have their own. Other threads write to the
    latest request that shows output: a frontend polling with silent executes (variable
    inspectors) must not swallow a thread's prints.
    """
    ident = threading.get_ident()
    if ident == _main_thread_id:
        return _current
    if _subshell_current:
        own = _subshell_current.get(ident, _current_lock)  # the lock: "not a subshell's"
        if own is not _current_lock:
            return own
    if _latest_visible is None:
        return _current
    return _latest_visible


def activate(context: CellContext) -> None:
    """Make ``context`` the one ``print``, ``display`` and ``input`` go to (of this thread's
    shell: the main shell's, or a subshell's on its thread)."""
    global _current, _latest_visible
    ident = threading.get_ident()
    with _current_lock:
        if ident in _subshell_current:
            _subshell_current[ident] = context
        else:
            _current = context
        if not context.silent:
            _latest_visible = context


def in_subshell() -> bool:
    """True on a subshell's thread."""
    return bool(_subshell_current) and threading.get_ident() in _subshell_current


@contextmanager
def subshell_thread() -> Iterator[None]:
    """Around the life of a subshell's thread: it has its own current request."""
    ident = threading.get_ident()
    with _current_lock:
        _subshell_current[ident] = None
    try:
        yield
    finally:
        with _current_lock:
            _subshell_current.pop(ident, None)


class PerShell(Generic[T]):
    """A value kept per shell: one for the main shell, which every thread that is not a
    subshell's shares (the kernel's, those a cell starts), and one per subshell thread."""

    def __init__(self, default: T) -> None:
        self.main = default
        self._default = default
        self._own = threading.local()

    def get(self) -> T:
        if in_subshell():
            return getattr(self._own, "value", self._default)
        return self.main

    def set(self, value: T) -> T:
        """Set this shell's value; returns the previous one."""
        previous = self.get()
        if in_subshell():
            self._own.value = value
        else:
            self.main = value
        return previous
