"""Task results on disk, by key (``pragma_kernel.pragmas.task_keys``): reuse across runs and
kernel restarts.

Where: ``$PRAGMA_KERNEL_RESULTS``, else ``pragma-kernel/results`` under Jupyter's data folder
(``jupyter --data-dir``). How much: ``$PRAGMA_KERNEL_RESULTS_SIZE`` (``500MB``, ``4GB``, bytes),
2 GB by default; past it the least recently used entries go. One entry holds at most a quarter
of that; a bigger one, or one whose values cannot be pickled, is not stored.

Layout, every folder 0700 and file 0600 (they hold the user's data)::

    entries/ab/<key>.result   a JSON header line (origin, key components, payload hash), then
                              the cloudpickled exports, result, variables and outputs
    latest/<hash>.json        per job and task: the key of its last stored result, to say what
                              changed since

Files are written to a temporary name and renamed (``os.replace``), so a reader sees a whole
entry or none, also when several kernels share the folder; an entry that cannot be read or
whose payload does not match its hash is a miss (logged) and is removed. Reading an entry marks
it used (its modification time), which is what eviction goes by.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cloudpickle
from pragma_kernel.pragmas.backends.base import TaskResult, TaskState
from pragma_kernel.pragmas.task_keys import TaskKey

FOLDER_VARIABLE = "PRAGMA_KERNEL_RESULTS"
SIZE_VARIABLE = "PRAGMA_KERNEL_RESULTS_SIZE"
DEFAULT_SIZE = 2 * 1024**3
FORMAT = 1
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Origin:
    """The run a stored result comes from."""

    job: str
    run: str  #: the job's id in the kernel that ran it
    task: str
    finished: float  #: seconds since the epoch

    def text(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.finished))
        return f"job {self.job} run {self.run} at {when}"


@dataclass
class StoredResult:
    origin: Origin
    result: TaskResult


def default_folder() -> Path:
    configured = os.environ.get(FOLDER_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "pragma-kernel" / "results"


def parse_size(text: str) -> int:
    """``2GB``, ``500 MB``, ``1.5g``, ``1048576`` -> bytes (units of 1024). ValueError else."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if match is None:
        raise ValueError(f"{text!r} is not a size such as 500MB or 2GB")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def default_size() -> int:
    configured = os.environ.get(SIZE_VARIABLE)
    if not configured:
        return DEFAULT_SIZE
    try:
        return parse_size(configured)
    except ValueError as error:
        log.warning("%s: %s; the result store keeps its default size", SIZE_VARIABLE, error)
        return DEFAULT_SIZE


