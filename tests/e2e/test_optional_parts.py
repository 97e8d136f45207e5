"""Optional parts missing from the kernel's environment: the pragma that needs one says in one
line what to install, with no kernel frames, and the kernel goes on as before."""

from __future__ import annotations

import re

from tests.conftest import execute

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _error(outputs: list[dict]) -> tuple[str, str]:
    errors = [o["content"] for o in outputs if o["msg_type"] == "error"]
    assert len(errors) == 1, outputs
    return errors[0]["ename"], ANSI.sub("", "\n".join(errors[0]["traceback"]))


def test_connect_to_dask_without_dask_says_what_to_install(fresh_kernel):
    _, kc = fresh_kernel
    # Python's own way of saying "not installed" for an import (find_spec answers None)
    execute(kc, "import sys; sys.modules['distributed'] = None")
    reply, outputs = execute(kc, "#%connect(backend=dask)")
    assert reply["content"]["status"] == "error"
    ename, text = _error(outputs)
    assert ename == "OptionalPartMissing"
    assert "pip install 'pragma-kernel[dask]'" in text
    assert "Traceback" not in text and "pragma_kernel" not in text.replace("pragma-kernel", "")
    reply, outputs = execute(kc, "#%task(name=t, export=[x])\nx = 6 * 7")
    reply, outputs = execute(kc, "#%submit_job()", timeout=120)
    assert reply["content"]["status"] == "ok", outputs
    assert execute(kc, "x")[1][-1]["content"]["data"]["text/plain"] == "42"
