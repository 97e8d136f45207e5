"""Moving values between processes without needless copies.

A value is pickled with cloudpickle at protocol 5 with a ``buffer_callback``: large contiguous
buffers (numpy arrays, bytes-like objects) stay out of band as memoryviews of the live object,
so packing is nearly free. Small values then travel inline through the pipe; large ones are
written once into an anonymous memory file (``memfd``) and every reader maps that file
copy-on-write, so a 400 MB array reaches a dependent task or the kernel without being copied
again: the unpickled numpy array is a view of the mapping.

A memory file is named by the path ``/proc/<pid>/fd/<fd>`` of a process that holds it open;
the writer keeps its descriptor until the kernel has opened its own (see ``LocalBackend``).

Faster still where Linux allows it (``process_vm_readv``): the value stays in the process that
made it (a :class:`RemoteRef` names its buffers' addresses; that process keeps the value alive
until told to release it) and each reader copies the buffers straight into its own fresh
memory, once, instead of the writer first filling a memory file. A large buffer is read into a
private mapping of its own, filled with pages before the copy (see :func:`_allocate`), which
is unmapped when the value's last view goes.

What bounds a copy is fresh memory: on a virtual machine whose balloon reports free pages to
the host (see ``bench/value_bench.py``), the first touch of memory freed more than a few
seconds earlier costs far more than the copy itself; no copy avoids it, only sharing pages
made shared from the start would.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import pickle
import sys
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

#: values whose pickled size reaches this go through a memory file instead of the pipe
INLINE_LIMIT = 1 << 20
HAS_MEMORY_FILES = hasattr(os, "memfd_create")  #: Linux; elsewhere values go by the pipe
_ALIGN = 64  # buffers start on cache-line boundaries so numpy views are aligned


class SerialisationError(Exception):
    """A value that cannot be pickled; the message names it and says why."""


@dataclass
class Packed:
    """A pickled value: the pickle stream plus its out-of-band buffers (views, not copies)."""

    header: bytes
    buffers: list[memoryview] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return len(self.header) + sum(b.nbytes for b in self.buffers)


@dataclass
class InlineValue:
    """A small packed value shipped by the pipe (buffers copied into bytearrays: writable)."""

    header: bytes
    buffers: list[bytearray] = field(default_factory=list)


@dataclass
class SegmentRef:
    """A packed value in a memory file: its path and where the header and buffers lie."""

    path: str
    header: tuple[int, int]  #: (offset, length)
    buffers: tuple[tuple[int, int], ...]
    size: int


@dataclass
class RemoteRef:
    """A packed value kept alive in process ``pid``: its header and buffers by address."""

    pid: int
    header: tuple[int, int]  #: (address, length)
    buffers: tuple[tuple[int, int], ...]


ValueRef = InlineValue | SegmentRef | RemoteRef


def pack(value: Any, what: str = "value") -> Packed:
    """Pickle ``value`` keeping large buffers out of band; ``what`` names it in errors."""
    buffers: list[pickle.PickleBuffer] = []
    try:
        header = cloudpickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    except Exception as exc:  # pickling raises anything a __reduce__ may raise
        raise SerialisationError(
            f"{what} cannot be serialised: {type(exc).__name__}: {exc}"
        ) from exc
    return Packed(header, [_raw(b) for b in buffers])


def _raw(buffer: pickle.PickleBuffer) -> memoryview:
    try:
        return buffer.raw()
    except BufferError:  # non-contiguous: a copy is unavoidable
        return memoryview(bytes(buffer))


def unpack_inline(ref: InlineValue) -> Any:
    return pickle.loads(ref.header, buffers=ref.buffers)


def to_inline(packed: Packed) -> InlineValue:
    return InlineValue(packed.header, [bytearray(b) for b in packed.buffers])


def write_memory_file(packed: Packed, name: str = "pragma-value") -> tuple[int, SegmentRef]:
    """Copy ``packed`` into a new memory file; return its descriptor and a reference to it.

    The reference's path names this process's descriptor: keep ``fd`` open until a reader has
    opened the path (then close it; the data lives as long as someone holds or maps it).
    """
    layout: list[tuple[int, int]] = []
    offset = 0
    for part in (packed.header, *packed.buffers):
        length = len(part) if isinstance(part, bytes) else part.nbytes
        layout.append((offset, length))
        offset = _aligned(offset + length)
    size = max(offset, 1)
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, size)
        with mmap.mmap(fd, size) as target:
            _advise_huge_pages(target)
            for (start, length), part in zip(layout, (packed.header, *packed.buffers)):
                target[start : start + length] = part if isinstance(part, bytes) else part.cast("B")
    except BaseException:
        os.close(fd)
        raise
    path = f"/proc/{os.getpid()}/fd/{fd}"
    return fd, SegmentRef(path, layout[0], tuple(layout[1:]), size)


def _aligned(offset: int) -> int:
    return (offset + _ALIGN - 1) // _ALIGN * _ALIGN


def _advise_huge_pages(target: mmap.mmap) -> None:
    # Fewer page faults while filling a large file; harmless where the kernel says no.
    if len(target) >= 16 << 20 and hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            target.madvise(mmap.MADV_HUGEPAGE)
        except OSError:
            pass  # not supported for this mapping; only slower


def reopen(ref: SegmentRef) -> tuple[int, SegmentRef]:
    """Open our own descriptor on a memory file another process named; a ref on it."""
    fd = os.open(ref.path, os.O_RDONLY | os.O_CLOEXEC)
    return fd, SegmentRef(f"/proc/{os.getpid()}/fd/{fd}", ref.header, ref.buffers, ref.size)


def read_memory_file(ref: SegmentRef) -> Any:
    """Unpickle a value from a memory file; its buffers are copy-on-write views of the file."""
    fd = os.open(ref.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        view = memoryview(mmap.mmap(fd, ref.size, access=mmap.ACCESS_COPY))
    finally:
        os.close(fd)  # the mapping keeps the file alive
    start, length = ref.header
    buffers = [view[s : s + n] for s, n in ref.buffers]
    return pickle.loads(view[start : start + length], buffers=buffers)


def load(ref: ValueRef) -> Any:
    """The value behind a reference, wherever it lies."""
    if isinstance(ref, InlineValue):
        return unpack_inline(ref)
    if isinstance(ref, RemoteRef):
        return read_remote(ref)
    return read_memory_file(ref)


# --- reading another process's memory ----------------------------------------------------


class _IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


def _process_vm_readv() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    function = getattr(libc, "process_vm_readv", None)
    if function is not None:
        function.argtypes = [ctypes.c_int, ctypes.POINTER(_IOVec), ctypes.c_ulong,
                             ctypes.POINTER(_IOVec), ctypes.c_ulong, ctypes.c_ulong]  # fmt: skip
        function.restype = ctypes.c_ssize_t
    return function


_READV = _process_vm_readv()


def remote_reads_work() -> bool:
    """Whether this process may read another's memory (process_vm_readv not filtered)."""
    if _READV is None:
        return False
    source = ctypes.create_string_buffer(b"probe", 8)
    try:
        target = _copy_from(os.getpid(), ctypes.addressof(source), 5)
    except OSError:
        return False
    return bytes(target) == b"probe"


