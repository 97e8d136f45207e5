"""A job's display always ends on a final state, and its account reaches the submitting
session only: through a real kernel driven by jupyter_client, as JupyterLab and nbclient drive
it (their interrupt before every shutdown included).

- an interrupt cancels the job; the cell's error says so (not only ``KeyboardInterrupt:``);
- a restart or a shutdown in the middle of a job publishes its final state, saying why;
- the account (state lines, then the final state) is addressed to the request's session under
  another msg_id, so clients filing outputs by request never see it.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import collect_iopub, execute, shell_reply, start_kernel, stop_kernel

SLOW_JOB = (
    "#%task(name=quick)\nx = 1",
    "#%task(name=slow, dep=[quick])\nimport time\nprint('slow started')\ntime.sleep(60)",
)


def _define(kc) -> None:
    for code in ("#%connect(backend=local, workers=1)", *SLOW_JOB):
        reply, _ = execute(kc, code, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]


def _until_running(kc, timeout: float = 60) -> list[dict]:
    """IOPub messages up to the slow task's first line (it runs then)."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = kc.get_iopub_msg(timeout=timeout)
        seen.append(message)
        if message["msg_type"] == "stream" and "slow started" in message["content"]["text"]:
            return seen
    raise AssertionError("the slow task never started")


def _drain(kc, timeout: float = 10) -> list[dict]:
    """What IOPub still brings until it stays quiet (the kernel is gone or idle)."""
    import queue

    seen = []
    while True:
        try:
            seen.append(kc.get_iopub_msg(timeout=timeout))
        except queue.Empty:
            return seen


def _until_idle(kc, msg_id: str, timeout: float = 60) -> list[dict]:
    """Every IOPub message, whatever its parent, through the idle of ``msg_id``."""
    seen = []
    while True:
        message = kc.get_iopub_msg(timeout=timeout)
        seen.append(message)
        if (message["parent_header"].get("msg_id") == msg_id and message["msg_type"] == "status"
                and message["content"]["execution_state"] == "idle"):
            return seen


def _job_display_texts(messages: list[dict]) -> list[str]:
    return [
        m["content"]["data"]["text/plain"]
        for m in messages
        if m["msg_type"] in ("display_data", "update_display_data")
        and "pragma-job" in m["content"].get("transient", {}).get("display_id", "")
    ]


@pytest.mark.parametrize(
    ("restart", "reason"),
    [(True, "stopped: kernel restarting"), (False, "stopped: kernel shutting down")],
)
def test_a_restart_or_shutdown_publishes_the_final_state_of_a_running_job(restart, reason):
    km, kc = start_kernel()
    try:
        _define(kc)
        reply, _ = execute(kc, "#%submit_job(wait=off)", timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        seen = _until_running(kc)
        if restart:
            km.restart_kernel(now=False)  # as JupyterLab's restart: interrupt, shutdown_request
        else:
            km.shutdown_kernel(now=False)
        seen += _drain(kc, timeout=5)
    finally:
        stop_kernel(km, kc)
    texts = _job_display_texts(seen)
    assert texts, "no job display"
    final = texts[-1]
    assert reason in final.splitlines()[0], final
    assert "1/2 done, 1 cancelled" in final and "running" not in final, final
    account = [m for m in seen if m["msg_type"] == "stream" and "-session" in
               m["parent_header"].get("msg_id", "")]
    assert reason in account[-1]["content"]["text"]


def test_an_interrupt_cancels_the_job_and_the_cell_says_so(fresh_kernel):
    km, kc = fresh_kernel
    _define(kc)
    msg_id = kc.execute("#%submit_job()")
    _until_running(kc)
    km.interrupt_kernel()
    reply = shell_reply(kc, msg_id, timeout=60)
    messages = collect_iopub(kc, msg_id, timeout=60)
    content = reply["content"]
    assert content["status"] == "error" and content["ename"] == "KeyboardInterrupt"
    assert "was cancelled: 1 done, 1 cancelled" in content["evalue"], content["evalue"]
    assert "was cancelled" in content["traceback"][-1]
    final = _job_display_texts(messages)[-1]
    assert "cancelled by an interrupt" in final.splitlines()[0] and "running" not in final


def test_the_account_goes_to_the_session_not_to_the_cell(fresh_kernel):
    _, kc = fresh_kernel
    # each task lasts longer than the display's redraw interval, so each change is seen
    for code in ("#%connect(backend=local, workers=1)",
                 "#%task(name=a)\nimport time\nprint('from a')\ntime.sleep(1)",
                 "#%task(name=b, dep=[a])\nimport time\ntime.sleep(1)"):
        execute(kc, code, timeout=60)
    msg_id = kc.execute("#%submit_job()")
    reply = shell_reply(kc, msg_id, timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]
    everything = _until_idle(kc, msg_id)
    cell = [m for m in everything if m["parent_header"].get("msg_id") == msg_id]
    side = [m for m in everything if m["parent_header"].get("msg_id") != msg_id]
    # the cell: the live display and the tasks' output, no account line
    cell_text = "".join(m["content"]["text"] for m in cell if m["msg_type"] == "stream")
    assert "[a] from a" in cell_text and "[job " not in cell_text
    assert len(_job_display_texts(cell)) >= 2
    # the account: the same session, another msg_id, every state change then the final state
    for message in side:
        parent = message["parent_header"]
        assert parent["session"] == reply["parent_header"]["session"]
        assert parent["msg_id"] == f"{msg_id}-session"
    account = "".join(m["content"]["text"] for m in side)
    lines = account.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job "))
    told = [line.split("] ", 1)[1].split(" (")[0] for line in lines[:start]]
    # each task lasts longer than a redraw interval: its start and the first's end are told
    assert told[:3] == ["a: running", told[1], "b: running"], account
    assert re.fullmatch(r"a: done in \d+\.\d\d s", told[1]), account
    assert "(1/2 done, 1 running)" in lines[2]
    assert "finished" in lines[start] and "2/2 done" in lines[start]
    assert any(line.startswith("wall time") for line in lines[start:]), account
