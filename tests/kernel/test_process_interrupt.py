"""Interrupts in signal and message mode; SIGINT while idle is ignored."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager

from kernel.install import install_kernelspec
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
