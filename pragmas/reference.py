"""Help texts and the README reference, all derived from the pragma declarations.

``#%help()`` prints :func:`help_index`, ``#%help(pragma=X)`` and Shift-Tab show
:func:`pragma_help`, and ``python -m pragma_kernel.pragmas.reference`` prints :func:`reference_markdown` for the
README. Nothing here is written by hand per pragma: edit the declaration instead.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping

from pragma_kernel.pragmas.declaration import ALL_BACKENDS, Param, PragmaSpec, declarations

_BODY = {
    "none": "none: the pragma takes no code (code below it in the same cell is an error)",
    "optional": "optional: the rest of the cell is its code",
    "required": "required: the rest of the cell is its code",
}


def unique_specs(registry: Mapping[str, PragmaSpec]) -> list[PragmaSpec]:
    """Each declaration once (aliases dropped), in family order, then declaration order."""
    from pragma_kernel.pragmas.declarations import FAMILIES

    specs = list({id(s): s for s in registry.values()}.values())
    rank = {family: i for i, family in enumerate(FAMILIES)}
    return sorted(specs, key=lambda s: rank.get(s.family, len(rank)))


def backends_text(spec: PragmaSpec) -> str:
    if spec.backends == ALL_BACKENDS:
        return "every backend (local, dask, proactive)"
    return ", ".join(sorted(spec.backends)) + " only (the others say once that it does not apply)"


def help_index(registry: Mapping[str, PragmaSpec] | None = None) -> str:
    """One line per pragma, as ``#%help()`` prints it."""
    specs = unique_specs(registry or declarations())
    width = max(len(s.name) for s in specs) + 5
    lines = [f"{('#%' + s.name + '()').ljust(width)} {s.summary}" for s in specs]
    lines += ["", "For the usage of one pragma: #%help(pragma=NAME)"]
    return "\n".join(lines) + "\n"


HELP_WIDTH = 79  #: columns of #%help and of the Shift-Tab tooltip (JupyterLab's is ~90 wide)
_INDENT = "   "


def _kind_text(param: Param) -> str:
    """``int``, or with a range ``int: a whole number from 1 to 10000``."""
    if param.kind in ("int", "number") and (param.minimum is not None or
                                            param.maximum is not None):
        return f"{param.kind}: {param.range_text()}"
    return param.kind


def _param_line(param: Param) -> str:
    facts = [_kind_text(param) if param.kind != "choice" else "one of " + " | ".join(param.choices)]
    if param.required:
        facts.append("required")
    elif param.default not in (None, [], {}, ""):
        default = param.default
        if isinstance(default, bool):
            default = "on" if default else "off"
        facts.append(f"default {default}")
    return f"{param.name} ({', '.join(facts)}): {param.help}".rstrip(": ")


def pragma_help(spec: PragmaSpec) -> str:
    """Full usage of one pragma, as ``#%help(pragma=NAME)`` prints it and Shift-Tab shows it:
    lines wrapped at :data:`HELP_WIDTH`, continuations indented under their start."""
    lines = [*_wrap(f"#%{spec.name}(): {spec.summary}", ""), "Usage:", *_usage_lines(spec)]
    if spec.params:
        lines.append("Parameters:")
        for param in spec.params:
            lines += _wrap(_param_line(param), _INDENT, _INDENT + "   ")
    lines += _wrap(f"Body: {_BODY[spec.body]}", "", "   ")
    lines += _wrap(f"Backends: {backends_text(spec)}", "", "   ")
    if spec.aliases:
        lines.append(f"Also written: {', '.join('#%' + a for a in spec.aliases)}")
    if spec.details:
        lines += ["", *_wrap(spec.details, "")]
    if spec.example:  # code: never wrapped
        lines += ["Example:", *(f"{_INDENT}{line}" for line in spec.example.splitlines())]
    return "\n".join(lines) + "\n"


def wrap_help(text: str) -> str:
    """A paragraph of help wrapped at :data:`HELP_WIDTH`."""
    return "\n".join(_wrap(text, ""))


