"""Driving a PragmaEngine without a kernel: run cells with an in-memory output context."""

from __future__ import annotations

from typing import Any

from pragma_kernel.pragmas.engine import PragmaEngine

from tests.kernel.recording_context import RecordingContext


class Notebook:
    """A PragmaEngine and a namespace, with cells numbered like a notebook's."""

    def __init__(self, **namespace: Any):
        self.engine = PragmaEngine()
        self.namespace: dict[str, Any] = dict(namespace)
        self.count = 0
        self.last: RecordingContext | None = None

    def context(self) -> RecordingContext:
        self.count += 1
        return RecordingContext(execution_count=self.count, namespace=self.namespace)

    def run(self, code: str) -> RecordingContext:
        """Run a cell through the engine (it must claim it); return what it published."""
        assert self.engine.claims(code), code
        self.last = ctx = self.context()
        self._record(code)
        self.engine.run_cell(code, ctx)
        return ctx

    def run_python(self, code: str) -> None:
        """Run an ordinary cell in the namespace, as the kernel's shell would."""
        assert not self.engine.claims(code), code
        self.count += 1
        self._record(code)
        # the user's cell, as the shell runs it
        exec(compile(code, f"Cell In[{self.count}]", "exec"), self.namespace)  # noqa: S102

    def _record(self, code: str) -> None:
        """``In`` as the kernel keeps it: In[n] is the cell of execution count n."""
        inputs = self.namespace.setdefault("In", [""])
        while len(inputs) <= self.count:
            inputs.append("")
        inputs[self.count] = code

    @property
    def job(self):
        return self.engine.job


def text(ctx: RecordingContext, name: str | None = None) -> str:
    """The stream output of a cell (``name``: only stdout or stderr)."""
    return "".join(c["text"] for c in ctx.of_type("stream") if name in (None, c["name"]))
