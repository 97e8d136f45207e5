"""One declaration per pragma: parameters, help, body rule, backends and handler in one place.

Each family module in ``pragmas/declarations/`` declares its pragmas with :func:`pragma`; the
registry built from them drives validation of arguments, ``#%help``, Tab completion, Shift-Tab
inspection and the README reference. Nothing about a pragma is written down anywhere else.

A handler receives the engine, the checked call and the cell's output context::

    @pragma(
        "delete_task",
        family="tasks",
        summary="removes a task from the job",
        params=[Param("name", "name", required=True, help="the task to remove")],
        example="#%delete_task(name=train)",
    )
    def delete_task(engine, call, ctx):
        ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pragma_kernel.kernel.seam import OutputContext
    from pragma_kernel.pragmas.model import SourceLocation

ALL_BACKENDS = frozenset({"local", "dask", "proactive"})
PROACTIVE_ONLY = frozenset({"proactive"})

#: Parameter kinds. "name": identifier-like word (letters, digits, _ and -); "word": any bare
#: word or quoted string; "path"; "url"; "int"; "number"; "flag" (on/off/true/false -> bool);
#: "choice" (one of ``choices``); "list" (list of words); "pairs" (list of (k, v) pairs -> dict).
KINDS = frozenset({"name", "word", "path", "url", "int", "number", "flag", "choice", "list", "pairs"})


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    required: bool = False
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    #: values Tab offers for a free-form parameter (any other value may be valid too)
    suggestions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown parameter kind {self.kind!r} for {self.name!r}")


@dataclass
class PragmaCall:
    """One pragma line of a cell, parsed and checked against its declaration."""

    spec: PragmaSpec
    args: dict[str, Any]  #: converted values, defaults filled in for absent parameters
    given: frozenset[str]  #: the parameters the user actually wrote
    line: str  #: the pragma line as written
    lineno: int  #: 1-based line of the pragma in the cell
    body: str = ""  #: the code the pragma owns ("" if none)
    body_source: SourceLocation | None = None
    #: parameter -> 0-based column of its value in ``line`` (for errors pointing at a value)
    columns: dict[str, int] = field(default_factory=dict)

    def error(self, message: str, param: str | None = None) -> Exception:
        """A :class:`pragmas.errors.PragmaUsageError` about this line, with the caret on
        ``param``'s value (or on the pragma name), for a handler to raise."""
        from pragma_kernel.pragmas.errors import Location, PragmaUsageError

        column = self.columns.get(param, self.columns.get("", 0)) if param else self.columns.get(
            "", 0
        )
        where = f"#%{self.spec.name}" + (f", parameter '{param}'" if param else "")
        return PragmaUsageError(
            f"{where}: {message}",
            Location(self.line, self.lineno, column),
            pragma=self.spec.name,
            param=param,
        )


Handler = Callable[[Any, PragmaCall, "OutputContext"], None]


@dataclass(frozen=True)
class PragmaSpec:
    name: str
    family: str
    summary: str  #: one line, shown by ``#%help()``
    params: tuple[Param, ...] = ()
    body: str = "none"  #: "none" | "optional" | "required"
    backends: frozenset[str] = ALL_BACKENDS  #: where it has an effect
    example: str = ""
    details: str = ""  #: longer help for ``#%help(pragma=NAME)``
    handler: Handler | None = field(default=None, compare=False)
    aliases: tuple[str, ...] = ()

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def usage(self) -> str:
        """``#%name(required=..., [optional=...])`` built from the parameters."""
        parts = []
        for p in self.params:
            text = f"{p.name}={_placeholder(p)}"
            parts.append(text if p.required else f"[{text}]")
        return f"#%{self.name}({', '.join(parts)})"


def _placeholder(p: Param) -> str:
    if p.kind == "choice":
        # a long list (the script languages) would drown the usage line: #%help lists it
        return "|".join(p.choices) if len(p.choices) <= 4 else p.name.upper()
    if p.kind == "flag":
        return "on/off"
    if p.kind == "list":
        return "[A, B, ...]"
    if p.kind == "pairs":
        return "[(K1, V1), (K2, V2), ...]"
    return p.name.upper()


#: name (and alias) -> declaration, filled by the family modules at import
REGISTRY: dict[str, PragmaSpec] = {}


def pragma(name: str, **fields: Any) -> Callable[[Handler], Handler]:
    """Declare a pragma and register ``handler`` for it (see the module docstring)."""
    params = tuple(fields.pop("params", ()))

    def register(handler: Handler) -> Handler:
        spec = PragmaSpec(name=name, params=params, handler=handler, **fields)
        for key in (name, *spec.aliases):
            if key in REGISTRY:
                raise ValueError(f"pragma {key!r} declared twice")
            REGISTRY[key] = spec
        return handler

    return register


def declarations() -> dict[str, PragmaSpec]:
    """The registry with every family module imported."""
    import pragma_kernel.pragmas.declarations  # noqa: F401  (imports the family modules)

    return REGISTRY
