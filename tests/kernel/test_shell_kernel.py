"""The Python shell through the real kernel process, with jupyter_client as the frontend:
what a notebook sees on IOPub and in replies for ordinary cells."""

from __future__ import annotations

import base64
import re

import pytest

from tests.conftest import execute, shell_reply

ANSI = re.compile(r"\x1b\[[0-9;]*m")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def types_of(outputs):
    return [m["msg_type"] for m in outputs]


def stdout_of(outputs):
    return "".join(
        m["content"]["text"] for m in outputs
        if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
    )


@pytest.fixture(scope="module")
def kc(kernel):
    return kernel[1]


def test_print_and_result_in_order(kc):
    reply, outputs = execute(kc, "import sys\nprint('out')\nprint('err', file=sys.stderr)\n6 * 7")
    assert reply["content"]["status"] == "ok"
    streams = {m["content"]["name"]: m["content"]["text"] for m in outputs
               if m["msg_type"] == "stream"}
    assert streams == {"stdout": "out\n", "stderr": "err\n"}
    result = outputs[-1]
    assert result["msg_type"] == "execute_result"
    assert result["content"]["data"] == {"text/plain": "42"}
    assert result["content"]["execution_count"] == reply["content"]["execution_count"]


def test_out_and_underscore_follow_the_execution_count(kc):
    reply, _ = execute(kc, "'remember me'")
    count = reply["content"]["execution_count"]
    _, outputs = execute(kc, f"(Out[{count}], _{count}, _)")
    assert outputs[-1]["content"]["data"]["text/plain"] == (
        "('remember me', 'remember me', 'remember me')")


def test_error_is_exactly_one_error_message(kc):
    reply, outputs = execute(kc, "def f():\n    raise ValueError('nope')\nf()")
    content = reply["content"]
    assert (content["status"], content["ename"], content["evalue"]) == (
        "error", "ValueError", "nope")
    assert types_of(outputs) == ["error"]
    traceback = outputs[0]["content"]["traceback"]
    assert traceback == content["traceback"]
    text = ANSI.sub("", "\n".join(traceback))
    assert f"Cell In[{content['execution_count']}], line 3" in text
    assert text.endswith("ValueError: nope")


def test_syntax_error_and_unknown_magic_are_single_errors(kc):
    for code, ename in [("x = = 1", "SyntaxError"), ("%not_a_magic", "UsageError")]:
        reply, outputs = execute(kc, code)
        assert reply["content"]["ename"] == ename
        assert types_of(outputs) == ["error"]


def test_display_update_and_clear(kc):
    code = (
        "from IPython.display import clear_output\n"
        "h = display('first', display_id=True)\n"
        "h.update('second')\n"
        "clear_output(wait=True)\n"
        "print('after clear')"
    )
    reply, outputs = execute(kc, code)
    assert reply["content"]["status"] == "ok"
    assert types_of(outputs) == ["display_data", "update_display_data", "clear_output", "stream"]
    shown, updated, cleared, _ = (m["content"] for m in outputs)
    assert shown["data"] == {"text/plain": "'first'"}
    assert updated["data"] == {"text/plain": "'second'"}
    assert shown["transient"]["display_id"] == updated["transient"]["display_id"]
    assert cleared == {"wait": True}


def test_ipython_display_objects(kc):
    png = base64.b64encode(PNG_MAGIC + b"rest").decode()
    code = (
        "import base64\n"
        "from IPython.display import HTML, Markdown, Image, display\n"
        f"display(HTML('<b>bold</b>'), Markdown('# title'), "
        f"Image(data=base64.b64decode('{png}'), format='png', width=10))"
    )
    reply, outputs = execute(kc, code)
    assert reply["content"]["status"] == "ok", reply["content"]
    html, markdown, image = (m["content"] for m in outputs)
    assert html["data"]["text/html"] == "<b>bold</b>"
    assert markdown["data"]["text/markdown"] == "# title"
    assert image["data"]["image/png"] == png
    assert image["metadata"] == {"image/png": {"width": 10}}


def test_rich_execute_result(kc):
    code = "class Table:\n    def _repr_html_(self):\n        return '<table/>'\nTable()"
    _, outputs = execute(kc, code)
    [result] = outputs
    assert result["msg_type"] == "execute_result"
    assert result["content"]["data"]["text/html"] == "<table/>"


def test_matplotlib_figure_is_a_png_display(kc):
    reply, outputs = execute(kc, "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2]);")
    assert reply["content"]["status"] == "ok"
    [figure] = outputs
    assert figure["msg_type"] == "display_data"
    assert base64.b64decode(figure["content"]["data"]["image/png"]).startswith(PNG_MAGIC)
    assert figure["content"]["data"]["text/plain"] == "<Figure size 640x480 with 1 Axes>"


