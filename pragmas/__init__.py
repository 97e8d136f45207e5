"""The pragma language and everything behind it: parser, job model, validation, graph, engine,
backends and the code that runs inside a task. Import-light: the kernel loads the engine only
when the first pragma cell arrives (``create_engine``)."""

from __future__ import annotations

from pragma_kernel.pragmas.cells import is_pragma_cell

__all__ = ["create_engine", "is_pragma_cell"]


def create_engine():
    """The pragma engine, implementing ``pragma_kernel.kernel.seam.CellEngine``; its first
    pragma cell starts the local workers in the background."""
    from pragma_kernel.pragmas.engine import PragmaEngine

    return PragmaEngine(start_workers_early=True)
