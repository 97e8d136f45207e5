"""The kernel side of the pragma seam: which requests reach the engine, and how its failures
look (one error message, an error reply, the queue aborted), through jupyter_client."""

from __future__ import annotations

from tests.conftest import collect_iopub, execute, shell_reply


def test_a_failing_pragma_cell_is_one_error_and_aborts_the_queue(kernel):
    _, kc = kernel
    failing = kc.execute("#%nosuchpragma()")
    queued = kc.execute("'aborted'")
    reply = shell_reply(kc, failing)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "PragmaUsageError"
    outputs = [m for m in collect_iopub(kc, failing) if m["msg_type"] not in ("status", "execute_input")]
    assert [m["msg_type"] for m in outputs] == ["error"]
    assert outputs[0]["content"]["traceback"][-1].endswith(reply["content"]["evalue"])
    assert shell_reply(kc, queued)["content"]["status"] == "aborted"


def test_completion_and_inspection_of_a_pragma_line_come_from_the_engine(kernel):
    _, kc = kernel
    completion = shell_reply(kc, kc.complete("#%he", 4))["content"]
    assert completion["status"] == "ok"
    assert "help" in completion["matches"]
    inspection = shell_reply(kc, kc.inspect("#%help", 4))["content"]
    assert inspection["found"] is True
    assert "lists every pragma" in inspection["data"]["text/plain"]


def test_import_completion_offers_the_notebooks_variables(kernel):
    _, kc = kernel
    execute(kc, "import json\nthreshold_low = 1\nthreshold_high = 2\n_hidden = 3")
    code = "#%task(name=t, import=[thr"
    completion = shell_reply(kc, kc.complete(code, len(code)))["content"]
    assert completion["matches"] == ["threshold_high", "threshold_low"]
    code = "#%task(name=t, import=[js"
    assert shell_reply(kc, kc.complete(code, len(code)))["content"]["matches"] == []  # a module


def test_python_is_still_completed_by_the_shell_once_the_engine_is_loaded(kernel):
    _, kc = kernel
    execute(kc, "#%help()")
    completion = shell_reply(kc, kc.complete("zi", 2))["content"]
    assert "zip" in completion["matches"]
    assert shell_reply(kc, kc.is_complete("for i in x:"))["content"]["status"] == "incomplete"


def test_a_context_keeps_routing_to_its_cell_from_a_thread_after_the_cell_ended(kernel):
    """OutputContext's promise to the engine (``#%submit_job(wait=off)`` progress updates)."""
    _, kc = kernel
    code = (
        "from pragma_kernel.kernel.context import current_context\n"
        "import threading, time\n"
        "ctx = current_context()\n"
        "ctx.display({'text/plain': 'first'}, display_id='progress-1')\n"
        "def later():\n"
        "    time.sleep(0.3)\n"
        "    ctx.stream('stdout', 'late text\\n')\n"
        "    ctx.flush()\n"
        "    ctx.display({'text/plain': 'updated'}, display_id='progress-1', update=True)\n"
        "threading.Thread(target=later).start()"
    )
    msg_id = kc.execute(code)
    collect_iopub(kc, msg_id)
    execute(kc, "'another cell in between'")
    late = []
    while len(late) < 2:
        message = kc.get_iopub_msg(timeout=30)
        if message["parent_header"].get("msg_id") == msg_id:
            late.append(message)
    assert [m["msg_type"] for m in late] == ["stream", "update_display_data"]
    assert late[0]["content"] == {"name": "stdout", "text": "late text\n"}
    assert late[1]["content"]["transient"] == {"display_id": "progress-1"}
    assert late[1]["content"]["data"] == {"text/plain": "updated"}


def test_the_notebook_name_comes_from_jupyter_servers_session_name():
    import os

    from jupyter_client import KernelManager

    km = KernelManager(kernel_name="pragma")
    km.start_kernel(env={**os.environ, "JPY_SESSION_NAME": "/home/me/work/analysis.ipynb"})
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        _, outputs = execute(
            kc, "from pragma_kernel.kernel.context import current_context\ncurrent_context().notebook_name"
        )
        assert outputs[-1]["content"]["data"]["text/plain"] == "'analysis'"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