def test_shell_command_output_is_streamed_as_it_comes(kc):
    reply, outputs = execute(kc, "!echo first; sleep 1; echo second")
    assert reply["content"]["status"] == "ok"
    chunks = [m["content"]["text"] for m in outputs if m["msg_type"] == "stream"]
    assert "".join(chunks) == "first\nsecond\n"
    assert len(chunks) == 2  # the first line was published while the command still ran


def test_pip_magic_runs_the_kernels_own_pip(kc):
    _, outputs = execute(kc, "import sys\n%pip --version")
    text = stdout_of(outputs)
    assert text.startswith("pip ")
    assert "restart the kernel" in text


def test_pager_payload_for_help(kc):
    reply, outputs = execute(kc, "len?")
    payload = reply["content"]["payload"]
    assert len(payload) == 1 and payload[0]["source"] == "page"
    assert "Return the number of items" in payload[0]["data"]["text/plain"]
    assert outputs == []


def test_silent_cell_publishes_nothing(kc):
    reply, outputs = execute(kc, "print('quiet')\n1 + 1", silent=True)
    assert reply["content"]["status"] == "ok"
    assert [m for m in outputs if m["msg_type"] != "stream"] == []


def test_exit_and_sys_exit_leave_the_kernel_running(kc):
    reply, _ = execute(kc, "exit()")
    assert reply["content"]["payload"] == [{"source": "ask_exit", "keepkernel": False}]
    reply, outputs = execute(kc, "import sys\nsys.exit(2)")
    assert reply["content"]["ename"] == "SystemExit" and types_of(outputs) == ["error"]
    _, outputs = execute(kc, "'still here'")
    assert outputs[-1]["content"]["data"]["text/plain"] == "'still here'"


def test_user_expressions(kc):
    reply, _ = execute(kc, "base = 20", user_expressions={"ok": "base + 1", "bad": "base / 0"})
    expressions = reply["content"]["user_expressions"]
    assert expressions["ok"] == {"status": "ok", "data": {"text/plain": "21"}, "metadata": {}}
    assert expressions["bad"]["status"] == "error"
    assert expressions["bad"]["ename"] == "ZeroDivisionError"


def test_complete_inspect_and_is_complete_requests(kc):
    execute(kc, "import os\nlong_name_for_test = 1")
    reply = shell_reply(kc, kc.complete("long_name_f", 11))["content"]
    assert reply["matches"] == ["long_name_for_test"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (0, 11)
    reply = shell_reply(kc, kc.complete("os.path.jo", 10))["content"]
    assert reply["matches"] == ["join"] and reply["cursor_start"] == 8

    reply = shell_reply(kc, kc.inspect("os.path.join(", 13, 0))["content"]
    assert reply["found"] is True and "os.path.join(a, *p)" in ANSI.sub(
        "", reply["data"]["text/plain"])
    reply = shell_reply(kc, kc.inspect("undefined_thing", 3, 0))["content"]
    assert reply == {"status": "ok", "found": False, "data": {}, "metadata": {}}

    for code, status in [("for i in x:", "incomplete"), ("1 +", "invalid"), ("x = 1", "complete")]:
        reply = shell_reply(kc, kc.is_complete(code))["content"]
        assert reply["status"] == status


def test_interrupt_stops_a_shell_command_and_the_kernel_goes_on(fresh_kernel):
    km, kc = fresh_kernel
    msg_id = kc.execute("!echo started; sleep 60")
    while True:  # wait until the command runs, so the interrupt reaches it
        message = kc.get_iopub_msg(timeout=30)
        if message["parent_header"].get("msg_id") == msg_id and message["msg_type"] == "stream":
            break
    km.interrupt_kernel()
    reply = shell_reply(kc, msg_id, timeout=30)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    _, outputs = execute(kc, "!echo again")
    assert stdout_of(outputs) == "again\n"


def test_input_history_names(kc):
    execute(kc, "'first cell'")
    reply, _ = execute(kc, "'second cell'")
    count = reply["content"]["execution_count"]
    # as in IPython: _i is the previous input, In[-1] (and _i00) this one
    _, outputs = execute(kc, "(_i, _ii, _iii == In[-4], In[-1] == _i00)")
    assert outputs[-1]["content"]["data"]["text/plain"] == (
        "(\"'second cell'\", \"'first cell'\", True, True)"
    )
    _, outputs = execute(kc, f"_i{count}")
    assert outputs[-1]["content"]["data"]["text/plain"] == "\"'second cell'\""