def _wrap(text: str, indent: str, continuation: str | None = None) -> list[str]:
    return textwrap.wrap(text, HELP_WIDTH, initial_indent=indent,
                         subsequent_indent=indent if continuation is None else continuation,
                         break_long_words=False, break_on_hyphens=False)  # fmt: skip


def _usage_lines(spec: PragmaSpec) -> list[str]:
    """The usage, broken between parameters (never inside one), continuations aligned after
    the opening parenthesis."""
    usage = spec.usage()
    head, _, rest = usage.partition("(")
    parts = _top_level_parts(rest[:-1])
    if not parts or len(_INDENT + usage) <= HELP_WIDTH:
        return [_INDENT + usage]
    first = f"{_INDENT}{head}("
    hang = " " * len(first)
    lines, current = [], first
    for index, part in enumerate(parts):
        piece = part + (", " if index < len(parts) - 1 else ")")
        if current not in (first, hang) and len(current + piece.rstrip()) > HELP_WIDTH:
            lines.append(current.rstrip())
            current = hang
        current += piece
    lines.append(current.rstrip())
    return lines


def _top_level_parts(arguments: str) -> list[str]:
    """``a=1, [b=[x, y]]`` -> ``["a=1", "[b=[x, y]]"]``: commas inside brackets stay."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(arguments):
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(arguments[start:index].strip())
            start = index + 1
    tail = arguments[start:].strip()
    return [*parts, tail] if tail else parts


def _markdown_params(params: Iterable[Param]) -> list[str]:
    rows = ["| parameter | kind | required / default | meaning |", "|---|---|---|---|"]
    for p in params:
        kind = "`" + "\\|".join(p.choices) + "`" if p.kind == "choice" else _kind_text(p)
        default = p.default
        if isinstance(default, bool):
            default = "on" if default else "off"
        need = "**required**" if p.required else ("" if default in (None, [], {}) else
                                                  f"`{default}`")
        rows.append(f"| `{p.name}` | {kind} | {need} | {p.help.replace('|', '/')} |")
    return rows


def reference_markdown(registry: Mapping[str, PragmaSpec] | None = None) -> str:
    """The README's pragma reference: one section per family, one entry per pragma."""
    specs = unique_specs(registry or declarations())
    out = ["## Pragma reference", "",
           "Generated by `python -m pragma_kernel.pragmas.reference` from the pragma declarations.", ""]
    family = None
    for spec in specs:
        if spec.family != family:
            family = spec.family
            out += [f"### {family.capitalize()}", ""]
        out += [f"#### `#%{spec.name}` — {spec.summary}", "", f"`{spec.usage()}`", ""]
        if spec.params:
            out += [*_markdown_params(spec.params), ""]
        out += [f"Body: {_BODY[spec.body]}. Backends: {backends_text(spec)}.", ""]
        if spec.aliases:
            out += [f"Also written: {', '.join('`#%' + a + '`' for a in spec.aliases)}.", ""]
        if spec.details:
            out += [spec.details, ""]
        if spec.example:
            out += ["```python", spec.example, "```", ""]
    return "\n".join(out)


BEGIN, END = "<!-- PRAGMA-REFERENCE:BEGIN -->", "<!-- PRAGMA-REFERENCE:END -->"


def update_readme(path: str) -> None:
    """Replace the reference between the README's markers with the generated one."""
    reference = reference_markdown().strip()  # first: a failure leaves the README as it was
    with open(path, encoding="utf-8") as file:
        text = file.read()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(path, "w", encoding="utf-8") as file:
        file.write(f"{head}{BEGIN}\n{reference}\n{END}{tail}")


if __name__ == "__main__":
    # ``python -m pragma_kernel.pragmas.reference``: print it; ``--update README.md``: rewrite it
    import sys

    if sys.argv[1:2] == ["--update"]:
        update_readme(sys.argv[2])
    else:
        print(reference_markdown())
