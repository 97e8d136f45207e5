"""Editor support for pragma lines: Tab completion, Shift-Tab inspection, is_complete.

Pure functions of the cell text, the cursor and the registry (plus the current tasks, to
complete ``dep=[...]`` and ``import=[...]``, and the notebook's variables); the engine forwards
the kernel's requests here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pragma_kernel.pragmas.cells import is_pragma_cell, is_pragma_line
from pragma_kernel.pragmas.declaration import PragmaSpec
from pragma_kernel.pragmas.errors import LocatedError
from pragma_kernel.pragmas.parser import parse_line, split_cell
from pragma_kernel.pragmas.reference import pragma_help, wrap_help

_PREFIX = re.compile(r"[ \t]*#%[ \t]*")
_WORD_TAIL = re.compile(r"[\w\-./:@~+]*\Z")
#: parameters whose values are task names
_TASK_PARAMS = {"dep", "task_name"}
_TASK_NAME_PRAGMAS = {"delete_task", "pre_script", "post_script", "selection_script", "fork_env",
                      "run_local"}  # fmt: skip


@dataclass(frozen=True)
class _Cursor:
    line: str
    line_start: int  #: offset of the line in the cell
    column: int  #: cursor column in the line


def _cursor(code: str, cursor_pos: int) -> _Cursor:
    cursor_pos = max(0, min(cursor_pos, len(code)))
    line_start = code.rfind("\n", 0, cursor_pos) + 1
    line_end = code.find("\n", cursor_pos)
    line = code[line_start: len(code) if line_end == -1 else line_end]
    return _Cursor(line, line_start, cursor_pos - line_start)


def _reply(matches: Iterable[str], start: int, end: int, kind: str = "") -> dict[str, Any]:
    matches = list(matches)
    # JupyterLab shows the type next to each match (the same key IPython uses)
    types = [{"start": start, "end": end, "text": m, "type": kind} for m in matches]
    return {"status": "ok", "matches": matches, "cursor_start": start, "cursor_end": end,
            "metadata": {"_jupyter_types_experimental": types} if kind else {}}  # fmt: skip


def _argument_context(text: str) -> tuple[str | None, str, int, bool]:
    """For the argument text before the cursor (after ``(``): the parameter being valued (None
    while its name is typed), the partial word at the cursor, its start, and whether the cursor
    is inside a list."""
    depth, quote, segment_start = 0, None, 0
    for index, char in enumerate(text):
        if quote:
            quote = None if char == quote and text[index - 1] != "\\" else quote
        elif char in "'\"":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            segment_start = index + 1
    segment = text[segment_start:]
    partial = _WORD_TAIL.search(text).group()
    start = len(text) - len(partial)
    if "=" not in segment:
        return None, partial, start, False
    key = segment.split("=", 1)[0].strip()
    return key, partial, start, depth > 0


def complete(code: str, cursor_pos: int, registry: Mapping[str, PragmaSpec],
             tasks: Mapping[str, Any] | Iterable[str] = (),
             variables: Iterable[str] = ()) -> dict[str, Any] | None:
    """A complete_reply content, or None when the cursor is not on a pragma line.

    ``tasks``: the job's tasks by name (names alone will do); ``variables``: the names of the
    notebook's variables. Both are what ``import=[...]`` can take.
    """
    cur = _cursor(code, cursor_pos)
    if not is_pragma_line(cur.line):
        return None
    before = cur.line[: cur.column]
    prefix = _PREFIX.match(before)
    if prefix is None:  # cursor inside the leading spaces or on '#'
        return _reply([], cursor_pos, cursor_pos)
    rest = before[prefix.end():]
    if "(" not in rest:
        if not re.fullmatch(r"\w*", rest):
            return _reply([], cursor_pos, cursor_pos)
        names = sorted({s.name for s in registry.values()} | set(registry))
        return _reply([n for n in names if n.startswith(rest)], cur.line_start + prefix.end(),
                      _word_end(cur, cursor_pos), "pragma")  # fmt: skip
    name, _, arguments = rest.partition("(")
    spec = registry.get(name.strip())
    if spec is None:
        return _reply([], cursor_pos, cursor_pos)
    key, partial, start, in_list = _argument_context(arguments)
    start += cur.line_start + prefix.end() + len(name) + 1
    matches = _candidates(spec, key, partial, in_list, arguments, tasks, registry, variables)
    if key in ("import", "export") and in_list:
        matches = _inferred_first(code, key, partial, matches)
    kind = "parameter" if key is None else "value"
    return _reply(matches, start, _word_end(cur, cursor_pos), kind)


def _word_end(cur: _Cursor, cursor_pos: int) -> int:
    """Past the rest of the word under the cursor: completing in the middle of a word replaces
    all of it."""
    tail = re.match(r"[\w\-./:@~+]*", cur.line[cur.column:]).group()
    return cursor_pos + len(tail)


def _candidates(spec: PragmaSpec, key: str | None, partial: str, in_list: bool, arguments: str,
                tasks: Mapping[str, Any] | Iterable[str], registry: Mapping[str, PragmaSpec],
                variables: Iterable[str]) -> list[str]:
    if key is None:
        given = set(re.findall(r"(\w+)\s*=", arguments))
        return [f"{p.name}=" for p in spec.params
                if p.name.startswith(partial) and p.name not in given]  # fmt: skip
    param = spec.param(key)
    if param is None:
        return []
    if param.kind == "choice":
        values = list(param.choices)
    elif param.kind == "flag":
        values = ["on", "off"]
    elif key in _TASK_PARAMS or (key == "name" and spec.name in _TASK_NAME_PRAGMAS):
        values = list(tasks)
    elif key == "import":  # what a task can import: other tasks' exports, notebook variables
        values = sorted(_exported(tasks) | set(variables))
    elif spec.name == "help" and key == "pragma":
        values = sorted(registry)
    elif param.kind == "path" or key == "input_files":
        values = _paths(partial)
        if key == "input_files":  # what other tasks write comes too
            values = sorted(set(values) | _written(tasks))
    elif param.suggestions:
        values = list(param.suggestions)
    else:
        values = []
    if param.kind == "list" and not in_list:
        return []
    return [v for v in values if v.startswith(partial)]


def _inferred_first(code: str, key: str, partial: str, matches: list[str]) -> list[str]:
    """What the cell's body reads before assigning (import) or defines (export) comes first,
    in the order of the body; the other candidates follow."""
    from pragma_kernel.pragmas.code_facts import code_facts
    from pragma_kernel.pragmas.dataflow import GIVEN_NAMES

    facts = code_facts(split_cell(code).body)
    names = facts.reads if key == "import" else facts.defines()
    inferred = [n for n in sorted(names, key=names.__getitem__)
                if n.startswith(partial) and n not in GIVEN_NAMES]  # fmt: skip
    return inferred + [m for m in matches if m not in inferred]


def _exported(tasks: Mapping[str, Any] | Iterable[str]) -> set[str]:
    if not isinstance(tasks, Mapping):
        return set()
    return {name for task in tasks.values() for name in getattr(task, "exports", None) or ()}


def _written(tasks: Mapping[str, Any] | Iterable[str]) -> set[str]:
    if not isinstance(tasks, Mapping):
        return set()
    return {p for task in tasks.values() for p in getattr(task, "output_files", None) or ()}


def _paths(partial: str) -> list[str]:
    """Files and folders (with a trailing /) of the working directory that complete
    ``partial``; hidden ones only when asked for."""
    folder, slash, stem = partial.rpartition("/")
    base = folder or ("/" if slash else ".")
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except OSError:
        return []
    prefix = f"{folder}/" if slash else ""
    return [f"{prefix}{e.name}{'/' if e.is_dir() else ''}" for e in entries
            if e.name.startswith(stem) and (stem.startswith(".") or not e.name.startswith("."))]


def inspect(
    code: str, cursor_pos: int, registry: Mapping[str, PragmaSpec]
) -> dict[str, Any] | None:
    """An inspect_reply content for the pragma on the cursor's line, or None."""
    cur = _cursor(code, cursor_pos)
    if not is_pragma_line(cur.line):
        return None
    prefix = _PREFIX.match(cur.line)
    found = re.match(r"\w+", cur.line[prefix.end():]) if prefix else None
    spec = registry.get(found.group()) if found else None
    if spec is None:
        return {"status": "ok", "found": False, "data": {}, "metadata": {}}
    text = pragma_help(spec)
    word = re.search(r"\w+\Z", cur.line[: cur.column])
    tail = re.match(r"\w*", cur.line[cur.column:]).group()
    param = spec.param((word.group() if word else "") + tail)
    if param is not None:
        text = f"{wrap_help(f'{param.name}: {param.help}')}\n\n{text}"
    return {"status": "ok", "found": True, "data": {"text/plain": text}, "metadata": {}}


def is_complete(code: str) -> dict[str, Any] | None:
    """An is_complete_reply content for a pragma cell, or None for other cells.

    A pragma line cannot continue on the next line, so a line that does not parse (e.g.
    unbalanced parentheses) is ``invalid``: running it shows the error with its caret. A cell
    whose pragma takes code is complete once the code is followed by a blank line, as in a
    console; a cell of pragmas taking no code is complete at once.
    """
    if not is_pragma_cell(code):
        return None
    from pragma_kernel.pragmas.declaration import declarations

    registry = declarations()
    parts = split_cell(code)
    takes_body = False
    for lineno, line in parts.pragma_lines:
        try:
            parsed = parse_line(line, lineno)
        except LocatedError:
            return {"status": "invalid"}
        spec = registry.get(parsed.name)
        if spec is None:
            return {"status": "invalid"}
        takes_body = takes_body or spec.body != "none"
    lines = code.split("\n")
    if not takes_body or (len(lines) > 1 and not lines[-1].strip()):
        return {"status": "complete"}
    last = lines[-1]
    indent = last[: len(last) - len(last.lstrip())]
    if last.rstrip().endswith(":"):
        indent += "    "
    return {"status": "incomplete", "indent": indent}
