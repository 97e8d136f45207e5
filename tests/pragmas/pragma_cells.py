"""Running pragma cells through the real engine without a kernel (for the ProActive tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pragma_kernel.pragmas.engine import PragmaEngine


@dataclass(eq=False)
class CellContext:
    """An ``OutputContext`` that records what a cell publishes."""

    execution_count: int = 1
    namespace: dict[str, Any] = field(default_factory=dict)
    notebook_name: str | None = None
    answers: list[str] = field(default_factory=list)  #: what ``input`` returns, in order
    outputs: list[tuple[str, Any]] = field(default_factory=list)
    prompts: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def cell_label(self) -> str:
        return f"Cell In[{self.execution_count}]"

    def code_file(self, label: str) -> str:
        return label

    def stream(self, name: str, text: str) -> None:
        self.outputs.append((name, text))

    def stream_to_session(self, name: str, text: str) -> None:
        self.outputs.append(("session", text))

    def display(self, data, metadata=None, *, display_id=None, update=False) -> None:
        self.outputs.append(("display", data))

    def clear_output(self, wait: bool = False) -> None:
        pass

    def input(self, prompt: str = "", password: bool = False) -> str:
        self.prompts.append((prompt, password))
        return self.answers.pop(0)

    def flush(self) -> None:
        pass

    def text(self, name: str = "stdout") -> str:
        return "".join(t for kind, t in self.outputs if kind == name)

    def displays(self) -> list[dict[str, Any]]:
        return [d for kind, d in self.outputs if kind == "display"]


def run_cells(engine: PragmaEngine, *cells: str, ctx: CellContext | None = None) -> CellContext:
    """Run each cell with the engine, numbering them like a notebook; return the context."""
    ctx = ctx or CellContext()
    for cell in cells:
        engine.run_cell(cell, ctx)
        ctx.execution_count += 1
    return ctx
