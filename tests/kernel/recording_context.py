"""An in-memory output context for unit tests of the Python shell (no sockets): it records
what a real CellContext would publish, in order, and captures print() through sys.stdout."""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class RecordingContext:
    execution_count: int = 1
    namespace: dict[str, Any] = field(default_factory=dict)
    silent: bool = False
    notebook_name: str | None = None
    payload: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def cell_label(self) -> str:
        return f"Cell In[{self.execution_count}]"

    def code_file(self, label: str) -> str:
        return label

    def stream(self, name: str, text: str) -> None:
        self.outputs.append(("stream", {"name": name, "text": text}))

    def stream_to_session(self, name: str, text: str) -> None:
        self.outputs.append(("session_stream", {"name": name, "text": text}))

    def display(self, data, metadata=None, *, display_id=None, update=False) -> None:
        if self.silent:
            return
        content = {"data": data, "metadata": metadata or {}, "transient": {}}
        if display_id:
            content["transient"]["display_id"] = display_id
        self.outputs.append(("update_display_data" if update else "display_data", content))

    def execute_result(self, data, metadata=None) -> None:
        if self.silent:
            return
        self.outputs.append(("execute_result", {"execution_count": self.execution_count,
                                                "data": data, "metadata": metadata or {}}))

    def clear_output(self, wait: bool = False) -> None:
        self.outputs.append(("clear_output", {"wait": wait}))

    def input(self, prompt: str = "", password: bool = False) -> str:
        raise RuntimeError("no stdin in unit tests")

    def flush(self) -> None:
        pass

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [content for kind, content in self.outputs if kind == msg_type]


def run(shell, code: str, count: int = 1, *, store_history: bool = True, silent: bool = False):
    """Execute ``code`` in ``shell`` and return (outcome, context, captured stdout text)."""
    ctx = RecordingContext(execution_count=count, namespace=shell.namespace, silent=silent)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        outcome = shell.execute(code, ctx, store_history=store_history)
    sys.stdout.flush()
    return outcome, ctx, out.getvalue()
