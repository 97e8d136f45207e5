"""Cell sources kept in :mod:`linecache`, with bounded memory.

A cell is compiled under a synthetic file name whose text must be in ``linecache`` for its
tracebacks to quote it, and for ``inspect.getsource`` of what it defined. Kept forever, every
execute would add its text to the kernel (a frontend that polls grows it without end). Kept
here, as IPython's compiler thinks of it:

- cells that define functions, classes or lambdas (their code outlives the run and may raise,
  or be inspected, much later): the ``defining`` most recently used;
- every other cell: the ``recent`` last ones (a traceback is formatted while its cell runs);
- and never more than ``max_chars`` characters in all, the least recently used going first.

Use: ``CELL_SOURCES.remember(filename, source, label)`` where a cell is compiled, and
``CELL_SOURCES.label(filename)`` where a traceback names it (which also marks it used).
"""

from __future__ import annotations

import linecache
import re
import threading
from collections import OrderedDict

#: a def, class or lambda anywhere in the text (a false hit only keeps a cell longer)
_DEFINES = re.compile(r"\b(?:def|class|lambda)\b")


class CellSources:
    """The cells whose text ``linecache`` holds, bounded by count and by size."""

    def __init__(self, recent: int = 100, defining: int = 5000, max_chars: int = 64_000_000):
        self.recent, self.defining, self.max_chars = recent, defining, max_chars
        self._plain: OrderedDict[str, int] = OrderedDict()  #: file name -> its size
        self._defining: OrderedDict[str, int] = OrderedDict()
        self._labels: dict[str, str] = {}  #: file name -> how tracebacks name it
        self._chars = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._plain) + len(self._defining)

    def remember(self, filename: str, source: str, label: str | None = None) -> None:
        """Put ``source`` in linecache under ``filename`` (replacing what it held)."""
        lines = source.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        with self._lock:
            self._forget(filename)
            linecache.cache[filename] = (len(source), None, lines, filename)
            kept = self._defining if _DEFINES.search(source) else self._plain
            kept[filename] = len(source)
            self._chars += len(source)
            if label is not None:
                self._labels[filename] = label
            self._evict(keep=filename)

    def label(self, filename: str) -> str | None:
        """The label of a remembered cell (None for any other file); marks it used."""
        with self._lock:
            for kept in (self._defining, self._plain):
                if filename in kept:
                    kept.move_to_end(filename)
            return self._labels.get(filename)

    def _evict(self, keep: str) -> None:
        """Drop the oldest cells over the bounds, never ``keep`` (the cell being run)."""
        while len(self._plain) > self.recent:
            self._forget(next(iter(self._plain)))
        while len(self._defining) > self.defining:
            self._forget(next(iter(self._defining)))
        while self._chars > self.max_chars:
            oldest = next((f for kept in (self._plain, self._defining) for f in kept
                           if f != keep), None)
            if oldest is None:
                return
            self._forget(oldest)

    def _forget(self, filename: str) -> None:
        for kept in (self._plain, self._defining):
            size = kept.pop(filename, None)
            if size is not None:
                self._chars -= size
                entry = linecache.cache.get(filename)
                if entry is not None and entry[1] is None:  # ours, not a real file's
                    del linecache.cache[filename]
        self._labels.pop(filename, None)


#: the kernel's cells (tracebacks, inspection)
CELL_SOURCES = CellSources()
