"""What the kernel keeps and shows of each task's output, however loud the task.

A backend hands every output of a job's replicas to :class:`JobOutput`, which records it in
the task's ``TaskResult.outputs`` and tells the listener (the cell's display) what to show.
Up to the replica's :class:`~pragmas.model.OutputLimit` (by default 10,000 lines or 5,000,000
characters) the text is shown as it comes: the head. Beyond it the text goes to the replica's
log file, and the cell gets one line saying so; when the replica ends, the cell gets one line
saying how much was left out and where all of it is, then the last tenth of the limit (1,000
lines by default): the tail. Displays (pictures, tables) are always shown.

Nothing is lost: once the limit is crossed the log file holds the replica's whole text (the head
is written first), and ``TaskResult.outputs`` keeps the head, the tail and, in place of each
batch left out, an ``Output(kind="omitted")`` whose metadata names its place in the log
(``log``, ``start``, ``length`` in bytes), which ``#%print_task_output`` reads back. The kernel's
memory holds at most the head and the tail of each replica, whatever the task prints; no text
is copied more than once.

Log files: ``<Jupyter data dir>/pragma-kernel/task-logs/<date>-<time>-<job>-<pid>-<job
id>/<replica>.log`` (``jupyter --data-dir``; ``JUPYTER_DATA_DIR`` moves it), made only for
replicas that cross their limit; folders 0700, files 0600, since they hold the user's output.
Job folders older than ``KEEP_DAYS`` are removed when a new one is made.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from pragma_kernel.pragmas.backends.base import Output, TaskEvent
from pragma_kernel.pragmas.model import OutputLimit

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pragma_kernel.pragmas.backends.base import JobRun

TAIL_SHARE = 10  #: the tail is this fraction of the limit
KEEP_DAYS = 7  #: job log folders older than this are removed when a new one is made
OMITTED = "omitted"  #: ``Output.kind`` of a batch left out of the cell (its text is in the log)


def logs_root() -> Path:
    """Where the task log folders are (under Jupyter's data dir, like the history)."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "pragma-kernel" / "task-logs"


class JobOutput:
    """The outputs of one job run's replicas as they arrive, recorded and shown within their
    limits. Not thread-safe: each backend calls it from one thread at a time."""

    def __init__(self, run: JobRun, notify: Callable[[TaskEvent], None]):
        self.run = run
        self.notify = notify
        self._replicas: dict[tuple[str, int | None], ReplicaOutput] = {}
        self._folder: Path | None = None

    def add(self, task: str, replica: int | None, output: Output) -> None:
        """Record an output of a replica; the cell shows it unless over the limit."""
        record = self._replicas.get((task, replica))
        if record is None:
            record = self._replicas[(task, replica)] = ReplicaOutput(
                task, replica, self._limit(task), self.run.results[task].outputs,
                self._log_path, self.run.job_id)
        self._show(task, replica, record.add(output))

    def end(self, task: str, replica: int | None) -> None:
        """The replica ran for the last time: the cell gets what was held back (the tail)."""
        record = self._replicas.pop((task, replica), None)
        if record is not None:
            self._show(task, replica, record.close())

    def end_task(self, task: str) -> None:
        """Every replica of the task ran for the last time."""
        for name, replica in list(self._replicas):
            if name == task:
                self.end(name, replica)

    def end_all(self) -> None:
        for task, replica in list(self._replicas):
            self.end(task, replica)

    def _show(self, task: str, replica: int | None, outputs: list[Output]) -> None:
        for output in outputs:
            self.notify(TaskEvent(task, "output", output=output, replica=replica))

    def _limit(self, task: str) -> OutputLimit:
        plan = self.run.plan
        return plan.tasks[task].task.output_limit or plan.job.output_limit or OutputLimit()

    def _log_path(self, label: str) -> Path:
        if self._folder is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name = _safe(f"{stamp}-{self.run.name}-{os.getpid()}-{self.run.job_id}")
            self._folder = _private_folder(name)
        return self._folder / f"{_safe(label)}.log"


@dataclass
class _Held:
    """A batch of text over the limit, written to the log and kept in memory while it may be
    part of the tail."""

    output: Output  #: in the task's outputs; becomes an OMITTED one when it leaves the tail
    start: int  #: its place in the log, in bytes
    length: int
    lines: int
    chars: int


class ReplicaOutput:
    """One replica's output: the head shown, the rest in the log, the tail held back."""

    def __init__(self, task: str, replica: int | None, limit: OutputLimit,
                 outputs: list[Output], log_path: Callable[[str], Path], job_id: str):
        self.task = task
        self.label = task if replica is None else f"{task}[{replica}]"
        self.limit = limit
        self.outputs = outputs  #: the task's (shared by its replicas)
        self._log_path = log_path
        self._job_id = job_id
        self._head: list[Output] = []  #: this replica's text shown, until the log is opened
        self._head_lines = self._head_chars = 0
        self.path: Path | None = None
        self._log: IO[bytes] | None = None
        self._size = 0  #: bytes written to the log
        self._tail: deque[_Held] = deque()
        self._tail_lines = self._tail_chars = 0
        self.left_lines = self.left_bytes = 0  #: what the cell did not show
        self._unlimited = limit.lines is None  #: also when the log cannot be written

    # -- arriving ------------------------------------------------------------------------------
    def add(self, output: Output) -> list[Output]:
        """Record ``output``; return what the cell shows of it now."""
        if output.kind != "stream" or self._unlimited:
            self.outputs.append(output)
            return [output]
        if self.path is not None:
            try:
                self._hold(output.name, output.text)
            except OSError as error:
                return self._without_log(error, output)
            return []
        head, rest = self._split_head(output.text)
        shown = []
        if head:
            kept = Output("stream", name=output.name, text=head)
            self.outputs.append(kept)
            self._head.append(kept)
            self._head_lines += head.count("\n")
            self._head_chars += len(head)
            shown.append(kept)
        if rest:
            rest_output = Output("stream", name=output.name, text=rest)
            try:
                self._open_log()
                self._hold(output.name, rest)
            except OSError as error:
                return shown + self._without_log(error, rest_output)
            shown.append(self._notice(self._over_text()))
        return shown

    def _without_log(self, error: OSError, output: Output) -> list[Output]:
        """The log cannot be written: the cell shows the rest after all (and what it held
        back), rather than lose it."""
        self._unlimited = True
        if self._log is not None:
            with contextlib.suppress(OSError):  # the error that matters is said in the cell
                self._log.close()
            self._log = None
        held = [h.output for h in self._tail if h.output.kind == "stream"]
        self._tail.clear()
        self.outputs.append(output)
        notice = self._notice(f"the output limit no longer applies: its log cannot be written "
                              f"({error}); the rest is shown here")
        return [*held, notice, output]

    def _split_head(self, text: str) -> tuple[str, str]:
        """The part of ``text`` that still fits in the head (whole lines), and the rest."""
        room_lines = self.limit.lines - self._head_lines  # type: ignore[operator]
        room_chars = self.limit.chars - self._head_chars  # type: ignore[operator]
        if len(text) <= room_chars and text.count("\n") <= room_lines:
            return text, ""
        cut = 0
        for _ in range(max(room_lines, 0)):
            found = text.find("\n", cut, max(room_chars, 0))
            if found < 0:
                break
            cut = found + 1
        if cut == 0 and self._head_chars == 0:
            cut = min(len(text), room_chars)  # a first line longer than the whole limit
        return text[:cut], text[cut:]

    def _open_log(self) -> None:
        """The limit is crossed: the log starts with the head, from the first line."""
        self.path = self._log_path(self.label)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._log = os.fdopen(descriptor, "ab")
        self._size = os.fstat(descriptor).st_size  # a loop's next round appends
        for output in self._head:
            self._write(output.text)
        self._head = []

    def _write(self, text: str) -> tuple[int, int]:
        assert self._log is not None
        data = text.encode("utf-8", errors="surrogatepass")
        start = self._size
        self._log.write(data)
        self._log.flush()  # readable by the user (and #%print_task_output) as it runs
        self._size += len(data)
        return start, len(data)

    def _hold(self, name: str, text: str) -> None:
        start, length = self._write(text)
        held = _Held(Output("stream", name=name, text=text), start, length, text.count("\n"),
                     len(text))
        self.outputs.append(held.output)
        self._tail.append(held)
        self._tail_lines += held.lines
        self._tail_chars += held.chars
        tail_lines, tail_chars = self._tail_limits()
        while len(self._tail) > 1:  # the rest still holds the whole tail: the first is out
            first = self._tail[0]
            if self._tail_lines - first.lines < tail_lines and (
                    self._tail_chars - first.chars < tail_chars):
                break
            self._tail.popleft()
            self._tail_lines -= first.lines
            self._tail_chars -= first.chars
            self._leave_out(first.output, first.start, first.length, first.lines)

    def _leave_out(self, output: Output, start: int, length: int, lines: int) -> None:
        output.kind, output.text = OMITTED, ""
        output.metadata = {"log": str(self.path), "start": start, "length": length}
        self.left_lines += lines
        self.left_bytes += length

    def _tail_limits(self) -> tuple[int, int]:
        lines, chars = self.limit.lines or 0, self.limit.chars or 0
        return max(lines // TAIL_SHARE, 1), max(chars // TAIL_SHARE, 1)

    # -- the end ----------------------------------------------------------------------------
    def close(self) -> list[Output]:
        """The replica is over: return what the cell shows now (the tail, after one line
        saying what was left out), and close the log."""
        if self.path is None:
            return []
        if self._log is not None:
            self._cut_tail()
            self._log.close()
            self._log = None
        shown = [held.output for held in self._tail if held.output.kind == "stream"]
        if self.left_lines or self.left_bytes:
            shown.insert(0, self._notice(self._left_out_text()))
        self._tail.clear()
        return shown

    def _cut_tail(self) -> None:
        """Leave out the start of the tail's first batch, beyond the tail's lines or chars."""
        if not self._tail:
            return
        first = self._tail[0]
        tail_lines, tail_chars = self._tail_limits()
        text = first.output.text
        cut = 0
        for _ in range(max(self._tail_lines - tail_lines, 0)):
            cut = text.index("\n", cut) + 1
        keep_chars = tail_chars - (self._tail_chars - first.chars)
        if len(text) - cut > keep_chars:
            start = len(text) - max(keep_chars, 0)
            newline = text.find("\n", start - 1) if start > 0 else -1
            cut = newline + 1 if 0 <= newline < len(text) - 1 else start
        if cut == 0:
            return
        dropped = text[:cut].encode("utf-8", errors="surrogatepass")
        kept = Output("stream", name=first.output.name, text=text[cut:])
        index = next(i for i, o in enumerate(self.outputs) if o is first.output)
        self._leave_out(first.output, first.start, len(dropped), text.count("\n", 0, cut))
        if kept.text:
            self.outputs.insert(index + 1, kept)
            self._tail[0] = _Held(kept, first.start + len(dropped), first.length - len(dropped),
                                  kept.text.count("\n"), len(kept.text))
        else:
            self._tail.popleft()

    # -- what the cell is told ----------------------------------------------------------------
    def _notice(self, text: str) -> Output:
        return Output("stream", name="stdout", text=f"… {text}\n")

    def _over_text(self) -> str:
        tail_lines, _ = self._tail_limits()
        return (f"output limit reached ({self.limit.lines:,} lines or {_size(self.limit.chars)})"
                f": the rest goes to {self.path}; its last {tail_lines:,} lines show here when "
                "the task ends")

    def _left_out_text(self) -> str:
        return (f"{self.left_lines:,} lines ({_size(self.left_bytes)}) left out here; all of it:"
                f" #%print_task_output(task_name={self.task}, job_id={self._job_id}) or {self.path}")


def _size(count: int | None) -> str:
    count = count or 0
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f} MB"
    return f"{count / 1000:.1f} kB" if count >= 1000 else f"{count} bytes"


def _safe(name: str) -> str:
    """A file name from a job or task name (spaces, slashes and the like become _)."""
    return re.sub(r"[^\w.\[\]-]", "_", name)[:120]


def _private_folder(name: str) -> Path:
    """A new folder for one job's logs, 0700 in 0700 folders; old ones are removed."""
    root = logs_root()
    for folder in (root.parent, root):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if folder.stat().st_mode & 0o077:
            folder.chmod(0o700)
    _remove_old(root)
    for attempt in range(1, 1000):
        path = root / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue  # another job of the same name and id in the same second
        return path
    raise FileExistsError(f"no free folder name for {name} in {root}")


def _remove_old(root: Path) -> None:
    limit = time.time() - KEEP_DAYS * 86400
    for folder in root.iterdir():
        try:
            if folder.is_dir() and folder.stat().st_mtime < limit:
                shutil.rmtree(folder)
        except OSError:
            continue  # removed meanwhile by another kernel, or not ours to remove


def read_omitted(output: Output, chunk: int = 1 << 20) -> Iterator[str]:
    """The text of an OMITTED output read back from its log, in pieces of whole lines (a
    newline byte is never inside a UTF-8 character); ``OSError`` when the log is gone."""
    metadata = output.metadata
    with open(metadata["log"], "rb") as log:
        log.seek(metadata["start"])
        left = metadata["length"]
        pending = b""
        while left > 0:
            data = log.read(min(chunk, left))
            if not data:
                raise OSError(f"{metadata['log']} is shorter than it was")
            left -= len(data)
            data = pending + data
            cut = data.rfind(b"\n") + 1
            data, pending = data[:cut], data[cut:]
            if data:
                yield data.decode("utf-8", errors="surrogatepass")
        if pending:
            yield pending.decode("utf-8", errors="surrogatepass")
