"""What one piece of Python code reads, defines and imports, found without running it.

:func:`code_facts` walks the module level of the code in execution order (``ast``) and asks
``symtable`` which globals the functions, lambdas and classes it defines refer to. A name read
before any assignment at the module level is *free*: the code needs it from outside. A
function's reference to a global is free only when the module level never binds that name (it
runs when the function is called, after the module level may have bound it).

Writes are assignments, ``for``/``with``/``except`` targets, definitions and imports, plus
*mutations*: ``df['c'] = ...`` and ``obj.attr = ...`` write ``df`` and ``obj``; a method call
whose result is thrown away (``model.fit(X, y)``, ``rows.append(r)``) writes ``model`` and
``rows``, since it is made for its effect. ProActive variables read and put with a constant key
(``variables.get('k')``, ``variables['k'] = v``) are recorded too.

What the code can do to its namespace without naming it (``exec``, ``eval``, ``globals()``,
``locals()``, ``vars()``, ``del name``, ``from m import *``, a variable key built at run time)
is listed in ``limits`` with its line, never guessed.
"""

from __future__ import annotations

import ast
import symtable
from dataclasses import dataclass, field
from functools import lru_cache

#: calls that read or write names the code never spells out
_DYNAMIC_CALLS = {"exec": "exec()", "eval": "eval()", "globals": "globals()",
                  "locals": "locals()", "vars": "vars()"}  # fmt: skip
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_COMPREHENSION_TABLES = {"listcomp", "setcomp", "dictcomp", "genexpr"}
#: the object through which ProActive variables are read and put
VARIABLES_NAME = "variables"


@dataclass(frozen=True)
class CodeLimit:
    """Something the analysis cannot see through, at a 1-based line of the code."""

    line: int
    what: str  #: e.g. "exec()", "del df", "from os import *"


@dataclass
class CodeFacts:
    """Names by the 1-based line (of the code) where each is first met."""

    reads: dict[str, int] = field(default_factory=dict)  #: free names: read before bound
    assigned: dict[str, int] = field(default_factory=dict)  #: bound at the module level
    mutated: dict[str, int] = field(default_factory=dict)  #: changed through attribute/item/call
    modules: dict[str, int] = field(default_factory=dict)  #: bound by import statements
    variables_read: dict[str, int] = field(default_factory=dict)  #: ProActive variable keys
    variables_put: dict[str, int] = field(default_factory=dict)
    limits: list[CodeLimit] = field(default_factory=list)
    _defines: dict[str, int] | None = field(default=None, repr=False, compare=False)

    def defines(self) -> dict[str, int]:
        """Data the code leaves behind: assigned or mutated names that no import binds."""
        if self._defines is None:
            names = {**self.mutated, **self.assigned}
            self._defines = {n: line for n, line in names.items() if n not in self.modules}
        return self._defines


