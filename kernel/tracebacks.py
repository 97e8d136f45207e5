"""Tracebacks the way Jupyter users know them from IPython: ANSI colours, ``Cell In[n], line k``
headers for cell code, the kernel's own frames hidden, and a last line ``Ename: evalue``
(JupyterLab renders only the traceback list, joined with newlines).

Cells are compiled under a synthetic file name registered with :func:`register_cell`
(:mod:`kernel.cell_sources`), so the source lines come from :mod:`linecache` and the header shows
the cell's label.
"""

from __future__ import annotations

import ast
import functools
import linecache
import os
import types
from dataclasses import dataclass
from typing import Any

from pragma_kernel.kernel import cell_sources

RED = "\x1b[0;31m"
GREEN = "\x1b[0;32m"
BOLD_GREEN = "\x1b[1;32m"
CYAN = "\x1b[0;36m"
BLUE = "\x1b[0;34m"
RESET = "\x1b[0m"

SEPARATOR = RED + "-" * 75 + RESET
CONTEXT_LINES = 2  #: lines of source shown before and after the line of each frame
_KERNEL_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_CAUSE = "The above exception was the direct cause of the following exception:"
_CONTEXT = "During handling of the above exception, another exception occurred:"


def register_cell(source: str, label: str) -> str:
    """Put a cell's source into linecache under a new file name and return that name."""
    return cell_sources.cells.register(source, label)


def cell_label(filename: str) -> str | None:
    """The label of a registered cell file name, or None for an ordinary file."""
    return cell_sources.cells.label(filename)


@dataclass
class FormattedError:
    """What Jupyter's ``error`` message carries."""

    ename: str
    evalue: str
    traceback: list[str]


def format_exception(exc: BaseException) -> FormattedError:
    """Format ``exc`` (with its chained causes) as IPython's verbose traceback does."""
    ename = type(exc).__name__
    evalue = _safe_str(exc)
    if isinstance(exc, SyntaxError) and _is_cell_compile_error(exc):
        return FormattedError(ename, evalue, [format_syntax_error(exc)])
    chunks: list[str] = []
    for index, (link, err) in enumerate(_exception_chain(exc)):
        if index:
            chunks.append("\n" + link + "\n")
        chunks.extend(_format_one(err, separator=index == 0))
    return FormattedError(ename, evalue, chunks)


def _is_cell_compile_error(exc: SyntaxError) -> bool:
    """A syntax error in a cell's source raised while compiling it (none of that source ran):
    shown as Python shows it, the caret under the cell line, without frames."""
    if exc.filename is None or cell_label(exc.filename) is None:
        return False
    return all(e.tb_frame.f_code.co_filename != exc.filename for e in _entries(exc.__traceback__))


def format_short(ename: str, evalue: str, preamble: str | None = None) -> FormattedError:
    """An error without frames (usage errors, SystemExit): just the coloured last line."""
    lines = [preamble] if preamble else []
    lines.append(f"{RED}{ename}{RESET}{RED}:{RESET} {evalue}\n")
    return FormattedError(ename, evalue, lines)


def format_syntax_error(exc: SyntaxError) -> str:
    """Python's caret display of a syntax error, with the cell label as file."""
    filename = exc.filename or "<unknown>"
    place = cell_label(filename)
    where = f"Cell {GREEN}{place[len('Cell '):] if place else filename}, line {exc.lineno}"
    if not place:
        where = f"File {GREEN}{filename}:{exc.lineno}"
    text = exc.text
    if text is None and exc.lineno:
        text = linecache.getline(filename, exc.lineno)
    out = f"{CYAN}  {where}{CYAN}{RESET}\n"
    if text:
        stripped = text.rstrip("\n").lstrip()
        indent = len(text.rstrip("\n")) - len(stripped)
        out += f"{RED}    {stripped}{RESET}\n"
        if exc.offset:
            column = max(exc.offset - 1 - indent, 0)
            width = 1
            if exc.end_offset and exc.end_lineno == exc.lineno and exc.end_offset > exc.offset:
                width = exc.end_offset - exc.offset
            out += f"{RESET}    {' ' * column}{'^' * width}{RESET}\n"
    out += f"{RED}{type(exc).__name__}{RESET}{RED}:{RESET} {exc.msg}\n"
    return out


