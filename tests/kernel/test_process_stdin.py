"""input() and getpass() through the stdin channel, with jupyter_client as the frontend."""

from __future__ import annotations

import sys

from tests.conftest import collect_iopub, execute, shell_reply


def answer_input(kc, value: str, timeout: float = 30) -> dict:
    request = kc.get_stdin_msg(timeout=timeout)
    assert request["msg_type"] == "input_request"
    kc.input(value)
    return request


def test_input_round_trip(kernel):
    _, kc = kernel
    msg_id = kc.execute("name = input('who? ')\nprint('hello', name)", allow_stdin=True)
    request = answer_input(kc, "world")
    assert request["content"] == {"prompt": "who? ", "password": False}
    assert request["parent_header"]["msg_id"] == msg_id
    assert shell_reply(kc, msg_id)["content"]["status"] == "ok"
    texts = [m["content"]["text"] for m in collect_iopub(kc, msg_id) if m["msg_type"] == "stream"]
    assert "".join(texts) == "hello world\n"


def test_getpass_asks_for_a_hidden_value(kernel):
    _, kc = kernel
    msg_id = kc.execute("import getpass\nsecret = getpass.getpass('pw: ')\nlen(secret)",
                        allow_stdin=True)
    request = answer_input(kc, "hunter2")
    assert request["content"] == {"prompt": "pw: ", "password": True}
    reply = shell_reply(kc, msg_id)
    assert reply["content"]["status"] == "ok"
    results = [m for m in collect_iopub(kc, msg_id) if m["msg_type"] == "execute_result"]
    assert results[0]["content"]["data"]["text/plain"] == "7"


def test_two_inputs_in_one_cell(kernel):
    _, kc = kernel
    msg_id = kc.execute("a = input(); b = input(); a + b", allow_stdin=True)
    answer_input(kc, "x")
    answer_input(kc, "y")
    assert shell_reply(kc, msg_id)["content"]["status"] == "ok"
    results = [m for m in collect_iopub(kc, msg_id) if m["msg_type"] == "execute_result"]
    assert results[0]["content"]["data"]["text/plain"] == "'xy'"


def test_input_fails_at_once_without_stdin(kernel):
    _, kc = kernel
    reply, outputs = execute(kc, "input('never asked')", allow_stdin=False)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "StdinNotImplementedError"  # ipykernel's
    assert reply["content"]["evalue"] == (
        "raw_input was called, but this frontend does not support input requests.")
    assert [m["msg_type"] for m in outputs] == ["error"]


def test_the_stdin_error_is_the_one_library_code_catches(kernel):
    """IPython's class (a NotImplementedError) when IPython is installed, as ipykernel raises."""
    _, kc = kernel
    code = (
        "from IPython.core.error import StdinNotImplementedError\n"
        "import getpass\n"
        "for ask in (input, getpass.getpass):\n"
        "    try:\n"
        "        ask('never asked')\n"
        "    except StdinNotImplementedError as error:\n"
        "        print(isinstance(error, NotImplementedError), error)\n"
    )
    reply, outputs = execute(kc, code, allow_stdin=False)
    assert reply["content"]["status"] == "ok"
    assert "".join(m["content"]["text"] for m in outputs) == (
        "True raw_input was called, but this frontend does not support input requests.\n"
        "True getpass was called, but this frontend does not support input requests.\n"
    )


def test_without_ipython_the_stdin_error_is_a_same_named_not_implemented_error(monkeypatch):
    from pragma_kernel.kernel import stdin

    monkeypatch.setitem(sys.modules, "IPython.core.error", None)  # import fails: not installed
    error = stdin.stdin_not_implemented("raw_input")
    assert type(error) is stdin.StdinNotImplementedError
    assert isinstance(error, NotImplementedError)
    assert str(error) == "raw_input was called, but this frontend does not support input requests."
