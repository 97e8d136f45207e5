"""The source of each cell in :mod:`linecache`, under a file name that says which cell it was.

A cell is compiled under a name such as ``<Cell In[3]>`` (``<Cell In[3]#2>`` when the same label
comes again, as it does for non-history runs), and its lines are put into ``linecache`` under
that name with mtime None, which ``linecache.checkcache`` leaves alone. So tracebacks,
``inspect.getsource``, ``obj??``, ``warnings`` and pdb show the cell and its lines, as IPython's
``CachingCompiler`` makes them do under ipykernel.

Unlike IPython, which keeps every cell for the life of the kernel, the memory is bounded:

- the last :data:`RECENT_CELLS` cells are always kept (the running cell, ``%tb`` of a recent
  error);
- older cells are kept only if they may define code that outlives them (``def``, ``class``,
  ``lambda`` in the text: functions, classes and generators are what tracebacks and
  ``inspect`` come back to later), at most :data:`MAX_DEFINING_CELLS` of them and
  :data:`MAX_DEFINING_CHARS` characters, the oldest dropped first.

A dropped cell still names itself in tracebacks (``Cell In[3], line 2``); only its lines are gone.

``inspect.getsource`` of a *class* defined in a cell needs one more step: ``inspect.getfile``
looks for the file of the class's module, and ``__main__`` has none (a file would make libraries
believe a script runs). :func:`install_class_lookup` lets ``inspect.getfile`` fall back on the
cell that defined the class.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import os
import re
import threading
from collections import OrderedDict
from typing import Any

RECENT_CELLS = 50  #: the newest cells, kept whatever they contain
MAX_DEFINING_CELLS = 1000  #: older cells kept because they define functions or classes
MAX_DEFINING_CHARS = 64 * 1024 * 1024  #: ... and their total size
#: a cell that may define code outliving its run; a word in a string or comment only keeps a
#: cell longer than needed
_DEFINES = re.compile(r"\b(?:def|class|lambda)\b")
#: a cell's file name: ``<label>``, or ``<label#serial>`` from the second cell of a label on
_CELL_FILE = re.compile(r"<(?P<label>.+?)(?:#(?P<serial>[0-9]+))?>")


class CellSources:
    """The registry of cell file names, their labels and their linecache entries."""

    def __init__(
        self,
        recent: int = RECENT_CELLS,
        max_defining: int = MAX_DEFINING_CELLS,
        max_defining_chars: int = MAX_DEFINING_CHARS,
    ):
        self.recent = recent
        self.max_defining = max_defining
        self.max_defining_chars = max_defining_chars
        # label -> how many cells were registered under it. A cell's file name says its label,
        # so nothing else is kept per cell once its lines are dropped (a frontend polling with
        # non-history executes, all "Cell In[ ]", grows nothing); only the debugger's file
        # names (one per distinct cell text, while debugging) are remembered
        self._uses: dict[str, int] = {}
        self._debug_labels: dict[str, str] = {}  # debugged cell's file -> "Cell In[n]"
        # file name -> (may define code, size): the recent cells, then the older defining ones
        self._recent: OrderedDict[str, tuple[bool, int]] = OrderedDict()
        self._defining: OrderedDict[str, int] = OrderedDict()
        self._defining_chars = 0
        #: while the debugger is on, a cell's file name is the path of its file, written if
        #: missing (:mod:`kernel.debug_cells`), so breakpoints set in that file bind
        self.debug_files = False
        #: label -> text of the cells a cell engine ran (pragma cells compile their own code
        #: under the label; the debugger needs the text to name the cell's file)
        self._engine_cells: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()  #: subshells register cells at the same time

    def register(self, source: str, label: str) -> str:
        """Put a cell's source into linecache under a new file name and return that name."""
        with self._lock:
            return self._register(source, label)

    def _register(self, source: str, label: str) -> str:
        serial = self._uses.get(label, 0) + 1
        self._uses[label] = serial
        if self.debug_files:
            filename = _debug_file(source)
            self._debug_labels[filename] = label
        else:
            filename = f"<{label}>" if serial == 1 else f"<{label}#{serial}>"
        lines = source.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        linecache.cache[filename] = (len(source), None, lines, filename)
        self._forget(filename)  # a debugged cell run again has the same file name
        self._recent[filename] = (bool(_DEFINES.search(source)), len(source))
        self._forget_old()
        return filename

    def remember_engine_cell(self, label: str, source: str) -> None:
        """The text of a cell the pragma engine runs (its tasks' code names it by label)."""
        with self._lock:
            self._engine_cells.pop(label, None)
            self._engine_cells[label] = source
            while len(self._engine_cells) > self.max_defining:
                self._engine_cells.popitem(last=False)

    def code_file(self, label: str) -> str:
        """The file name to compile code from cell ``label`` under: the label, or while
        debugging the path of the cell's file (so its breakpoints bind)."""
        source = self._engine_cells.get(label)
        if not self.debug_files or source is None:
            return label
        return _debug_file(source)

    def _forget(self, filename: str) -> None:
        self._recent.pop(filename, None)
        self._defining_chars -= self._defining.pop(filename, 0)

    def label(self, filename: str) -> str | None:
        """The label of a cell file name ("Cell In[3]"), or None for an ordinary file."""
        if filename in self._debug_labels:
            return self._debug_labels[filename]
        named = _CELL_FILE.fullmatch(filename)
        if named is None:
            return None
        label, serial = named["label"], int(named["serial"] or 1)
        return label if 1 <= serial <= self._uses.get(label, 0) else None

    def kept(self) -> list[str]:
        """The file names whose lines are in linecache, oldest first."""
        return [*self._defining, *self._recent]

    def _forget_old(self) -> None:
        """Constant time per cell: the cell leaving the recent ones is kept or dropped, then the
        oldest defining cells go while over a limit."""
        while len(self._recent) > self.recent:
            filename, (defines, size) = self._recent.popitem(last=False)
            if defines:
                self._defining[filename] = size
                self._defining_chars += size
            else:
                linecache.cache.pop(filename, None)
        while self._defining and (len(self._defining) > self.max_defining
                                  or self._defining_chars > self.max_defining_chars):
            filename, size = self._defining.popitem(last=False)
            self._defining_chars -= size
            linecache.cache.pop(filename, None)

    def class_file(self, cls: type) -> str | None:
        """The cell that defined ``cls``: the one its methods were compiled in, else the newest
        kept cell with a ``class`` statement of that qualified name."""
        for value in vars(cls).values():
            function = getattr(value, "__func__", value)  # classmethod, staticmethod
            if isinstance(value, property):
                function = value.fget
            code = getattr(function, "__code__", None)
            if code is not None and self.label(code.co_filename) is not None:
                return code.co_filename
        for filename in reversed(self.kept()):
            if _defines_class(linecache.getlines(filename), cls.__qualname__):
                return filename
        return None