def _exception_chain(exc: BaseException) -> list[tuple[str, BaseException]]:
    """Oldest first, each with the sentence that links it to the previous one."""
    chain: list[tuple[str, BaseException]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((link, current))
        if current.__cause__ is not None:
            link, current = _CAUSE, current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            link, current = _CONTEXT, current.__context__
        else:
            current = None
    chain.reverse()
    # the link sentence belongs before the exception that follows it
    links = [link for link, _ in chain]
    return [(links[i - 1] if i else "", err) for i, (_, err) in enumerate(chain)]


def _entries(tb: types.TracebackType | None) -> list[types.TracebackType]:
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    return entries


def _user_frames(tb: types.TracebackType | None) -> list[types.TracebackType]:
    """The traceback entries worth showing: everything but the kernel's own machinery and
    frames that ask to be hidden with ``__tracebackhide__`` (as IPython and pytest honour)."""
    return [
        e for e in _entries(tb)
        if not e.tb_frame.f_code.co_filename.startswith(_KERNEL_DIR)
        and not e.tb_frame.f_locals.get("__tracebackhide__")
    ]


def _format_one(exc: BaseException, separator: bool) -> list[str]:
    """One exception of a chain; only the first has the dashed separator, as in IPython."""
    ename = type(exc).__name__
    header = f"{RED}{ename}{RESET}".ljust(41 + len(RED) + len(RESET))
    chunks = [SEPARATOR] if separator else []
    chunks.append(f"{header} Traceback (most recent call last)")
    # when only kernel frames exist the error is the kernel's own: show them all
    entries = _user_frames(exc.__traceback__) or _entries(exc.__traceback__)
    chunks.extend(_format_frames(entries))
    if isinstance(exc, SyntaxError):
        chunks.append(format_syntax_error(exc))
        return chunks
    if isinstance(exc, _EXCEPTION_GROUP):
        chunks.extend(_sub_exceptions(exc))
    chunks.append(f"{RED}{ename}{RESET}: {_safe_str(exc)}")
    return chunks


_MAX_SUB_EXCEPTIONS = 15  # as Python's own traceback module shows

try:
    _EXCEPTION_GROUP: type | tuple = BaseExceptionGroup  # Python 3.11+
except NameError:  # Python 3.10: the backport anyio and trio use, when installed
    try:
        from exceptiongroup import BaseExceptionGroup as _EXCEPTION_GROUP
    except ImportError:
        _EXCEPTION_GROUP = ()


def _sub_exceptions(group: Any) -> list[str]:
    """Each exception of a group (asyncio.TaskGroup, trio), before the group's own last line,
    which stays last because JupyterLab falls back on it."""
    chunks = []
    count = len(group.exceptions)
    for number, sub in enumerate(group.exceptions[:_MAX_SUB_EXCEPTIONS], start=1):
        chunks.append(f"{CYAN}+---------------- {number} of {count} ----------------{RESET}")
        chunks.extend(format_exception(sub).traceback)
    if count > _MAX_SUB_EXCEPTIONS:
        chunks.append(f"{CYAN}... and {count - _MAX_SUB_EXCEPTIONS} more exceptions{RESET}")
    return chunks


def _format_frames(entries: list[types.TracebackType]) -> list[str]:
    """One chunk per frame; a run of identical frames (deep recursion) is shown once."""
    chunks: list[str] = []
    index = 0
    while index < len(entries):
        key = _frame_key(entries[index])
        run = 1
        while index + run < len(entries) and _frame_key(entries[index + run]) == key:
            run += 1
        chunks.append(_format_frame(entries[index]))
        if run > 1:
            code = entries[index].tb_frame.f_code
            chunks.append(
                f"    [... skipping similar frames: {code.co_name} at line "
                f"{entries[index].tb_lineno} ({run - 1} times)]"
            )
        index += run
    return chunks


def _frame_key(entry: types.TracebackType) -> tuple[str, int, str]:
    code = entry.tb_frame.f_code
    return code.co_filename, entry.tb_lineno, code.co_name


def _format_frame(entry: types.TracebackType) -> str:
    code = entry.tb_frame.f_code
    lineno = entry.tb_lineno
    label = cell_label(code.co_filename)
    if label:
        head = f"Cell {GREEN}{label[len('Cell '):]}, line {lineno}{RESET}"
    else:
        head = f"File {GREEN}{_compress_user(code.co_filename)}:{lineno}{RESET}"
    if code.co_name != "<module>":
        name = code_qualname(code)
        head += f", in {CYAN}{name}{BLUE}({_arguments(code)}){RESET}"
    return head + "\n" + _source_excerpt(code.co_filename, lineno, _scope(code))


def code_qualname(code: types.CodeType) -> str:
    """``Class.method`` as IPython shows it: the code's own on Python 3.11+; on 3.10, found in
    the source (as IPython finds it there through ``executing``), else the bare name."""
    qualname = getattr(code, "co_qualname", None)
    if qualname is not None:
        return qualname
    return _qualname_from_source(code.co_filename, code.co_firstlineno, code.co_name)


@functools.lru_cache(maxsize=512)
def _qualname_from_source(filename: str, firstlineno: int, name: str) -> str:
    try:
        tree = ast.parse("".join(linecache.getlines(filename)))
    except (SyntaxError, ValueError):  # a cell with magics, or no source at all
        return name
    found = _find_definition(tree.body, "", firstlineno, name)
    return found or name


def _find_definition(body: list[ast.stmt], prefix: str, firstlineno: int, name: str) -> str | None:
    for node in body:
        if isinstance(node, ast.ClassDef):
            found = _find_definition(node.body, f"{prefix}{node.name}.", firstlineno, name)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # a decorated function's code starts at its first decorator
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if node.name == name and first == firstlineno:
                return prefix + name
            found = _find_definition(node.body, f"{prefix}{node.name}.<locals>.", firstlineno,
                                     name)  # fmt: skip
        else:
            continue
        if found:
            return found
    return None


def _scope(code: types.CodeType) -> tuple[int, int] | None:
    """First and last line of a function's code; None for module code (the whole cell)."""
    if code.co_name == "<module>":
        return None
    numbers = [line for _, _, line in code.co_lines() if line is not None]
    return code.co_firstlineno, max(numbers, default=code.co_firstlineno)


def _compress_user(path: str) -> str:
    """``~/...`` for files under the home directory, as IPython prints them."""
    home = os.path.expanduser("~")
    if home not in ("~", "/") and path.startswith(home + os.sep):
        return "~" + path[len(home):]
    return path


def _arguments(code: types.CodeType) -> str:
    count = code.co_argcount + code.co_kwonlyargcount
    names = list(code.co_varnames[:count])
    if code.co_flags & 0x04:  # CO_VARARGS
        names.append("*" + code.co_varnames[count])
        count += 1
    if code.co_flags & 0x08:  # CO_VARKEYWORDS
        names.append("**" + code.co_varnames[count])
    return ", ".join(names)


_NUMBER_WIDTH = 7  # IPython's column for line numbers: "    341 code", "--> 346 code"


def _source_excerpt(filename: str, lineno: int, scope: tuple[int, int] | None = None) -> str:
    lines = linecache.getlines(filename)
    if not lines or lineno < 1 or lineno > len(lines):
        return ""
    first, last = max(1, lineno - CONTEXT_LINES), min(len(lines), lineno + CONTEXT_LINES)
    if scope is not None:  # a function's frame shows only the function, like IPython
        first = max(first, scope[0])
        last = min(last, max(scope[1], lineno))
    shown = [lines[number - 1].rstrip("\n") for number in range(first, last + 1)]
    indent = min((len(t) - len(t.lstrip()) for t in shown if t.strip()), default=0)
    out = []
    for number, text in zip(range(first, last + 1), shown):
        text = text[indent:]  # dedented, as IPython shows library code
        digits = str(number)
        if number == lineno:
            arrow = "-" * max(_NUMBER_WIDTH - len(digits) - 2, 0) + "> " + digits
            out.append(f"{GREEN}{arrow}{RESET} {text}\n")
        else:
            out.append(f"{BOLD_GREEN}{digits:>{_NUMBER_WIDTH}}{RESET} {text}\n")
    return "".join(out)


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception as err:  # noqa: BLE001 - a broken __str__ must not hide the original error
        return f"<exception str() failed: {type(err).__name__}: {err}>"
