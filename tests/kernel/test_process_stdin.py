"""input() and getpass() through the stdin channel, with jupyter_client as the frontend."""

from __future__ import annotations

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
    assert reply["content"]["ename"] == "StdinNotAllowed"
    assert "allow_stdin=False" in reply["content"]["evalue"]
    assert [m["msg_type"] for m in outputs] == ["error"]


def test_prompt_output_is_flushed_before_the_input_request(kernel):
    _, kc = kernel
    msg_id = kc.execute("print('context first')\ninput('> ')", allow_stdin=True)
    stream = None
    while stream is None:
        message = kc.get_iopub_msg(timeout=30)
        if message["parent_header"].get("msg_id") == msg_id and message["msg_type"] == "stream":
            stream = message
    answer_input(kc, "")
    assert stream["content"]["text"] == "context first\n"
    shell_reply(kc, msg_id)
    collect_iopub(kc, msg_id)


def test_interrupt_during_input(fresh_kernel):
    km, kc = fresh_kernel
    msg_id = kc.execute("input('waiting')", allow_stdin=True)
    kc.get_stdin_msg(timeout=30)
    km.interrupt_kernel()
    reply = shell_reply(kc, msg_id)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    reply, _ = execute(kc, "'answering again'")
    assert reply["content"]["status"] == "ok"