def _debug_file(source: str) -> str:
    from pragma_kernel.kernel import debug_cells

    path = debug_cells.cell_path(source)
    if not os.path.exists(path):
        debug_cells.write_cell(source)
    return path


def _defines_class(lines: list[str], qualname: str) -> bool:
    try:
        tree = ast.parse("".join(lines))
    except SyntaxError:  # a cell with magics: not Python as written
        return False
    return qualname in _class_qualnames(tree.body, "")


def _class_qualnames(body: list[ast.stmt], prefix: str) -> set[str]:
    names: set[str] = set()
    for node in body:
        if isinstance(node, ast.ClassDef):
            name = prefix + node.name
            names.add(name)
            names |= _class_qualnames(node.body, name + ".")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names |= _class_qualnames(node.body, f"{prefix}{node.name}.<locals>.")
    return names


#: the registry of this kernel process
cells = CellSources()


def install_class_lookup() -> None:
    """Make ``inspect.getfile`` (hence ``getsource``, ``getsourcelines``) find the cell of a
    class defined in a cell, where it would say "source code not available"."""
    if getattr(inspect.getfile, "_knows_cells", False):
        return
    original = inspect.getfile

    def getfile(object: Any) -> str:
        try:
            return original(object)
        except OSError:
            if not inspect.isclass(object) or object.__module__ != "__main__":
                raise
            filename = cells.class_file(object)
            if filename is None:
                raise
            return filename

    getfile.__doc__ = original.__doc__
    getfile._knows_cells = True  # type: ignore[attr-defined]
    inspect.getfile = getfile
