"""sys.stdout / sys.stderr replacements: writes are batched into ``stream`` messages on IOPub.

Text is coalesced and published at most every ``FLUSH_INTERVAL`` seconds (Jupyter Server drops
IOPub above 1000 messages/s), and immediately before every reply, display, input request and
idle, so output always precedes the idle that ends its request. Each batch goes to the cell that
wrote it: when the writer's cell changes, the previous cell's text is flushed first.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pragma_kernel.kernel.context import CellContext
    from pragma_kernel.kernel.publisher import IOPubPublisher

FLUSH_INTERVAL = 0.05  #: seconds between two stream messages of a busy writer
MAX_BATCH_CHARS = 256 * 1024  #: a batch this large is published at once (bounded memory)


class OutStream(io.TextIOBase):
    """A text stream whose writes become ``stream`` messages named ``name`` (stdout/stderr)."""

    def __init__(
        self,
        name: str,
        publisher: IOPubPublisher,
        context_of_writer: Callable[[], CellContext | None],
        original: io.TextIOBase | None = None,
    ):
        super().__init__()
        self.name = name
        self._publisher = publisher
        self._context_of_writer = context_of_writer
        self._original = original
        self._lock = threading.RLock()
        self._chunks: list[str] = []
        self._size = 0
        self._context: CellContext | None = None
        #: the other stream (stdout <-> stderr): its pending text goes out first, so the two
        #: interleave in the order they were written
        self.sibling: OutStream | None = None

    # The attributes libraries probe on sys.stdout.
    encoding = "utf-8"
    errors = "strict"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        """The real descriptor, for code that hands it to a subprocess (its output bypasses us)."""
        if self._original is None:
            raise io.UnsupportedOperation("fileno")
        return self._original.fileno()

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.write_for(self._context_of_writer(), text)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def write_for(self, context: CellContext | None, text: str) -> None:
        """Append ``text`` to the output of ``context``'s cell (None/silent: dropped)."""
        if not text or context is None or context.silent:
            return
        if self.sibling is not None and self.sibling._chunks:
            self.sibling.flush()
        with self._lock:
            if self._context is not None and self._context is not context:
                self._flush_locked()
            self._context = context
            self._chunks.append(text)
            self._size += len(text)
            if self._size >= MAX_BATCH_CHARS:
                self._flush_locked()
                return
        self._publisher.flush_later(self, FLUSH_INTERVAL)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._chunks or self._context is None:
            return
        text = "".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        self._publisher.publish(
            "stream", {"name": self.name, "text": text}, self._context.parent_header
        )
