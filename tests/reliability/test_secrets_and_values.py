"""Also seen by the campaign: a ProActive password kept after a failed connect (kernel and JVM),
and a ``pull=off`` job's large value kept by a worker until the next such job."""

from __future__ import annotations

import gc
import inspect
import re
import socket

import pytest
from pragma_kernel.pragmas import proactive_jvm
from pragma_kernel.pragmas.backends.proactive import ProActiveBackend, ProActiveConnectionError

from tests.pragmas.engine_helpers import Notebook, text
from tests.reliability.wire_helpers import resident_mb, wait_until

BIG_MB = 200


@pytest.mark.skipif(proactive_jvm.java_executable() is None,
                    reason="no Java runtime: the ProActive SDK cannot start")
def test_a_failed_proactive_connect_keeps_no_password():
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret = bytearray(b"pw-" + bytes(socket.gethostname(), "ascii")[:4] + b"-s3cret")

    def connect() -> None:
        with pytest.raises(ProActiveConnectionError, match="Connection refused"):
            ProActiveBackend.connect(url=f"http://127.0.0.1:{port}", login="alice",
                                     password=secret.decode())

    connect()
    gateway = proactive_jvm.gateway()
    assert gateway.proactive_rest_api.password is None  # the SDK's REST client
    proxy = gateway.proactive_scheduler_client  # the JVM's smart proxy
    field = proxy.getClass().getSuperclass().getDeclaredField("connectionInfo")
    field.setAccessible(True)
    assert field.get(proxy) is None
    gc.collect()
    here = inspect.currentframe()
    holders = [type(o).__name__ for o in gc.get_objects() if o is not here and any(
        isinstance(r, str) and len(r) == len(secret) and r.encode("utf-8", "replace") == secret
        for r in gc.get_referents(o))]
    assert holders == [], f"the password is still referenced by {holders}"


def test_a_pull_off_jobs_large_value_is_released_with_its_job():
    notebook = Notebook()
    notebook.run("#%connect(backend=local, workers=1)")
    try:
        notebook.run(f"#%task(name=big, export=[blob])\nimport os\nprint('pid', os.getpid())\n"
                     f"blob = b'x' * ({BIG_MB} * 2**20)")
        pid = int(re.search(r"pid (\d+)", text(notebook.run("#%submit_job(pull=off)")))[1])
        assert resident_mb(pid) > BIG_MB, "the worker does not hold the value"
        notebook.run("#%delete_task(name=big)")
        notebook.run("#%task(name=small)\npass")
        for _ in range(3):  # the kernel keeps the values of the last jobs only
            notebook.run("#%submit_job()")
        wait_until(lambda: resident_mb(pid) < BIG_MB / 2, 30,
                   f"the worker still holds the value ({resident_mb(pid):.0f} MB)")
        first = notebook.engine.submitted[0]
        assert any("released unfetched" in note for note in first.results["big"].notes)
    finally:
        notebook.engine.shutdown()
