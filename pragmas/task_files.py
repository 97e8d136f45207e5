"""Files a task reads and writes (``input_files=``, ``output_files=``), the same on every backend.

A pattern is relative to the task's own working directory: a path (``model.sav``), a glob
(``data/*.csv``, ``logs/**/*.txt``: ``*`` and ``?`` stay within a folder, ``**`` spans folders)
or a folder with its whole content (``plots/``; a pattern that names a folder takes its content
too). Absolute paths and ``..`` are refused: a task's files stay inside its folder.

Every task runs in a fresh folder of its own (:class:`TaskFolder`): its declared inputs are
placed there before it starts, by hard link when the file is on this machine and the same
file system (:class:`FileRef` ``location``), else written from the bytes that travelled with it
(``data``); its declared outputs are kept when it ends (linked into the backend's job folder, or
read into bytes that travel to the dependents), and the folder is removed. A pattern of an
input is served by the notebook's folder (a snapshot taken at submission) and by the outputs of
the ancestors that declare matching outputs, the nearest winning for a path
(:func:`select_inputs`). ProActive runs tasks in a folder of its own making (its local space)
and moves the files through its dataspaces: there the folder is used in place.

Imports only the standard library: the task runtime (``pragma_kernel.pragmas.runtime``) uses it
wherever a task runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import PureWindowsPath

_GLOB = re.compile(r"[*?\[]")
#: where a file a task was given comes from: "" for the notebook's folder, else a task's name
NOTEBOOK = ""


class TaskFileError(Exception):
    """A declared input that is missing, an output that was not written, an input changed in
    place: the task's own error (its message names the task and the pattern)."""

    ename = "TaskFileError"


# --- patterns ------------------------------------------------------------------------------


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot name files in a task's working directory, or None."""
    text = pattern.strip()
    if not text:
        return "an empty pattern names no file"
    if text.startswith(("/", "\\", "~")) or PureWindowsPath(text).drive:
        return (f"{pattern!r} is absolute; patterns are relative to the task's working "
                "directory (e.g. data/*.csv)")
    if ".." in re.split(r"[/\\]", text):
        return (f"{pattern!r} leaves the task's working directory ('..'); patterns stay "
                "inside it")
    return None


def normalized(pattern: str) -> str:
    """``./data//x.csv`` -> ``data/x.csv``; a trailing ``/`` (a folder) is kept."""
    text = pattern.strip().replace("\\", "/")
    folder = text.endswith("/")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    return "/".join(parts) + ("/" if folder and parts else "")


def is_literal(pattern: str) -> bool:
    return not _GLOB.search(pattern)


def matches(pattern: str, path: str) -> bool:
    """Whether the file ``path`` (relative, with ``/``) is one ``pattern`` names: the pattern
    matches it, or one of the folders it is in."""
    return _regex(normalized(pattern)).fullmatch(path) is not None


def _regex(pattern: str) -> re.Pattern[str]:
    folder = pattern.endswith("/")
    parts = pattern.rstrip("/").split("/")
    text = ""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            text += ".+" if last else "(?:[^/]+/)*"
        else:
            text += _component(part) + ("" if last else "/")
    text += "/.+" if folder else "(?:/.+)?"
    return re.compile(text)


def _component(part: str) -> str:
    """One path component of a glob: ``*`` and ``?`` do not cross ``/``."""
    out, index = [], 0
    while index < len(part):
        char = part[index]
        close = part.find("]", index + 2) if char == "[" else -1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif close > 0:
            inner = part[index + 1 : close]
            inner = "^" + inner[1:] if inner.startswith("!") else inner
            out.append("[" + inner.replace("\\", "\\\\") + "]")
            index = close
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def may_overlap(first: str, second: str) -> bool:
    """Whether two patterns may name a common file (compared folder by folder; ``**`` and a
    folder pattern reach anything below them). Used before anything runs, when the files do
    not exist yet."""
    a, b = normalized(first).rstrip("/").split("/"), normalized(second).rstrip("/").split("/")
    for x, y in zip(a, b):
        if "**" in (x, y):
            return True
        if not (_component_match(x, y) or _component_match(y, x)):
            return False
    return True  # one is a folder (or the same path) holding the other


