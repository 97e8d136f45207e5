"""What makes a cell a pragma cell.

Kept import-light: the kernel calls it for every cell."""

from __future__ import annotations


def is_pragma_line(line: str) -> bool:
    """A line whose text, after optional leading spaces, starts with ``#%``.

    ``#%%`` is not one: Spyder and VS Code use it to mark cells in scripts."""
    text = line.lstrip(" \t")
    return text.startswith("#%") and not text.startswith("#%%")


def is_pragma_cell(code: str) -> bool:
    """True when the first non-blank line of the cell is a pragma line."""
    for line in code.splitlines():
        if line.strip():
            return is_pragma_line(line)
    return False