class ResultStore:
    """Results by key in a folder, at most ``max_bytes`` of them."""

    def __init__(self, folder: str | Path | None = None, max_bytes: int | None = None):
        self.folder = Path(folder) if folder is not None else default_folder()
        self.max_bytes = default_size() if max_bytes is None else max_bytes

    @property
    def entry_limit(self) -> int:
        """The largest entry kept: a quarter of the store."""
        return self.max_bytes // 4

    # --- reading ----------------------------------------------------------------------------

    def origin(self, key: str) -> Origin | None:
        """Where the stored result of ``key`` comes from; None when there is none. Does not
        count as a use."""
        header = self._header(self._entry(key))
        return None if header is None else Origin(**header["origin"])

    def get(self, key: str) -> StoredResult | None:
        """The stored result of ``key`` (a done TaskResult with plain values), or None."""
        path = self._entry(key)
        try:
            with open(path, "rb") as file:
                header = json.loads(file.readline())
                payload = file.read()
            if hashlib.sha256(payload).hexdigest() != header["sha256"]:
                raise ValueError("its contents do not match their hash (a damaged file)")
            values = cloudpickle.loads(payload)
        except FileNotFoundError:
            return None
        except Exception as error:  # noqa: BLE001 - any unreadable entry is a miss, said
            self._discard(path, error)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: the last to be evicted
        origin = Origin(**header["origin"])
        result = TaskResult(origin.task, state=TaskState.DONE, **values)
        result.started = result.finished = origin.finished
        return StoredResult(origin, result)

    def latest(self, job: str, task: str) -> TaskKey | None:
        """The key of the last result stored for this task of this job (to explain a miss)."""
        try:
            data = json.loads(self._latest(job, task).read_text())
            return TaskKey.from_json(data["key"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("result store: cannot read %s: %s", self._latest(job, task), error)
            return None

    # --- writing ----------------------------------------------------------------------------

    def put(self, key: TaskKey, result: TaskResult, origin: Origin) -> str | None:
        """Store a done task's values under its key; None when stored, else why not."""
        values = {  # a backend's lazy exports are read here (LookupError: they are gone)
            "exports": dict(result.exports.items()), "result": result.result,
            "variables": dict(result.variables), "outputs": list(result.outputs),
        }
        try:  # output files are kept with their content, to be placed again when reused
            values["files"] = [ref.with_data() for ref in result.files]
        except (OSError, AssertionError) as error:
            return f"its output files cannot be read here ({error})"
        try:
            payload = cloudpickle.dumps(values, protocol=5)
        except Exception as error:  # noqa: BLE001 - the user's values: said, never raised
            return f"its values cannot be pickled ({type(error).__name__}: {error})"
        if len(payload) > self.entry_limit:
            return (f"its values take {len(payload) / 1e6:.1f} MB, more than an entry may "
                    f"({self.entry_limit / 1e6:.0f} MB, a quarter of the store's size)")
        header = {"format": FORMAT, "origin": asdict(origin), "key": key.to_json(),
                  "sha256": hashlib.sha256(payload).hexdigest()}
        path = self._entry(key.key)
        self._write(path, json.dumps(header).encode() + b"\n" + payload)
        self._write(self._latest(origin.job, origin.task),
                    json.dumps({"key": key.to_json(), "origin": asdict(origin)}).encode())
        self.evict(keep=path)
        return None

    def evict(self, keep: Path | None = None) -> int:
        """Remove the least recently used entries until the store fits; the count removed."""
        entries = []
        for path in self._entries():
            with contextlib.suppress(OSError):  # another kernel may remove it meanwhile
                stat = path.stat()
                entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, path in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
            total -= size
        return removed

    def remove(self, job: str | None = None, tasks: set[str] | None = None) -> int:
        """Remove the entries of ``tasks`` of ``job`` (None: every task; every job); the
        count of entries removed."""
        removed = 0
        for path in self._entries():
            if job is not None or tasks is not None:
                header = self._header(path)
                origin = header["origin"] if header else {}
                if job is not None and origin.get("job") != job:
                    continue
                if tasks is not None and origin.get("task") not in tasks:
                    continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        if job is None and tasks is None:
            for pointer in (self.folder / "latest").glob("*.json"):
                with contextlib.suppress(FileNotFoundError):
                    pointer.unlink()
        return removed

    def size(self) -> int:
        total = 0
        for path in self._entries():
            with contextlib.suppress(OSError):
                total += path.stat().st_size
        return total

    # --- files ------------------------------------------------------------------------------

    def _entry(self, key: str) -> Path:
        return self.folder / "entries" / key[:2] / f"{key}.result"

    def _latest(self, job: str, task: str) -> Path:
        name = hashlib.sha256(f"{job}\0{task}".encode()).hexdigest()[:32]
        return self.folder / "latest" / f"{name}.json"

    def _entries(self) -> Iterator[Path]:
        root = self.folder / "entries"
        if not root.is_dir():
            return
        for shard in root.iterdir():
            if shard.is_dir():
                yield from shard.glob("*.result")

    def _header(self, path: Path) -> dict[str, Any] | None:
        try:
            with open(path, "rb") as file:
                header = json.loads(file.readline())
            if header.get("format") != FORMAT:
                raise ValueError(f"format {header.get('format')!r}, not {FORMAT}")
            return header
        except FileNotFoundError:
            return None
        except (OSError, ValueError, AttributeError) as error:
            self._discard(path, error)
            return None

    def _discard(self, path: Path, error: BaseException) -> None:
        log.warning("result store: %s cannot be read (%s: %s); it counts as missing and is "
                    "removed", path, type(error).__name__, error)
        with contextlib.suppress(OSError):
            path.unlink()

    def _write(self, path: Path, data: bytes) -> None:
        """Whole or not at all: a private temporary file beside it, then renamed."""
        self._private_folders(path.parent)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def _private_folders(self, folder: Path) -> None:
        """``folder`` and those between it and the store's, 0700."""
        chain = [folder, *[p for p in folder.parents if self.folder in (p, *p.parents)]]
        for path in reversed(chain):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            if path.stat().st_mode & 0o077:
                path.chmod(0o700)