def _component_match(pattern: str, name: str) -> bool:
    return re.fullmatch(_component(pattern), name) is not None


def ant_patterns(pattern: str) -> list[str]:
    """The pattern as ProActive's ``includes`` (Ant globs): a folder is ``folder/**``."""
    text = normalized(pattern)
    return [text + "**"] if text.endswith("/") else [text]


# --- files in a folder ------------------------------------------------------------------------


def files_under(root: str, prefix: str = "") -> list[str]:
    """Every file below ``root/prefix`` (relative to ``root``, with ``/``), sorted; folders
    reached through symbolic links are not entered."""
    start = os.path.join(root, prefix) if prefix else root
    if os.path.isfile(start):
        return [prefix]
    found = []
    for folder, dirs, names in os.walk(start):
        dirs.sort()
        relative = os.path.relpath(folder, root)
        for name in names:
            path = name if relative == "." else f"{relative}/{name}"
            found.append(path.replace(os.sep, "/"))
    return sorted(found)


def expand(root: str, pattern: str) -> list[str]:
    """The files below ``root`` that ``pattern`` names."""
    text = normalized(pattern)
    parts = text.rstrip("/").split("/")
    literal = []
    for part in parts:
        if not is_literal(part):
            break
        literal.append(part)
    prefix = "/".join(literal)
    if prefix and not os.path.exists(os.path.join(root, prefix)):
        return []
    return [path for path in files_under(root, prefix) if matches(text, path)]


# --- files travelling between tasks ------------------------------------------------------------


@dataclass(frozen=True)
class FileRef:
    """One file given to or made by a task: where it goes (``path``, relative to the working
    directory) and where its content is: a file on this machine (``location``, linked when it
    can be) or the bytes themselves (``data``, which travel with it)."""

    path: str
    size: int
    location: str | None = None
    data: bytes | None = field(default=None, repr=False, compare=False)
    origin: str = NOTEBOOK  #: the task that wrote it ("": the notebook's folder)

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.location is not None
        with open(self.location, "rb") as file:
            return file.read()

    def with_data(self) -> FileRef:
        """The same file carrying its bytes (to travel off this machine, or be stored)."""
        return self if self.data is not None else replace(self, data=self.read())

    def without_data(self) -> FileRef:
        return replace(self, data=None) if self.data is not None else self


def notebook_files(folder: str, patterns: Iterable[str]) -> tuple[list[FileRef], list[str]]:
    """The files of the notebook's ``folder`` the patterns name, and the patterns naming none."""
    found: dict[str, FileRef] = {}
    unmatched = []
    for pattern in patterns:
        paths = expand(folder, pattern)
        if not paths:
            unmatched.append(pattern)
        for path in paths:
            location = os.path.join(folder, path)
            found[path] = FileRef(path, os.path.getsize(location), location=location)
    return list(found.values()), unmatched


def select_inputs(patterns: Iterable[str], sources: dict[str, tuple[str, ...]],
                  given: Iterable[FileRef],
                  written_by: Callable[[str], Iterable[FileRef]]) -> list[FileRef]:
    """The files a task is given: those of ``given`` (the notebook's, chosen at submission),
    then, for each pattern, the files its ``sources`` (ancestors, nearest first) wrote that it
    names, a nearer ancestor's replacing a farther one's (and the notebook's) of the same path."""
    chosen = {ref.path: ref for ref in given}
    for pattern in patterns:
        for source in reversed(sources.get(pattern, ())):
            for ref in written_by(source):
                if matches(pattern, ref.path):
                    chosen[ref.path] = ref
    return list(chosen.values())


_digests: dict[tuple[str, int, int, int], str] = {}


def file_digest(path: str) -> str:
    """The sha256 of a file's content, remembered while its size and times are unchanged."""
    status = os.stat(path)
    key = (os.path.realpath(path), status.st_size, status.st_mtime_ns, status.st_ino)
    digest = _digests.get(key)
    if digest is None:
        sha = hashlib.sha256()
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                sha.update(block)
        digest = _digests[key] = sha.hexdigest()
    return digest


# --- how many bytes moved --------------------------------------------------------------------


