"""The narrow seam between the kernel and a cell engine (the pragma engine).

The kernel knows nothing of pragmas. For every execute_request it asks the engine whether it
claims the cell; if so it hands the cell over together with an :class:`OutputContext`, through
which the engine publishes everything the user sees. The engine reports failure by raising
:class:`CellError` (one Jupyter ``error`` message and an error reply, nothing else); any other
exception is a bug and is shown as an ordinary traceback. ``KeyboardInterrupt`` reaches the
engine on the kernel's main thread like in any cell: the engine cancels what it started and
re-raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable


class CellError(Exception):
    """A failure the engine has already turned into words for the user.

    ``traceback`` is the list of lines Jupyter shows (ANSI colours allowed); its last line must
    read ``ename: evalue`` because JupyterLab renders only the traceback.
    """

    def __init__(self, ename: str, evalue: str, traceback: list[str] | None = None):
        super().__init__(f"{ename}: {evalue}")
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback if traceback is not None else [f"{ename}: {evalue}"]


@runtime_checkable
class OutputContext(Protocol):
    """What a cell engine may do to the notebook while (and after) its cell runs.

    Every method is thread-safe and keeps the parent header of the cell it was made for, so a
    background thread may keep calling ``display(..., update=True)`` after the cell has ended
    (``#%submit_job(wait=off)``); such late messages are routed to the same output area.
    """

    execution_count: int  #: the number of this cell (``In[n]``)
    cell_label: str  #: how tracebacks name this cell, e.g. ``"Cell In[3]"``
    namespace: dict[str, Any]  #: the kernel's local (user) namespace, live
    notebook_name: str | None  #: the notebook's name when the frontend told it, else None

    def code_file(self, label: str) -> str:
        """The file name under which to compile code of the cell ``label`` (``"Cell In[3]"``)
        to run it here: ``label`` itself, or, while JupyterLab's debugger is on, the path of the
        cell's file, so breakpoints set in that cell bind (``#%run_local``)."""

    def stream(self, name: str, text: str) -> None:
        """Append ``text`` to ``stdout`` or ``stderr`` of the cell (batched like print)."""

    def stream_to_session(self, name: str, text: str) -> None:
        """Write ``text`` for the client session that sent the request, outside the cell's
        outputs: its parent header is the request's with another ``msg_id``. Terminal
        frontends, which print what their session caused, show it; notebook frontends, which
        file each output under the request that caused it, do not. For what a notebook shows
        otherwise (the text of a display that terminals never see updated)."""

    def display(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        *,
        display_id: str | None = None,
        update: bool = False,
    ) -> None:
        """Publish a mime bundle; ``update=True`` replaces the output(s) with ``display_id``."""

    def clear_output(self, wait: bool = False) -> None:
        """Clear the cell's output area (``wait=True``: at the next output)."""

    def input(self, prompt: str = "", password: bool = False) -> str:
        """Ask the frontend for a line of input (``password``: not echoed).

        Raises ``StdinNotImplementedError`` (a ``NotImplementedError``, IPython's class when
        IPython is installed) when the frontend does not support stdin, and
        ``KeyboardInterrupt`` when the user interrupts while it waits.
        """

    def flush(self) -> None:
        """Publish buffered stream output now."""


@runtime_checkable
class CellEngine(Protocol):
    """An engine that takes over some cells. The pragma engine implements it."""

    def claims(self, code: str) -> bool:
        """True when this cell is the engine's (pragma cells; ordinary cells in multiblock mode)."""

    def run_cell(self, code: str, context: OutputContext) -> None:
        """Run a claimed cell; raise :class:`CellError` to report a failure to the user."""

    def complete(
        self, code: str, cursor_pos: int, namespace: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """A complete_reply content (matches, cursor_start, cursor_end, metadata), or None
        when the cursor is not on a pragma line (the kernel then completes Python).
        ``namespace``: the user's variables (what a task may import)."""

    def inspect(self, code: str, cursor_pos: int, detail_level: int) -> dict[str, Any] | None:
        """An inspect_reply content (found, data, metadata), or None when not on a pragma."""

    def is_complete(self, code: str) -> dict[str, Any] | None:
        """An is_complete_reply content for a pragma cell, or None to let the kernel decide."""

    def runs_alongside(self, code: str) -> bool:
        """True when this claimed cell only reads the engine's state, so it may run in a
        subshell while another cell of the engine runs (the kernel runs the engine's cells one
        at a time otherwise, and refuses them in a subshell while another one runs)."""

    def shutdown(self, reason: str = "kernel shutting down") -> None:
        """Release backends, worker processes and clusters; called once when the kernel exits.
        ``reason`` ("kernel restarting", "kernel shutting down") is what the displays of the
        work it stops say."""
