"""Papermill-style parameters of a notebook run headless.

``python -m pragma_kernel.kernel.run_notebook nb.ipynb -p N 10``: a parameter is a job variable
that a ``#%job(variables=...)`` line of the notebook declares, or a name that the cell tagged
``parameters`` assigns (papermill's convention), or both. The runner puts a cell tagged
``injected-parameters`` at the top of the notebook::

    #%parameters(variables=[(N, '10')])

(``#%submit_job`` then runs with N = '10' instead of the declared default), and, when a cell is
tagged ``parameters``, a Python cell after it assigning each parameter as papermill does
(``N = 10``: numbers, True, False and None are read as such, anything else is a string).
Cells injected by an earlier run are replaced. A name the notebook declares nowhere is refused
before anything runs.
"""

from __future__ import annotations

import ast
from typing import Any

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


class UnknownParameterError(ValueError):
    """A ``-p`` name that no ``#%job(variables=...)`` declares and no parameters cell assigns."""


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def declared_job_variables(sources: list[str]) -> list[str]:
    """The variables the ``#%job(variables=...)`` lines of these cells declare, in order
    (lines that do not parse are left to the kernel, which reports them where they are)."""
    from pragma_kernel.pragmas.declaration import declarations
    from pragma_kernel.pragmas.errors import PragmaError
    from pragma_kernel.pragmas.parser import parse_pragma, split_cell

    registry, names = declarations(), []
    for source in sources:
        for lineno, line in split_cell(source).pragma_lines:
            try:
                call = parse_pragma(line, lineno, registry)
            except PragmaError:
                continue
            if call.spec.name == "job" and "variables" in call.given:
                names += [n for n in call.args["variables"] if n not in names]
    return names


def assigned_names(source: str) -> set[str]:
    """The names a cell assigns at its top level (papermill reads the parameters cell so)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def python_literal(value: str) -> str:
    """``10`` -> ``10``, ``0.5`` -> ``0.5``, ``True`` -> ``True``, else a quoted string."""
    if value in ("True", "False", "None"):
        return value
    for kind in (int, float):
        try:
            kind(value)
        except ValueError:
            continue
        return value
    return repr(value)


def pragma_string(text: str) -> str:
    """A quoted string of the pragma grammar (backslash escapes)."""
    escaped = (text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
               .replace("\t", "\\t").replace("\r", "\\r").replace("\0", "\\0"))  # fmt: skip
    return f"'{escaped}'"


def inject(nb: Any, parameters: list[tuple[str, str]]) -> None:
    """Add the parameter cells to ``nb`` (an nbformat v4 notebook), replacing earlier ones;
    :class:`UnknownParameterError` when a name is declared nowhere (``nb`` is then
    unchanged)."""
    if not parameters:
        return
    code = [c for c in nb.cells if c.cell_type == "code" and INJECTED_TAG not in _tags(c)]
    variables = declared_job_variables([c.source for c in code])
    tagged = next((c for c in code if PARAMETERS_TAG in _tags(c)), None)
    assigned = assigned_names(tagged.source) if tagged is not None else set()
    unknown = [name for name, _ in parameters if name not in variables and name not in assigned]
    if unknown:
        declared = ", ".join(variables) or "none"
        raise UnknownParameterError(
            f"the notebook declares no parameter {', '.join(repr(n) for n in unknown)}: its job "
            f"variables (#%job(variables=...)) are {declared}"
            + (f", its parameters cell assigns {', '.join(sorted(assigned)) or 'nothing'}"
               if tagged is not None else ", and no cell is tagged 'parameters'"))
    _inject_cells(nb, parameters, variables, tagged)


def _inject_cells(nb: Any, parameters: list[tuple[str, str]], variables: list[str],
                  tagged: Any) -> None:
    import nbformat

    nb.cells = [c for c in nb.cells if INJECTED_TAG not in _tags(c)]
    values = dict(parameters)
    job = [(n, v) for n, v in values.items() if n in variables]
    if job:
        pairs = ", ".join(f"({pragma_string(n)}, {pragma_string(v)})" for n, v in job)
        nb.cells.insert(0, nbformat.v4.new_code_cell(
            f"#%parameters(variables=[{pairs}])", metadata={"tags": [INJECTED_TAG]}))
    if tagged is not None:
        lines = [f"{n} = {python_literal(v)}" for n, v in values.items() if n.isidentifier()]
        python = nbformat.v4.new_code_cell("# Parameters\n" + "\n".join(lines),
                                           metadata={"tags": [INJECTED_TAG]})
        nb.cells.insert(nb.cells.index(tagged) + 1, python)
