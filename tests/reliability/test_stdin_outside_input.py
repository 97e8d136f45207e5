"""Item 7: data reaching the stdin socket while no ``input()`` waits is discarded as it
arrives: it cannot pile up in the kernel's memory, nor answer a later ``input()``."""

from __future__ import annotations

import threading

import zmq

from tests.conftest import collect_iopub, shell_reply
from tests.reliability.wire_helpers import kernel_pid, resident_mb, wait_until

CHUNK_MB, CHUNKS = 40, 5


def send_and_flush(kc, frames: list[bytes], times: int) -> None:
    """Send from a context of our own and terminate it: that returns once zmq handed every
    byte to the connection (bounded: a kernel that stopped reading would hang the test)."""
    context = zmq.Context()
    socket = context.socket(zmq.DEALER)
    socket.connect(f"tcp://{kc.ip}:{kc.stdin_port}")
    for _ in range(times):
        socket.send_multipart(frames)
    socket.close(linger=60_000)
    ending = threading.Thread(target=context.term, daemon=True)
    ending.start()
    ending.join(90)
    assert not ending.is_alive(), "the kernel did not take what was sent to its stdin"


def test_unasked_stdin_data_does_not_stay_in_the_kernel(fresh_kernel):
    km, kc = fresh_kernel
    pid = kernel_pid(km)
    before = resident_mb(pid)
    send_and_flush(kc, [b"x" * (CHUNK_MB * 2**20)], CHUNKS)
    wait_until(lambda: resident_mb(pid) < before + CHUNK_MB, 30,
               f"the kernel keeps what was sent to stdin ({resident_mb(pid) - before:.0f} MB "
               f"more than the {before:.0f} MB before)")


def test_a_stale_input_reply_does_not_answer_a_later_input(kernel):
    _, kc = kernel
    kc.input("stale")  # nobody asked
    assert shell_reply(kc, kc.kernel_info())["content"]["status"] == "ok"
    msg_id = kc.execute("print('got', input())", allow_stdin=True)
    assert kc.get_stdin_msg(timeout=30)["msg_type"] == "input_request"
    kc.input("fresh")
    assert shell_reply(kc, msg_id)["content"]["status"] == "ok"
    text = "".join(m["content"]["text"] for m in collect_iopub(kc, msg_id)
                   if m["msg_type"] == "stream")  # fmt: skip
    assert text == "got fresh\n"
