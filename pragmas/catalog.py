"""The job catalog: saved versions of jobs, in a folder, one TOML file per version.

Layout: ``<catalog>/<job>/v<N>.toml`` (``pragma_kernel.pragmas.job_file`` writes and reads one
file), ``v<N>.xml`` beside it when the version was saved with its ProActive workflow. A job's
folder name is its name with every character other than letters, digits, ``_``, ``-`` and a
non-leading ``.`` percent-encoded, so two names never share a folder, except on a file system
that ignores case (``Train`` and ``train``): that clash is detected and refused.

A version is never overwritten: it is written to a temporary file in the job's folder, then
linked to its final name, which fails if another kernel took that number meanwhile (the next
number is tried). Where the file system cannot link, ``os.replace`` after a check. Either way
a reader sees a whole file or none. The default catalog is ``.pragma-catalog`` in the working
directory, which Jupyter, nbclient and papermill set to the notebook's folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote

from pragma_kernel.pragmas.errors import PragmaError
from pragma_kernel.pragmas.job_file import (
    CatalogFileError,
    JobFile,
    VersionHeader,
    parse_job_file,
    read_job_file,
    render_file,
)
from pragma_kernel.pragmas.model import Job

DEFAULT_FOLDER = ".pragma-catalog"
_VERSION_FILE = re.compile(r"v([1-9][0-9]{0,8})\.toml")
_KEPT = re.compile(r"[A-Za-z0-9_-]")


class NoSuchSavedJobError(PragmaError):
    """The catalog has no job, or no version, of that name or number."""


class NameClashError(PragmaError):
    """Two jobs would share one place in the catalog, or one job would silently become a
    version of another."""


def folder_name(name: str) -> str:
    """The job's folder: its name, percent-encoded beyond ``[A-Za-z0-9_-]`` and inner dots."""
    return "".join(
        c if _KEPT.match(c) or (c == "." and i > 0)
        else "".join(f"%{b:02X}" for b in c.encode("utf-8"))
        for i, c in enumerate(name)
    )  # fmt: skip


@dataclass
class SavedJob:
    """One job of the catalog for a listing: its versions and its newest readable one."""

    name: str
    versions: list[int]
    latest: JobFile | None  #: None when no version can be read
    problem: str | None = None  #: why the newest version cannot be read


