"""What the editor asks while the user types: completion (jedi, imported on first use),
inspection (signature and docstring, the text of ``obj?``) and ``is_complete``.

Cursor positions are offsets in unicode code points, which is what Python ``str`` indexes.
"""

from __future__ import annotations

import ast
import builtins
import codeop
import inspect
import logging
import re
from typing import Any

from pragma_kernel.kernel import cell_syntax, magics
from pragma_kernel.kernel.tracebacks import BLUE, RED, RESET

log = logging.getLogger(__name__)

_COMPILE_FLAGS = (
    ast.PyCF_ONLY_AST | codeop.PyCF_DONT_IMPLY_DEDENT | codeop.PyCF_ALLOW_INCOMPLETE_INPUT
)
_MAGIC_PREFIX = re.compile(r"^\s*(%{1,2}\w*)$")
_NAME_CHARS = re.compile(r"[\w.]")
_STRING_FORM_LIMIT = 200

# --------------------------------------------------------------------------------------------
# is_complete


def is_complete(code: str) -> dict[str, str]:
    """is_complete_reply content, like IPython's ``check_complete``: a cell whose last line is
    indented stays open until the user enters an empty line."""
    if not code.strip():
        return {"status": "complete"}
    source = cell_syntax.transform_cell(code)
    try:
        compile(source, "<is_complete>", "exec", _COMPILE_FLAGS)
    except SyntaxError as err:
        if err.msg == "incomplete input":
            return {"status": "incomplete", "indent": _next_indent(code)}
        return {"status": "invalid"}
    except (ValueError, OverflowError):  # null bytes, huge literals
        return {"status": "invalid"}
    last = code.rstrip("\n").splitlines()[-1]
    if not code.endswith("\n") and last[:1] in (" ", "\t"):
        return {"status": "incomplete", "indent": _next_indent(code)}
    return {"status": "complete"}


def _next_indent(code: str) -> str:
    lines = [line for line in code.splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1]
    indent = last[: len(last) - len(last.lstrip())]
    if last.split("#", 1)[0].rstrip().endswith(":"):
        indent += "    "
    return indent


# --------------------------------------------------------------------------------------------
# Completion


def complete(code: str, cursor_pos: int, namespace: dict[str, Any]) -> dict[str, Any]:
    """complete_reply content: jedi's completions for the namespace, magics after ``%``."""
    cursor_pos = max(0, min(cursor_pos, len(code)))
    line_start = code.rfind("\n", 0, cursor_pos) + 1
    before = code[line_start:cursor_pos]
    magic = _MAGIC_PREFIX.match(before)
    if magic:
        return _magic_completions(magic.group(1), cursor_pos)
    try:
        items = _jedi_completions(code, cursor_pos, namespace)
    except Exception:  # jedi has internal errors on odd code; the namespace completer still works
        log.warning("jedi completion failed; using the namespace completer", exc_info=True)
        items = _namespace_completions(before, namespace)
    return _reply(items, cursor_pos)


def _reply(items: list[tuple[str, int, str, str]], cursor_pos: int) -> dict[str, Any]:
    """items: (text, length of the typed prefix it replaces, type, signature)."""
    start = min((cursor_pos - typed for _, typed, _, _ in items), default=cursor_pos)
    matches: list[str] = []
    types: list[dict[str, Any]] = []
    seen: set[str] = set()
    for text, _, kind, signature in items:
        if text in seen:
            continue
        seen.add(text)
        matches.append(text)
        types.append({"start": start, "end": cursor_pos, "text": text, "type": kind,
                      "signature": signature})
    return {
        "status": "ok",
        "matches": matches,
        "cursor_start": start,
        "cursor_end": cursor_pos,
        "metadata": {"_jupyter_types_experimental": types},
    }


def _jedi_completions(
    code: str, cursor_pos: int, namespace: dict[str, Any]
) -> list[tuple[str, int, str, str]]:
    import jedi

    jedi.settings.case_insensitive_completion = False  # "zi" offers zip, not ZipFile
    line = code.count("\n", 0, cursor_pos) + 1
    column = cursor_pos - (code.rfind("\n", 0, cursor_pos) + 1)
    items = []
    prefix_end = code[:cursor_pos]
    for completion in jedi.Interpreter(code, [namespace]).complete(line, column):
        name = completion.name_with_symbols
        typed = len(completion.name) - len(completion.complete)
        if typed < 0 or not prefix_end.endswith(completion.name[:typed]):
            continue
        items.append((name, typed, completion.type, ""))
    return items


def _namespace_completions(
    before: str, namespace: dict[str, Any]
) -> list[tuple[str, int, str, str]]:
    import rlcompleter

    match = re.search(r"[\w.]*$", before)
    text = match.group(0) if match else ""
    completer = rlcompleter.Completer(namespace)
    found = []
    state = 0
    while (candidate := completer.complete(text, state)) is not None:
        found.append(candidate.rstrip("("))
        state += 1
    typed = len(text) - (text.rfind(".") + 1)
    return [(c[c.rfind(".") + 1 :] if "." in text else c, typed, "<unknown>", "") for c in found]


