"""Item 5: the cell sources kept for tracebacks and inspection are bounded, however many cells
run; what old cells defined can still be inspected and still shows its lines when it fails."""

from __future__ import annotations

import queue
import re

from tests.conftest import execute, shell_reply

EXECUTES = 3000
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_quietly(kc, count: int) -> None:
    """``count`` distinct cells, without history, as a frontend that polls the kernel sends."""
    for n in range(count):
        last = kc.execute(f"value = {n}", store_history=False)
        if n % 200 == 199 or n == count - 1:
            shell_reply(kc, last)
            drain_iopub(kc)


def drain_iopub(kc) -> None:
    while True:
        try:
            kc.get_iopub_msg(timeout=0.01)
        except queue.Empty:
            return


def count_cells(kc) -> int:
    reply, outputs = execute(kc, "import linecache\n"
                                 "print(sum(name.startswith('<Cell') for name in linecache.cache))")
    assert reply["content"]["status"] == "ok"
    return int("".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream"))


def test_cell_sources_stay_bounded_and_definitions_stay_inspectable(fresh_kernel):
    _, kc = fresh_kernel
    execute(kc, "def early(x):\n    return 1 / x")
    run_quietly(kc, EXECUTES)
    kept = count_cells(kc)
    assert kept <= 200, f"{kept} cell sources kept after {EXECUTES} executes"
    _, outputs = execute(kc, "import inspect\nprint(inspect.getsource(early))")
    assert "".join(m["content"].get("text", "") for m in outputs) == (
        "def early(x):\n    return 1 / x\n\n")
    _, outputs = execute(kc, "early(0)")
    error = next(m for m in outputs if m["msg_type"] == "error")["content"]
    traceback = ANSI.sub("", "\n".join(error["traceback"]))
    assert "return 1 / x" in traceback and "Cell In[1]" in traceback