class FolderCatalog:
    """The catalog in one folder (created at the first save)."""

    def __init__(self, root: Path):
        self.root = root

    def describe(self) -> str:
        return f"the folder {self.root}"

    def job_folder(self, name: str) -> Path:
        if not name:
            raise NoSuchSavedJobError("a job's name cannot be empty")
        return self.root / folder_name(name)

    def version_path(self, name: str, version: int) -> Path:
        return self.job_folder(name) / f"v{version}.toml"

    def versions(self, name: str) -> list[int]:
        return _versions_in(self.job_folder(name))

    def jobs(self) -> list[SavedJob]:
        if not self.root.is_dir():
            return []
        found = []
        for folder in sorted(self.root.iterdir(), key=lambda p: unquote(p.name).lower()):
            versions = _versions_in(folder)
            if not folder.is_dir() or not versions:
                continue
            found.append(self._summary(unquote(folder.name), folder, versions))
        return found

    @staticmethod
    def _summary(name: str, folder: Path, versions: list[int]) -> SavedJob:
        try:
            latest = read_job_file(folder / f"v{versions[-1]}.toml")
        except CatalogFileError as error:
            return SavedJob(name, versions, None, error.problem)
        return SavedJob(latest.header.name, versions, latest)

    def read(self, name: str, version: int | None = None) -> JobFile:
        """A version (the newest by default), checked: a wrong file is a CatalogFileError."""
        versions = self.versions(name)
        if not versions:
            raise NoSuchSavedJobError(self._unknown_job(name))
        if version is None:
            version = versions[-1]
        elif version not in versions:
            raise NoSuchSavedJobError(
                f"job '{name}' has no version {version} in {self.describe()} (its versions: "
                f"{_numbers(versions)})")
        path = self.version_path(name, version)
        saved = read_job_file(path)
        if saved.header.name != name:
            if saved.header.name.lower() == name.lower():
                raise _case_clash(saved.header.name, name)
            raise CatalogFileError(path, f"it says it is job '{saved.header.name}', but it is in "
                                         f"the folder of job '{name}'")
        if saved.header.version != version:
            raise CatalogFileError(path, f"it says it is version {saved.header.version}, but its "
                                         f"file name says {version}")
        return saved

    def _unknown_job(self, name: str) -> str:
        from pragma_kernel.pragmas.parser import closest

        names = [job.name for job in self.jobs()]
        hint = closest(name, names)
        known = (f" Did you mean '{hint}'?" if hint else
                 f" Its jobs: {', '.join(names)}." if names else " It is empty.")  # fmt: skip
        return f"there is no job '{name}' in {self.describe()}.{known}"

    def commit(self, job: Job, name: str, message: str, kernel_version: str = "") -> JobFile:
        """Save ``job`` as the next version of ``name``; never overwrites one."""
        folder = self.job_folder(name)
        existing = _versions_in(folder)
        if existing:
            self._check_same_name(name, folder, existing)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.mkdir(exist_ok=True, mode=0o700)
        version = (existing[-1] if existing else 0) + 1
        saved = datetime.now(timezone.utc).isoformat(timespec="seconds")
        while True:
            header = VersionHeader(name, version, message, saved, kernel_version)
            text = render_file(header, job)
            path = folder / f"v{version}.toml"
            if _write_new(folder, path, text):
                return parse_job_file(path, text)
            version += 1  # another kernel saved this number meanwhile

    @staticmethod
    def _check_same_name(name: str, folder: Path, versions: list[int]) -> None:
        """On a file system that ignores case, ``train`` finds the folder of ``Train``."""
        for version in reversed(versions):
            try:
                header = read_job_file(folder / f"v{version}.toml").header
            except CatalogFileError:
                continue
            if header.name != name:
                raise _case_clash(header.name, name)
            return

    def delete(self, name: str, version: int | None) -> list[int]:
        """Remove one version, or every version (None); return the numbers removed."""
        versions = self.versions(name)
        if not versions:
            raise NoSuchSavedJobError(self._unknown_job(name))
        if version is not None and version not in versions:
            raise NoSuchSavedJobError(f"job '{name}' has no version {version} in "
                                      f"{self.describe()} (its versions: {_numbers(versions)})")
        removed = versions if version is None else [version]
        folder = self.job_folder(name)
        for number in removed:
            (folder / f"v{number}.toml").unlink()
            with contextlib.suppress(FileNotFoundError):
                (folder / f"v{number}.xml").unlink()
        if not _versions_in(folder):
            with contextlib.suppress(OSError):  # other files of the user's stay, and the folder
                folder.rmdir()
        return removed


def _case_clash(saved: str, asked: str) -> NameClashError:
    return NameClashError(
        f"the catalog's job '{saved}' and the name '{asked}' share one folder (this file system "
        f"ignores case): use '{saved}' itself, or another name")


def _versions_in(folder: Path) -> list[int]:
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(int(m.group(1)) for m in map(_VERSION_FILE.fullmatch, names) if m)


def _numbers(versions: list[int]) -> str:
    return ", ".join(str(v) for v in versions)


def _write_new(folder: Path, path: Path, text: str) -> bool:
    """Write ``path`` whole, only if it does not exist; False if it does."""
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:  # mkstemp's mode is 0600
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)  # atomic, and fails rather than replace
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links
            if path.exists():
                return False
            os.replace(temporary, path)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def write_beside(path: Path, text: str) -> Path:
    """Write a companion file of a version (its workflow XML) whole: temporary file, then
    ``os.replace``."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return path


@dataclass
class CatalogState:
    """Per kernel: which catalog, and which saved version the job being written came from."""

    folder: Path | None = None  #: ``#%catalog(path=...)``; None: the default in the cwd
    #: the version the current job was loaded from or last saved as (None: neither)
    origin: JobFile | None = None

    def catalog(self) -> FolderCatalog:
        return FolderCatalog(self.folder or Path.cwd() / DEFAULT_FOLDER)
