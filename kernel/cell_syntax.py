"""IPython's everyday syntax turned into plain Python before ``ast.parse`` sees a cell:
``!command``, ``%magic args``, ``%%cellmagic``, ``x = !cmd``, ``x = %magic``, ``obj?``, ``obj??``.

Each such line becomes a call on the object the shell puts in builtins as ``CALLS_NAME`` (a
:class:`kernel.magics.MagicCalls`). Only lines that start a logical line are rewritten: never
text inside strings, brackets or backslash continuations. Line numbers are kept, so tracebacks
point at the line the user wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CALLS_NAME = "_pragma_kernel_magic_"  #: the builtins name rewritten lines call

_ASSIGN_MAGIC = re.compile(r"^(?P<target>[\w.\[\]'\", ]+?)\s*=\s*(?P<kind>!|%(?!%))(?P<rest>.*)$")
_HELP = re.compile(r"^(?:(?P<pre>\?\??)(?P<name1>[\w.]+)|(?P<name2>[\w.]+)(?P<post>\?\??))$")
_MAGIC_HELP = re.compile(r"^%{1,2}(?P<name>\w+)\?{1,2}$")
_MAGIC = re.compile(r"^%(?P<name>\w+)\s*(?P<args>.*)$", re.DOTALL)


@dataclass
class CellMagicCall:
    name: str
    line: str
    body: str


def transform_cell(code: str) -> str:
    """Rewrite IPython syntax into plain Python calls; ordinary code is returned unchanged."""
    cell = split_cell_magic(code)
    if cell is not None:
        return f"{CALLS_NAME}.cell({cell.name!r}, {cell.line!r}, {cell.body!r})\n"
    if "!" not in code and "%" not in code and "?" not in code:
        return code  # fast path: nothing to rewrite
    lines = code.splitlines(keepends=True)
    out: list[str] = []
    depth, quote, continued = 0, None, False
    index = 0
    while index < len(lines):
        line = lines[index]
        if depth == 0 and quote is None and not continued:
            rewritten, used = _rewrite_logical_line(lines, index)
            if rewritten is not None:
                out.append(rewritten)
                out.extend("\n" for _ in range(used - 1))  # keep line numbers stable
                index += used
                continue
        depth, quote, continued = _scan(line, depth, quote)
        out.append(line)
        index += 1
    return "".join(out)


def split_cell_magic(code: str) -> CellMagicCall | None:
    """``%%name line`` at the top of a cell (after blank lines) with the rest as body."""
    stripped = code.lstrip("\n")
    if not stripped.startswith("%%"):
        return None
    first, _, body = stripped.partition("\n")
    match = re.match(r"^%%(\w+)\s*(.*)$", first)
    if match is None:
        return None
    return CellMagicCall(match.group(1), match.group(2).strip(), body)


def _rewrite_logical_line(lines: list[str], index: int) -> tuple[str | None, int]:
    """The rewritten text of a magic/shell/help line starting at ``index`` (with its backslash
    continuation lines) and how many physical lines it used; (None, 0) for ordinary code."""
    first = lines[index]
    stripped = first.strip()
    if not stripped or stripped[0] not in "!%?" and "=" not in stripped and "?" not in stripped:
        return None, 0
    used = 1
    text = stripped
    while text.endswith("\\") and index + used < len(lines) and stripped[0] in "!%":
        text = text[:-1] + " " + lines[index + used].strip()
        used += 1
    indent = first[: len(first) - len(first.lstrip())]
    call = _rewrite_statement(text)
    if call is None:
        return None, 0
    return f"{indent}{call}\n", used


def _rewrite_statement(text: str) -> str | None:
    if text.startswith("!") and not text.startswith("!="):
        return f"{CALLS_NAME}.system({text[1:].strip()!r})"
    magic_help = _MAGIC_HELP.match(text)
    if magic_help:
        return f"{CALLS_NAME}.page_magic({magic_help.group('name')!r})"
    if text.startswith("%") and not text.startswith("%%"):
        return _line_magic_call(text)
    help_match = _HELP.match(text)
    if help_match:
        name = help_match.group("name1") or help_match.group("name2")
        marks = help_match.group("pre") or help_match.group("post")
        return f"{CALLS_NAME}.page({name!r}, {len(marks) - 1})"
    assign = _ASSIGN_MAGIC.match(text)
    if assign and not text.startswith(("=", "!", "%")):
        target, rest = assign.group("target").strip(), assign.group("rest")
        if assign.group("kind") == "!":
            return f"{target} = {CALLS_NAME}.getoutput({rest.strip()!r})"
        call = _line_magic_call("%" + rest)
        return f"{target} = {call}" if call else None
    return None


def _line_magic_call(text: str) -> str | None:
    match = _MAGIC.match(text)
    if match is None:
        return None
    return f"{CALLS_NAME}.line({match.group('name')!r}, {match.group('args').strip()!r})"


def _scan(line: str, depth: int, quote: str | None) -> tuple[int, str | None, bool]:
    """Follow brackets and strings through one physical line of Python.

    Returns the bracket depth and the open triple-quote after the line, and whether the line
    ends with a backslash continuation; enough to know where the next logical line starts.
    """
    i, n = 0, len(line)
    while i < n:
        char = line[i]
        if quote is not None:
            if char == "\\":
                i += 2
            elif line.startswith(quote, i):
                i += len(quote)
                quote = None
            else:
                i += 1
            continue
        if char == "#":
            return depth, None, False
        if char in "'\"":
            triple = char * 3
            if line.startswith(triple, i):
                quote, i = triple, i + 3
                continue
            i = _end_of_short_string(line, i + 1, char)
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        i += 1
    continued = quote is None and line.rstrip("\r\n").endswith("\\")
    return depth, quote, continued


def _end_of_short_string(line: str, i: int, delimiter: str) -> int:
    while i < len(line):
        if line[i] == "\\":
            i += 2
        elif line[i] == delimiter:
            return i + 1
        else:
            i += 1
    return i
