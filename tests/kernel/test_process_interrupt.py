"""Interrupts in signal and message mode; SIGINT while idle is ignored."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from pragma_kernel.kernel.install import install_kernelspec

from tests.conftest import execute, shell_reply, start_kernel, stop_kernel

BUSY_LOOP = "n = 0\nwhile True:\n    n += 1"


def wait_for_execute_input(kc, msg_id: str) -> None:
    while True:
        message = kc.get_iopub_msg(timeout=30)
        if message["parent_header"].get("msg_id") == msg_id and message["msg_type"] == "execute_input":
            return


@pytest.fixture(scope="module")
def message_mode_kernel_name():
    """The pragma kernelspec with interrupt_mode "message", next to the test run's one."""
    prefix = Path(os.environ["JUPYTER_PATH"].split(os.pathsep)[0]).parent.parent
    path = Path(install_kernelspec(prefix=str(prefix), name="pragma-message-interrupt"))
    spec = json.loads((path / "kernel.json").read_text())
    spec["interrupt_mode"] = "message"
    (path / "kernel.json").write_text(json.dumps(spec))
    assert KernelSpecManager().get_kernel_spec("pragma-message-interrupt").interrupt_mode == "message"
    return "pragma-message-interrupt"


@pytest.mark.parametrize("code", [BUSY_LOOP, "import time\ntime.sleep(600)"])
def test_signal_mode_interrupts_a_running_cell(fresh_kernel, code):
    km, kc = fresh_kernel
    msg_id = kc.execute(code)
    wait_for_execute_input(kc, msg_id)
    km.interrupt_kernel()
    reply = shell_reply(kc, msg_id)
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    reply, _ = execute(kc, "'alive'")
    assert reply["content"]["status"] == "ok"


@pytest.mark.parametrize("code", [BUSY_LOOP, "import time\ntime.sleep(600)"])
def test_message_mode_interrupts_a_running_cell(message_mode_kernel_name, code):
    km, kc = start_kernel(message_mode_kernel_name)
    try:
        msg_id = kc.execute(code)
        wait_for_execute_input(kc, msg_id)
        km.interrupt_kernel()  # sends interrupt_request on control
        reply = shell_reply(kc, msg_id)
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        reply, _ = execute(kc, "'alive'")
        assert reply["content"]["status"] == "ok"
    finally:
        stop_kernel(km, kc)


def test_sigint_while_idle_is_ignored(kernel):
    km, kc = kernel
    execute(kc, "kept = 'namespace intact'")
    os.kill(km.provisioner.process.pid, signal.SIGINT)
    km.interrupt_kernel()
    reply, outputs = execute(kc, "kept")
    assert reply["content"]["status"] == "ok"
    assert outputs[-1]["content"]["data"]["text/plain"] == "'namespace intact'"
    assert km.is_alive()


@pytest.mark.parametrize(
    "code",
    [
        "while True:\n    print('x' * 5000)",
        "while True:\n    display({'text/plain': 'x' * 100}, raw=True)",
    ],
)
def test_interrupting_a_chatty_cell_leaves_every_message_whole(fresh_kernel, code):
    """A SIGINT landing between two frames of a send must not corrupt the IOPub stream."""
    km, kc = fresh_kernel
    for _ in range(3):
        msg_id = kc.execute(code)
        wait_for_execute_input(kc, msg_id)
        km.interrupt_kernel()
        assert shell_reply(kc, msg_id)["content"]["ename"] == "KeyboardInterrupt"
        reply, outputs = execute(kc, "'whole'")
        assert reply["content"]["status"] == "ok"
        assert outputs[-1]["content"]["data"]["text/plain"] == "'whole'"


@pytest.fixture
def gate():
    from pragma_kernel.kernel.interrupts import InterruptGate

    previous = signal.getsignal(signal.SIGINT)
    gate = InterruptGate()
    gate.install()
    yield gate
    signal.signal(signal.SIGINT, previous)
    signal.set_wakeup_fd(-1)


def raise_sigint_here() -> None:
    os.kill(os.getpid(), signal.SIGINT)  # handled at the next bytecode of this thread


def test_gate_ignores_sigint_while_idle(gate):
    raise_sigint_here()
    assert not gate.pending


def test_gate_raises_inside_user_code(gate):
    reached = []
    with pytest.raises(KeyboardInterrupt), gate.request(), gate.user_code():
        raise_sigint_here()
        reached.append("after the signal")
    assert reached == []


def test_gate_keeps_an_interrupt_that_comes_before_user_code_starts(gate):
    with gate.request():
        raise_sigint_here()
        assert gate.pending
        with pytest.raises(KeyboardInterrupt), gate.user_code():
            pytest.fail("user code must not start")


def test_uninterrupted_section_defers_the_interrupt_to_its_end(gate):
    reached = []
    with pytest.raises(KeyboardInterrupt), gate.request(), gate.user_code():
        with gate.uninterrupted:
            raise_sigint_here()
            reached.append("end of the section")
        reached.append("after the section")
    assert reached == ["end of the section"]


def test_watchdog_delivers_a_sigint_the_main_thread_missed(gate):
    """A SIGINT handled on another thread does not break the main thread's sleep (the same as
    one arriving just before the sleep's system call); the watchdog sends it again."""
    import threading
    import time

    def take_the_signal_here():
        time.sleep(0.3)  # the main thread is in its sleep by then
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), gate.request(), gate.user_code():
        threading.Thread(target=take_the_signal_here).start()
        time.sleep(60)
    assert time.monotonic() - started < 30, "the sleep ran to its end: the interrupt was lost"
