"""Pragma family: help — ``#%help()`` and ``#%help(pragma=NAME)``, derived from the registry."""

from __future__ import annotations

from typing import Any

from pragma_kernel.pragmas.declaration import Param, PragmaCall, pragma
from pragma_kernel.pragmas.reference import help_index, pragma_help


@pragma(
    "help",
    family="help",
    summary="lists every pragma, or shows the full usage of one",
    params=[Param("pragma", "word", help="the pragma to explain (its name, without #%)")],
    example="#%help(pragma=task)",
    details="Inside a pragma line, Tab completes pragma and parameter names and Shift-Tab "
    "shows this help.",
)
def help_(engine: Any, call: PragmaCall, ctx: Any) -> None:
    name = call.args["pragma"]
    if not name:
        ctx.stream("stdout", help_index(engine.registry))
        return
    name = name.removeprefix("#%").removesuffix("()")
    spec = engine.registry.get(name)
    if spec is None:
        from pragma_kernel.pragmas.parser import closest

        hint = closest(name, sorted(engine.registry))
        suggestion = f" Did you mean '{hint}'?" if hint else ""
        raise call.error(f"there is no pragma '{name}'.{suggestion} #%help() lists them all",
                         "pragma")
    ctx.stream("stdout", pragma_help(spec))