def remote_ref(packed: Packed) -> RemoteRef:
    """Name ``packed``'s memory by address; the caller keeps ``packed`` alive meanwhile."""
    buffers = []
    for index, view in enumerate(packed.buffers):
        if view.readonly:  # no address for read-only exporters without a copy; rare
            view = packed.buffers[index] = memoryview(bytearray(view))
        buffers.append((_address(view), view.nbytes))
    header_address = ctypes.cast(ctypes.c_char_p(packed.header), ctypes.c_void_p).value or 0
    return RemoteRef(os.getpid(), (header_address, len(packed.header)), tuple(buffers))


def _address(view: memoryview) -> int:
    if view.nbytes == 0:
        return 0
    return ctypes.addressof(ctypes.c_char.from_buffer(view.cast("B")))


def read_remote(ref: RemoteRef) -> Any:
    """Copy the value's header and buffers from process ``ref.pid`` and unpickle it."""
    header = _copy_from(ref.pid, *ref.header)
    buffers = [_copy_from(ref.pid, address, length) for address, length in ref.buffers]
    return pickle.loads(header, buffers=buffers)


def _copy_from(pid: int, address: int, length: int) -> memoryview:
    target = _allocate(length)
    done = 0
    while done < length:
        local = _IOVec(_address(target[done:]), length - done)
        remote = _IOVec(address + done, length - done)
        count = _READV(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        if count <= 0:
            code = ctypes.get_errno() or errno.EIO
            if code == errno.ESRCH:
                raise OSError(code, "the process holding this value has exited")
            raise OSError(code, f"reading a value from process {pid}: {os.strerror(code)}")
        done += count
    return target


def _allocate(length: int) -> memoryview:
    """Fresh writable memory. A large block is a private mapping of its own, filled with pages
    before the copy (``MADV_POPULATE_WRITE``), and unmapped when the value's last view goes.

    Measured on a 400 MB value (2-core VM whose balloon reports free pages to the host):
    process_vm_readv into numpy's memory, which asks for huge pages, took 1.2-2.9 s whenever
    the memory had not been used in the last seconds (huge pages come from exactly the free
    blocks the host took back) and 0.1 s when it had; into this mapping, 0.2-0.5 s either way.
    A huge-page policy of the system (THP ``always``) still applies."""
    if length < INLINE_LIMIT:
        return memoryview(bytearray(length))
    private = {"flags": mmap.MAP_PRIVATE} if hasattr(mmap, "MAP_PRIVATE") else {}
    view = memoryview(mmap.mmap(-1, length, **private))  # (mmap's default is a shared one)
    _populate(_address(view), length)
    return view


_MADV_POPULATE_WRITE = 23  #: Linux 5.14+; elsewhere madvise fails and the copy faults pages in
_LIBC = ctypes.CDLL(None, use_errno=True)
_MADVISE = getattr(_LIBC, "madvise", None)
if _MADVISE is not None:
    _MADVISE.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    _MADVISE.restype = ctypes.c_int


def _populate(address: int, length: int) -> None:
    """Fault in the pages of a fresh mapping at once, without holding the GIL (ctypes lets it
    go: the kernel's other threads run meanwhile). Failure only means slower copies."""
    if _MADVISE is not None and sys.platform.startswith("linux"):
        _MADVISE(address, length, _MADV_POPULATE_WRITE)


def export_ref(packed: Packed, name: str = "pragma-value") -> tuple[int | None, ValueRef]:
    """Inline for small values, a memory file for large ones (``fd`` None when inline)."""
    if packed.nbytes < INLINE_LIMIT or not HAS_MEMORY_FILES:
        return None, to_inline(packed)
    return write_memory_file(packed, name)
