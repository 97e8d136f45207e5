"""Cells as files for the debugger: the path of a cell is a hash of its text.

JupyterLab's debugger computes the same path from ``debugInfo`` (``hashMethod`` Murmur2,
``hashSeed``, ``tmpFilePrefix``, ``tmpFileSuffix``) to show a cell's breakpoints before the kernel
is asked, and asks ``dumpCell`` to write the file. While the debugger is on, cells are compiled
under that path, so breakpoints set in the file bind to the code that runs. The scheme is
ipykernel's (its ``compiler.py``); the folder is ``pragma_ipykernel_<pid>``: JupyterLab (4.5 and
later) names a frame, a breakpoint or a source ``Cell [n]`` only when its path contains
``ipykernel_``, and shows any other path as it is.

Pure functions and the file system; no debugpy.
"""

from __future__ import annotations

import os
import tempfile

HASH_SEED = 0xC70F6907  #: the seed JupyterLab is told (``debugInfo.hashSeed``)
SUFFIX = ".py"
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2_x86(text: str, seed: int = HASH_SEED) -> int:
    """MurmurHash2, 32 bits, of the UTF-8 bytes of ``text`` (JupyterLab's ``murmur2`` too)."""
    data = text.encode("utf-8")
    length = len(data)
    h = (seed ^ length) & _MASK
    end = length & ~3
    for i in range(0, end, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        k = int.from_bytes(data[end:], "little")
        h = ((h ^ k) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def cells_directory() -> str:
    """The folder of this kernel process's cell files (one per process, as the hash of a cell
    says nothing of which kernel ran it). Its name holds ``ipykernel_``: JupyterLab's debugger
    panels show a path with it as the cell it is (``Cell [3]``, ``Cell [*]`` while it runs)."""
    return os.path.join(tempfile.gettempdir(), f"pragma_ipykernel_{os.getpid()}")


def cell_path(code: str) -> str:
    """Where the debugger expects the cell ``code``: ``<directory>/<murmur2>.py``."""
    return os.path.join(cells_directory(), f"{murmur2_x86(code)}{SUFFIX}")


def write_cell(code: str) -> str:
    """Write ``code`` to its path (the folder is private to the user) and return the path."""
    path = cell_path(code)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        file.write(code)
    return path
