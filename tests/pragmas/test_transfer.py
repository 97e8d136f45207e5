"""Moving values between processes: inline, memory files, reading another process's memory."""

from __future__ import annotations

import multiprocessing
import os
import threading

import pytest
from pragma_kernel.pragmas import transfer

np = pytest.importorskip("numpy")


def test_pack_keeps_large_buffers_out_of_band_without_copying():
    array = np.arange(1_000_000, dtype=np.int64)
    packed = transfer.pack(array)
    assert len(packed.buffers) == 1 and packed.buffers[0].nbytes == array.nbytes
    assert len(packed.header) < 1000
    assert np.shares_memory(np.frombuffer(packed.buffers[0], dtype=np.int64), array)


def test_unpicklable_value_is_named():
    with pytest.raises(transfer.SerialisationError, match="export 'lock' .*_thread.lock"):
        transfer.pack(threading.Lock(), "export 'lock'")


def test_inline_round_trip_gives_writable_arrays():
    value = {"a": np.ones(10), "text": "hi"}
    loaded = transfer.load(transfer.to_inline(transfer.pack(value)))
    loaded["a"][0] = 5.0
    assert loaded["text"] == "hi" and loaded["a"].sum() == 14.0


def test_memory_file_round_trip_maps_copy_on_write():
    array = np.arange(500_000, dtype=np.float64)
    fd, ref = transfer.write_memory_file(transfer.pack(array))
    try:
        first, second = transfer.load(ref), transfer.load(ref)
    finally:
        os.close(fd)
    first[0] = -1.0
    assert second[0] == 0.0 and np.array_equal(second, array)


def _hold(conn) -> None:
    packed = transfer.pack(np.arange(3_000_000, dtype=np.int32))
    conn.send(transfer.remote_ref(packed))
    conn.recv()  # keep the value alive until the reader is done


@pytest.mark.skipif(not transfer.remote_reads_work(), reason="process_vm_readv not permitted")
def test_remote_read_copies_from_the_process_that_keeps_the_value():
    context = multiprocessing.get_context("forkserver")
    parent, child = context.Pipe()
    holder = context.Process(target=_hold, args=(child,))
    holder.start()
    try:
        ref = parent.recv()
        assert isinstance(ref, transfer.RemoteRef) and ref.pid == holder.pid
        assert np.array_equal(transfer.load(ref), np.arange(3_000_000, dtype=np.int32))
    finally:
        parent.send("done")
        holder.join(10)
    with pytest.raises(OSError, match="exited"):
        transfer.load(ref)