@dataclass
class FileTraffic:
    """What one task's files cost: inputs placed (linked: no byte copied), outputs kept."""

    inputs: int = 0
    input_bytes: int = 0
    copied_bytes: int = 0  #: of the inputs, bytes copied or written (the rest was linked)
    outputs: int = 0
    output_bytes: int = 0

    def add(self, other: FileTraffic) -> None:
        for name in ("inputs", "input_bytes", "copied_bytes", "outputs", "output_bytes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def size_text(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - unreachable


def traffic_text(traffic: FileTraffic) -> str:
    """``files: 2 read (8.0 MB, 4.0 MB copied, the rest linked), 1 written (4.0 MB)``."""
    parts = []
    if traffic.inputs:
        how = ("all linked, none copied" if not traffic.copied_bytes else
               "all copied" if traffic.copied_bytes >= traffic.input_bytes else
               f"{size_text(traffic.copied_bytes)} copied, the rest linked")
        parts.append(f"{traffic.inputs} read ({size_text(traffic.input_bytes)}; {how})")
    if traffic.outputs:
        parts.append(f"{traffic.outputs} written ({size_text(traffic.output_bytes)})")
    return "files: " + ", ".join(parts) if parts else ""


# --- the task's own working directory ----------------------------------------------------------


def place(ref: FileRef, folder: str) -> bool:
    """Put ``ref`` at its path in ``folder``; True when linked (no byte copied)."""
    target = os.path.join(folder, ref.path)
    os.makedirs(os.path.dirname(target) or folder, exist_ok=True)
    if ref.location is not None and ref.data is None:
        try:
            os.link(ref.location, target)
            return True
        except OSError:  # another file system, or links not allowed: a copy
            shutil.copyfile(ref.location, target)
            return False
    with open(target, "wb") as file:
        file.write(ref.read())
    return False


class TaskFolder:
    """One task replica's working directory (see the module docstring).

    ``root``: where to make it (None: the system's temporary folder); ``keep``: "link" (the
    outputs are hard-linked into ``root``'s kept folder, for a backend whose tasks share this
    machine), "data" (read into bytes that travel) or "check" (ProActive: ``in_place``, the
    folder is the current one, and its dataspace moves the files).
    """

    def __init__(self, label: str, root: str | None = None, keep: str = "data",
                 in_place: bool = False):
        self.label, self.root, self.keep, self.in_place = label, root, keep, in_place
        self.path = os.getcwd() if in_place else ""
        self.traffic = FileTraffic()
        self._linked: dict[str, tuple[int, int]] = {}  #: input path -> (size, mtime) placed
        self._given: set[str] = set()

    @contextlib.contextmanager
    def entered(self, inputs: list[FileRef]) -> Iterator[TaskFolder]:
        """Make the folder, place ``inputs``, make it the working directory; on the way out,
        the previous working directory again and the folder removed."""
        if self.in_place:
            yield self
            return
        base = self.root or tempfile.gettempdir()
        os.makedirs(base, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", self.label)
        self.path = tempfile.mkdtemp(prefix=f"{name}-", dir=base)
        previous = os.getcwd()
        try:
            for ref in inputs:
                self._place(ref)
            os.chdir(self.path)
            yield self
        finally:
            with contextlib.suppress(OSError):
                os.chdir(previous)
            shutil.rmtree(self.path, ignore_errors=True)

    def _place(self, ref: FileRef) -> None:
        linked = place(ref, self.path)
        self._given.add(ref.path)
        self.traffic.inputs += 1
        self.traffic.input_bytes += ref.size
        if linked:
            status = os.stat(os.path.join(self.path, ref.path))
            self._linked[ref.path] = (status.st_size, status.st_mtime_ns)
        else:
            self.traffic.copied_bytes += ref.size

    def check_inputs(self, task: str, patterns: Iterable[str],
                     sources: dict[str, tuple[str, ...]]) -> None:
        """Every input pattern names at least one file here, else the task's error."""
        patterns = list(patterns)
        if not patterns:
            return  # (a task declaring no file runs in place: its folder is not walked)
        present = files_under(self.path) if self.in_place else sorted(self._given)
        for pattern in patterns:
            if not any(matches(pattern, path) for path in present):
                origin = sources.get(pattern)
                where = (f"the tasks it reads it from ({', '.join(origin)}) wrote no file it "
                         "names" if origin else "no such file arrived in its working directory")
                raise TaskFileError(f"task {task!r}: input_files pattern {pattern!r} names no "
                                    f"file: {where}")

    def check_unchanged(self, task: str) -> None:
        """A linked input shares its content with its origin: changing it in place would
        change the notebook's file or another task's, so that is the task's error."""
        for path, placed in self._linked.items():
            try:
                status = os.stat(os.path.join(self.path, path))
            except FileNotFoundError:
                continue  # removed or renamed: its origin is intact
            if (status.st_size, status.st_mtime_ns) != placed:
                raise TaskFileError(
                    f"task {task!r} changed its input file {path!r} in place; inputs are hard "
                    "links to the one copy the notebook's folder or another task holds, which "
                    "changed with it. Write your changes to a new file (and declare it in "
                    "output_files)")

    def collect(self, task: str, patterns: Iterable[str]) -> list[FileRef]:
        """The files the output patterns name, kept as ``keep`` says; a pattern naming no
        file is the task's error."""
        found: dict[str, FileRef] = {}
        for pattern in patterns:
            paths = expand(self.path, pattern)
            if not paths:
                raise TaskFileError(
                    f"task {task!r} did not write {pattern!r}, which it declares in "
                    f"output_files (its working directory holds: {self._listing()})")
            for path in paths:
                if path not in found:
                    found[path] = self._keep(task, path)
        self.traffic.outputs = len(found)
        self.traffic.output_bytes = sum(ref.size for ref in found.values())
        return list(found.values())

    def _keep(self, task: str, path: str) -> FileRef:
        source = os.path.join(self.path, path)
        size = os.path.getsize(source)
        if self.keep == "check":
            return FileRef(path, size, location=source, origin=task)
        if self.keep == "data":
            with open(source, "rb") as file:
                return FileRef(path, size, data=file.read(), origin=task)
        kept = os.path.join(self.root or tempfile.gettempdir(), "kept", uuid.uuid4().hex, path)
        os.makedirs(os.path.dirname(kept), exist_ok=True)
        try:
            os.link(source, kept)
        except OSError:
            shutil.copyfile(source, kept)
        return FileRef(path, size, location=kept, origin=task)

    def undeclared(self, patterns: Iterable[str]) -> list[str]:
        """Files the task left in its folder that are neither inputs nor declared outputs
        (removed with the folder)."""
        if self.in_place:
            return []
        patterns = list(patterns)
        return [path for path in files_under(self.path)
                if path not in self._given and not any(matches(p, path) for p in patterns)]

    def _listing(self, shown: int = 8) -> str:
        paths = [p for p in files_under(self.path) if p not in self._given]
        if not paths:
            return "no file but its inputs"
        more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
        return ", ".join(paths[:shown]) + more


# --- after the job: into the notebook's folder ---------------------------------------------------


@dataclass
class Delivered:
    """What pulling files into the notebook's folder did."""

    new: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    bytes: int = 0


def deliver(refs: Iterable[FileRef], folder: str) -> Delivered:
    """Put the files into ``folder`` (later refs of a path win). A file already there with the
    same content is left alone; one with another content is replaced, and said so (the
    caller names it). Each file arrives whole (a temporary name, then a rename)."""
    last = {ref.path: ref for ref in refs}
    done = Delivered()
    for path, ref in last.items():
        target = os.path.join(folder, path)
        existed = os.path.lexists(target)
        if existed and os.path.isfile(target) and _same_content(ref, target):
            done.unchanged.append(path)
            continue
        os.makedirs(os.path.dirname(target) or folder, exist_ok=True)
        temporary = os.path.join(os.path.dirname(target) or folder,
                                 f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.part")
        try:
            place(replace(ref, path=os.path.relpath(temporary, folder)), folder)
            os.replace(temporary, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        (done.replaced if existed else done.new).append(path)
        done.bytes += ref.size
    return done


def _same_content(ref: FileRef, target: str) -> bool:
    if os.path.getsize(target) != ref.size:
        return False
    if ref.location is not None and ref.data is None:
        with contextlib.suppress(OSError):
            if os.path.samefile(ref.location, target):
                return True
        return file_digest(ref.location) == file_digest(target)
    return hashlib.sha256(ref.read()).hexdigest() == file_digest(target)
