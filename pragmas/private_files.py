"""Files the pragmas write that hold what the user typed (task code, names, data): readable by
their owner only (0600), like the kernel's history; an existing file is tightened too."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` with mode 0600; return the path."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        if hasattr(os, "fchmod"):
            os.fchmod(file.fileno(), 0o600)  # it may have existed with a wider mode
        file.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path
