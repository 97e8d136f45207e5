"""Connecting to ProActive through the real kernel: the password asked through Jupyter's stdin
(never echoed, never in the outputs), a failed connect that names the URL and the reason and
leaves the kernel usable on the backend it had.

No ProActive server runs here: the connects go to a port where nothing listens, through the
real SDK and its JVM.
"""

from __future__ import annotations

import socket

import pytest
from pragma_kernel.pragmas import proactive_jvm

from tests.conftest import collect_iopub, execute, shell_reply

pytestmark = pytest.mark.skipif(
    proactive_jvm.java_executable() is None, reason="no Java runtime: the SDK cannot start"
)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def text_of(outputs: list[dict]) -> str:
    parts = []
    for message in outputs:
        content = message["content"]
        if message["msg_type"] == "stream":
            parts.append(content["text"])
        elif message["msg_type"] == "error":
            parts.append("\n".join(content["traceback"]))
        elif "data" in content:
            parts.append(content["data"].get("text/plain", ""))
    return "".join(parts)


def test_a_missing_password_is_asked_unechoed_and_a_failed_connect_keeps_the_kernel(kernel):
    _, kc = kernel
    port = closed_port()
    msg_id = kc.execute(f"#%connect(url=http://127.0.0.1:{port}, login=alice)", allow_stdin=True)
    request = kc.get_stdin_msg(timeout=60)
    assert request["msg_type"] == "input_request"
    assert request["content"]["password"] is True
    assert "alice" in request["content"]["prompt"]
    kc.input("s3cret-pw")
    reply = shell_reply(kc, msg_id, timeout=60)
    shown = text_of([m for m in collect_iopub(kc, msg_id) if m["msg_type"] != "status"])
    assert reply["content"]["status"] == "error"
    assert f"http://127.0.0.1:{port}" in shown
    assert "Connection refused" in shown
    assert "s3cret-pw" not in shown

    reply, outputs = execute(kc, "#%task(name=still_here)\nresult = 'local works'", timeout=60)
    assert reply["content"]["status"] == "ok"
    reply, outputs = execute(kc, "#%submit_job()", timeout=120)
    assert reply["content"]["status"] == "ok", text_of(outputs)
    reply, outputs = execute(kc, "#%get_task_result(task_name=still_here)", timeout=60)
    assert "local works" in text_of(outputs)


def test_a_connect_with_host_and_port_reports_the_https_url(kernel):
    _, kc = kernel
    port = closed_port()
    reply, outputs = execute(
        kc, f"#%connect(host=127.0.0.1, port={port}, login=alice, password=pw)", timeout=60)
    assert reply["content"]["status"] == "error"
    assert f"https://127.0.0.1:{port}" in text_of(outputs)


def test_a_failed_auto_connect_from_proactive_config_ini_leaves_the_kernel_usable(tmp_path):
    """Activeeon's kernel refused every cell after a failed auto-connect; here the notebook goes
    on, on the local backend, after saying why the connect failed."""
    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    port = closed_port()
    (tmp_path / "proactive_config.ini").write_text(
        f"[proactive_server]\nurl = http://127.0.0.1:{port}\n[user]\nlogin = alice\n"
        "password = pw\n")  # fmt: skip
    notebook = new_notebook(cells=[
        new_code_cell("#%task(name=a)\nresult = 'still usable'"),
        new_code_cell("#%submit_job()"),
        new_code_cell("#%get_task_result(task_name=a)"),
    ])  # fmt: skip
    NotebookClient(notebook, kernel_name="pragma", timeout=120,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    said = "".join(o.get("text", "") for o in notebook.cells[0].outputs)
    assert "proactive_config.ini" in said and f"127.0.0.1:{port}" in said
    results = nbformat.from_dict(notebook.cells[2]).outputs
    assert any("still usable" in str(o) for o in results)


def test_a_password_a_headless_front_end_cannot_ask_for_is_one_line(kernel):
    """With allow_stdin=False (nbclient, papermill) the password cannot be asked: one line
    naming the URL and the remedy, never the kernel's StdinNotAllowed traceback."""
    _, kc = kernel
    port = closed_port()
    reply, outputs = execute(kc, f"#%connect(url=http://127.0.0.1:{port}, login=alice)",
                             timeout=60, allow_stdin=False)
    assert reply["content"]["status"] == "error"
    (error,) = [m["content"] for m in outputs if m["msg_type"] == "error"]
    assert error["ename"] == "ConnectError" and len(error["traceback"]) == 1, error
    assert f"http://127.0.0.1:{port}" in error["evalue"] and "password=" in error["evalue"]
    assert "cannot ask" in error["evalue"] and "StdinNotAllowed" not in text_of(outputs)


def test_auto_connect_without_a_password_under_nbclient_says_so_and_runs_the_cell(tmp_path):
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    (tmp_path / "proactive_config.ini").write_text(
        "[proactive_server]\nurl = https://pa.example.org:8443\n[user]\nlogin = alice\n")
    notebook = new_notebook(cells=[new_code_cell("#%task(name=a)\nresult = 'defined'")])
    NotebookClient(notebook, kernel_name="pragma", timeout=120,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = notebook.cells[0].outputs
    said = {o.name: o.text for o in outputs if o.output_type == "stream"}
    assert "Task 'a' defined." in said["stdout"]
    warning = said["stderr"].strip()
    assert "\n" not in warning and "proactive_config.ini" in warning
    assert "https://pa.example.org:8443" in warning and "no password given" in warning