def _magic_completions(typed: str, cursor_pos: int) -> dict[str, Any]:
    names = ["%" + n for n in magics.LINE_MAGICS] + ["%%" + n for n in magics.CELL_MAGICS]
    # "%ti" offers %%time too, as IPython does
    stem = typed.lstrip("%") if typed.count("%") == 1 else None
    items = [
        (n, len(typed), "magic", "") for n in sorted(names)
        if n.startswith(typed) or (stem is not None and n.lstrip("%").startswith(stem))
    ]
    return _reply(items, cursor_pos)


# --------------------------------------------------------------------------------------------
# Inspection


def inspect_at(
    code: str, cursor_pos: int, detail_level: int, namespace: dict[str, Any]
) -> dict[str, Any]:
    """inspect_reply content for the name at the cursor (or the call around it)."""
    for name in names_at_cursor(code, cursor_pos):
        found, obj = resolve_name(name, namespace)
        if found:
            text = object_info_text(obj, name, detail_level)
            return {"status": "ok", "found": True, "data": {"text/plain": text}, "metadata": {}}
    return {"status": "ok", "found": False, "data": {}, "metadata": {}}


def names_at_cursor(code: str, cursor_pos: int) -> list[str]:
    """Candidate dotted names to inspect: the one under the cursor, then the innermost call
    the cursor is in (``print(1, |`` inspects ``print``)."""
    cursor_pos = max(0, min(cursor_pos, len(code)))
    names = []
    start = end = cursor_pos
    while start > 0 and _NAME_CHARS.match(code[start - 1]):
        start -= 1
    while end < len(code) and _NAME_CHARS.match(code[end]):
        end += 1
    under = code[start:end].strip(".")
    if under and not under[0].isdigit():
        names.append(under)
    callee = _enclosing_call(code[:cursor_pos])
    if callee and callee not in names:
        names.append(callee)
    return names


def _enclosing_call(before: str) -> str | None:
    depth = 0
    for index in range(len(before) - 1, -1, -1):
        char = before[index]
        if char in ")]}":
            depth += 1
        elif char in "([{":
            if depth == 0:
                if char != "(":
                    return None
                match = re.search(r"([A-Za-z_][\w.]*)\s*$", before[:index])
                return match.group(1) if match else None
            depth -= 1
    return None


def resolve_name(name: str, namespace: dict[str, Any]) -> tuple[bool, Any]:
    """Look a dotted name up in the namespace (then builtins) by attribute access only: no
    calls, no indexing, so inspecting never runs arbitrary user code beyond properties."""
    first, *rest = name.split(".")
    if first in namespace:
        obj = namespace[first]
    elif hasattr(builtins, first):
        obj = getattr(builtins, first)
    else:
        return False, None
    for part in rest:
        try:
            obj = getattr(obj, part)
        except Exception:  # noqa: BLE001 - a missing or failing attribute is simply "not found"
            return False, None
    return True, obj


def object_info_text(obj: Any, name: str, detail_level: int = 0) -> str:
    """IPython's ``obj?`` text (``??`` adds the source): signature, docstring, file, type."""
    fields: list[tuple[str, str]] = []
    source = _source(obj) if detail_level else None
    if inspect.isclass(obj):
        signature = _signature(obj)
        if signature is not None:
            fields.append(("Init signature", f"{name}{signature}"))
    elif callable(obj):
        signature = _signature(obj)
        if signature is not None:
            fields.append(("Signature", f"{name}{signature}"))
    else:
        fields.append(("Type", type(obj).__name__))
        fields.append(("String form", _string_form(obj)))
        length = _length(obj)
        if length is not None:
            fields.append(("Length", str(length)))
    if source is not None:
        fields.append(("Source", source))
    else:
        fields.append(("Docstring", inspect.getdoc(obj) or "<no docstring>"))
    path = _file(obj)
    if path:
        fields.append(("File", path))
    if inspect.isclass(obj) or callable(obj):
        fields.append(("Type", type(obj).__name__))
    width = max(len(title) for title, _ in fields) + 1
    lines = []
    for title, value in fields:
        header = f"{RED}{title + ':':<{width}}{RESET}"
        lines.append(f"{header}\n{value}" if "\n" in value else f"{header} {value}")
    return "\n".join(lines)


def _signature(obj: Any) -> str | None:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):  # builtins without text signature
        return None


def _source(obj: Any) -> str | None:
    try:
        return inspect.getsource(obj).rstrip("\n")
    except (TypeError, OSError, SyntaxError):  # builtins; classes in cells with magics
        return None


def _file(obj: Any) -> str | None:
    try:
        return inspect.getsourcefile(obj) or inspect.getfile(obj)
    except (TypeError, OSError):  # builtins; objects of __main__ whose cell is unknown
        return None


def _string_form(obj: Any) -> str:
    try:
        text = str(obj)
    except Exception as err:  # noqa: BLE001
        # show that str() fails rather than failing the inspection
        return f"<str() failed: {type(err).__name__}>"
    if len(text) > _STRING_FORM_LIMIT:
        text = text[: _STRING_FORM_LIMIT - 5] + f"{BLUE}<...>{RESET}"
    return text


def _length(obj: Any) -> int | None:
    if not hasattr(type(obj), "__len__"):
        return None
    try:
        return len(obj)
    except Exception:  # noqa: BLE001 - objects whose __len__ needs state they do not have
        return None
