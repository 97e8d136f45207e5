"""Shared fixtures: a real pragma kernel over ZeroMQ, driven by jupyter_client.

Set-up for the whole test run (done at import, before any test module asks for a kernel):

- ``JUPYTER_DATA_DIR`` points at a temporary directory, so the kernel's history database (and
  anything else Jupyter writes) never touches the user's;
- the kernelspec ``pragma`` is installed by ``python -m pragma_kernel.kernel install``'s code into a temporary
  prefix put first on ``JUPYTER_PATH`` (argv uses this interpreter, ``sys.executable``), so tests
  never depend on a manual install;
- pragma-kernel must be installed (``bash scripts/setup``, or ``pip install -e .``): the kernel
  imports itself as ``pragma_kernel.*``, never from the checkout's top-level folders, which stay
  off ``sys.path`` so that a user's ``kernel.py`` is never confused with the kernel's code.

Fixtures:

``kernel``  (module-scoped)
    ``(km, kc)``: a started ``KernelManager`` for kernel_name ``"pragma"`` and its ready
    ``BlockingKernelClient``. Shared by the tests of one module: do not shut it down or leave
    state other tests of the module would trip over.
``fresh_kernel``  (function-scoped)
    ``(km, kc)`` likewise, but a new kernel process for this test only (for shutdown, restart,
    interrupt, counters that must start at 1).
``execute(kc, code, timeout=30, **kwargs) -> (reply, outputs)``
    A plain function (import it: ``from tests.conftest import execute``) and a fixture returning
    it. Sends an execute_request (kwargs go to ``kc.execute``: silent, store_history,
    user_expressions, allow_stdin, stop_on_error), then collects the IOPub messages whose parent
    is that request until its ``idle``. ``reply`` is the execute_reply message; ``outputs`` the
    list of IOPub messages between busy and idle, excluding both statuses and execute_input.
``collect_iopub(kc, msg_id, timeout=30) -> list``
    All IOPub messages of one request up to and including its idle (statuses included).
``shell_reply(kc, msg_id, timeout=30) -> dict``
    The shell reply to ``msg_id``, skipping other replies (stale kernel_info ones).
``start_kernel(kernel_name="pragma") -> (km, kc)`` / ``stop_kernel(km, kc)``
    For tests that need their own kernel outside the fixtures (another kernelspec, several).
``ROOT``, ``KERNEL_NAME``
    The checkout's root; the kernelspec name installed for the run.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KERNEL_NAME = "pragma"

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="pragma-kernel-tests-"))


def _prepare_environment() -> None:
    os.environ["JUPYTER_DATA_DIR"] = str(_SESSION_DIR / "data")
    jupyter_path = _SESSION_DIR / "prefix" / "share" / "jupyter"
    previous = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(jupyter_path), previous]))
    try:
        from pragma_kernel.kernel.install import install_kernelspec
    except ImportError as error:
        raise SystemExit(
            f"pragma-kernel is not installed in {sys.prefix} ({error}): run bash scripts/setup "
            "or pip install -e '.[test,dask]'") from None

    install_kernelspec(prefix=str(_SESSION_DIR / "prefix"), name=KERNEL_NAME)


_prepare_environment()


def pytest_sessionfinish(session, exitstatus) -> None:
    """Remove the run's kernelspec and data directory (kernels are stopped by their fixtures)."""
    import shutil

    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


def start_kernel(kernel_name: str = KERNEL_NAME, timeout: float = 60):
    """A started (KernelManager, BlockingKernelClient) pair, ready (kernel_info answered)."""
    from jupyter_client.manager import start_new_kernel

    return start_new_kernel(kernel_name=kernel_name, startup_timeout=timeout)


def stop_kernel(km, kc) -> None:
    kc.stop_channels()
    if km.is_alive():
        km.shutdown_kernel(now=False)


def collect_iopub(kc, msg_id: str, timeout: float = 30) -> list[dict]:
    """IOPub messages whose parent is ``msg_id``, through its idle status."""
    messages = []
    while True:
        message = kc.get_iopub_msg(timeout=timeout)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(message)
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return messages


def shell_reply(kc, msg_id: str, timeout: float = 30) -> dict:
    """The shell reply to ``msg_id`` (earlier replies, e.g. stale kernel_info, are skipped)."""
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def execute(kc, code: str, timeout: float = 30, **kwargs) -> tuple[dict, list[dict]]:
    msg_id = kc.execute(code, **kwargs)
    reply = shell_reply(kc, msg_id, timeout)
    outputs = [
        m
        for m in collect_iopub(kc, msg_id, timeout)
        if m["msg_type"] not in ("status", "execute_input")
    ]
    return reply, outputs


@pytest.fixture(scope="module")
def kernel():
    km, kc = start_kernel()
    yield km, kc
    stop_kernel(km, kc)


@pytest.fixture
def fresh_kernel():
    km, kc = start_kernel()
    yield km, kc
    stop_kernel(km, kc)


@pytest.fixture(name="execute")
def execute_fixture():
    return execute