@lru_cache(maxsize=4096)
def code_facts(code: str) -> CodeFacts:
    """The facts of ``code`` (cached: a job is analysed again at every submission). Code that
    does not compile has no facts; its syntax error is reported elsewhere."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return CodeFacts()
    walker = _ModuleWalker()
    for statement in tree.body:
        walker.visit(statement)
    facts = walker.facts
    if not walker.function_lines:  # no function, lambda or class: nothing runs later
        return facts
    for name in _global_references(symtable.symtable(code, "<task>", "exec")):
        if name not in facts.assigned and name not in facts.mutated:
            facts.reads.setdefault(name, walker.function_lines.get(name, 1))
    return facts


def _global_references(table: symtable.SymbolTable) -> list[str]:
    """Globals read inside the functions, lambdas and classes the module level defines."""
    names: list[str] = []
    for child in table.get_children():
        if child.get_name() in _COMPREHENSION_TABLES:  # run at once: the walker saw them
            names.extend(_global_references(child))
        else:
            _collect(child, names)
    return names


def _collect(table: symtable.SymbolTable, names: list[str]) -> None:
    for symbol in table.get_symbols():
        if symbol.is_referenced() and symbol.is_global() and not symbol.is_assigned():
            names.append(symbol.get_name())
    for child in table.get_children():
        _collect(child, names)


class _ModuleWalker(ast.NodeVisitor):
    """Visits the module level in the order Python runs it."""

    def __init__(self) -> None:
        self.facts = CodeFacts()
        self.bound: set[str] = set()
        self.local_scopes: list[set[str]] = []  #: comprehension targets, innermost last
        self.function_lines: dict[str, int] = {}  #: first line of a name inside a function

    # ---------------------------------------------------------------- names

    def _read(self, name: str, line: int) -> None:
        if any(name in scope for scope in self.local_scopes):
            return
        if name not in self.bound:
            self.facts.reads.setdefault(name, line)

    def _bind(self, name: str, line: int) -> None:
        if self.local_scopes:
            self.local_scopes[-1].add(name)
            return
        self.bound.add(name)
        self.facts.assigned.setdefault(name, line)

    def _mutate(self, node: ast.expr) -> None:
        """``x.a = ...``, ``x[k] = ...``, ``x.a.b[k] = ...``: a write of ``x``."""
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        if isinstance(node, ast.Name) and not self.local_scopes:
            self.facts.mutated.setdefault(node.id, node.lineno)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._read(node.id, node.lineno)
        elif isinstance(node.ctx, ast.Store):
            self._bind(node.id, node.lineno)
        else:  # del name: the name may or may not exist afterwards
            self.facts.limits.append(CodeLimit(node.lineno, f"del {node.id}"))

    def _store(self, target: ast.expr) -> None:
        """Visit an assignment target: what it reads (``df['c']`` reads df), then what it binds."""
        if isinstance(target, (ast.Attribute, ast.Subscript)):
            self.visit(target.value)
            if isinstance(target, ast.Subscript):
                self.visit(target.slice)
            self._variable_item(target, put=True)
            self._mutate(target)
        else:
            self.visit(target)

    # ---------------------------------------------------------------- statements

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self._store(target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self._read(node.target.id, node.lineno)
        self._store(node.target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self._store(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        scopes, self.local_scopes = self.local_scopes, []  # := binds in the enclosing scope
        self._bind(node.target.id, node.lineno)
        self.local_scopes = scopes

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self._store(node.target)
        for statement in (*node.body, *node.orelse):
            self.visit(statement)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._store(item.optional_vars)
        for statement in node.body:
            self.visit(statement)

    visit_AsyncWith = visit_With

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self._bind(node.name, node.lineno)
        for statement in node.body:
            self.visit(statement)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            name = alias.asname or alias.name.split(".")[0]
            self._bind(name, node.lineno)
            self.facts.modules.setdefault(name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.facts.limits.append(CodeLimit(node.lineno, f"from {node.module} import *"))
                continue
            name = alias.asname or alias.name
            self._bind(name, node.lineno)
            self.facts.modules.setdefault(name, node.lineno)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        args = node.args
        for expression in (*node.decorator_list, *args.defaults,
                           *(d for d in args.kw_defaults if d is not None)):  # fmt: skip
            self.visit(expression)
        self._note_function_names(node)
        self._bind(node.name, node.lineno)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expression in (*node.decorator_list, *node.bases, *(k.value for k in node.keywords)):
            self.visit(expression)
        self._note_function_names(node)
        self._bind(node.name, node.lineno)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for expression in (*node.args.defaults, *(d for d in node.args.kw_defaults if d)):
            self.visit(expression)
        self._note_function_names(node)

    def _note_function_names(self, node: ast.AST) -> None:
        """Where a deferred body first names something (symtable has no line numbers)."""
        for inner in ast.walk(node):
            if isinstance(inner, ast.Name):
                self.function_lines.setdefault(inner.id, inner.lineno)
            elif isinstance(inner, ast.Call):
                self._dynamic_call(inner)

    def visit_Expr(self, node: ast.Expr) -> None:
        self.visit(node.value)
        call = node.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            self._mutate(call.func.value)  # a method called for its effect

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            if isinstance(target, (ast.Attribute, ast.Subscript)):
                self.visit(target.value)
                self._mutate(target)
            else:
                self.visit(target)

    def visit_Global(self, node: ast.Global) -> None:  # module level: no effect
        return

    # ---------------------------------------------------------------- expressions

    def visit_Call(self, node: ast.Call) -> None:
        self._dynamic_call(node)
        self._variables_call(node)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, ast.Load):
            self._variable_item(node, put=False)
        self.generic_visit(node)

    def _dynamic_call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in _DYNAMIC_CALLS:
            self.facts.limits.append(CodeLimit(node.lineno, _DYNAMIC_CALLS[func.id]))

    def _variables_call(self, node: ast.Call) -> None:
        """``variables.get('k')`` reads and ``variables.put('k', v)`` puts variable k."""
        func = node.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and func.value.id == VARIABLES_NAME and func.attr in ("get", "put")):
            return  # fmt: skip
        put = func.attr == "put"
        key = node.args[0] if node.args else None
        self._variable_key(key, node.lineno, put)

    def _variable_item(self, node: ast.Subscript, put: bool) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == VARIABLES_NAME:
            self._variable_key(node.slice, node.lineno, put)

    def _variable_key(self, key: ast.expr | None, line: int, put: bool) -> None:
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found = self.facts.variables_put if put else self.facts.variables_read
            found.setdefault(key.value, line)
        else:
            verb = "put" if put else "read"
            self.facts.limits.append(CodeLimit(line, f"a variable {verb} with a key built at "
                                                     "run time"))

    def _comprehension(self, node: ast.AST, results: list[ast.expr]) -> None:
        generators = node.generators
        self.visit(generators[0].iter)  # evaluated in the enclosing scope
        self.local_scopes.append(set())
        for index, generator in enumerate(generators):
            if index:
                self.visit(generator.iter)
            self.visit(generator.target)
            for condition in generator.ifs:
                self.visit(condition)
        for result in results:
            self.visit(result)
        self.local_scopes.pop()

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])
