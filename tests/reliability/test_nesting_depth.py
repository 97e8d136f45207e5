"""Item 9: a correctly signed message nested beyond a sane depth is rejected as malformed before
it reaches the kernel's logic; during ``input()`` it never surfaces in the user's cell."""

from __future__ import annotations

import pytest
from pragma_kernel.protocol.wire import MAX_DEPTH, MalformedMessage, Signer, deserialize

from tests.conftest import collect_iopub, execute, shell_reply
from tests.reliability.wire_helpers import dealer, signed_frames


def nested(depth: int) -> bytes:
    return b'{"code": "1", "deep": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_deeply_nested_frames_are_malformed(depth):
    signer = Signer(b"key")
    signed = [b'{"msg_id": "1", "msg_type": "execute_request"}', b"{}", b"{}", nested(depth)]
    with pytest.raises(MalformedMessage, match="nested deeper than"):
        deserialize([b"<IDS|MSG>", signer.sign(signed), *signed], signer)


def test_nesting_within_the_limit_is_accepted():
    signer = Signer(b"key")
    signed = [b'{"msg_id": "1", "msg_type": "execute_request"}', b"{}", b"{}",
              nested(MAX_DEPTH - 1)]
    message = deserialize([b"<IDS|MSG>", signer.sign(signed), *signed], signer)
    assert message.content["code"] == "1"


def test_a_nested_execute_is_dropped_and_the_kernel_answers_the_next_one(kernel):
    _, kc = kernel
    shell = dealer(kc, "shell")
    try:
        frames = signed_frames(kc.session, "execute_request", nested(100_000))
        shell.send_multipart(frames)
        assert not shell.poll(500), "the kernel answered a malformed message"
    finally:
        shell.close()
    reply, _ = execute(kc, "'still here'")
    assert reply["content"]["status"] == "ok"


def test_a_nested_input_reply_never_reaches_the_cell(kernel):
    _, kc = kernel
    msg_id = kc.execute("answer = input('? ')\nprint('got', answer)", allow_stdin=True)
    assert kc.get_stdin_msg(timeout=30)["msg_type"] == "input_request"
    stdin = dealer(kc, "stdin")
    try:  # one socket: the nested reply is read first
        stdin.send_multipart(signed_frames(kc.session, "input_reply", nested(100_000)))
        stdin.send_multipart(signed_frames(kc.session, "input_reply", {"value": "the answer"}))
        reply = shell_reply(kc, msg_id)
    finally:
        stdin.close()
    outputs = collect_iopub(kc, msg_id)
    assert reply["content"]["status"] == "ok", reply["content"]
    text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
    assert text == "got the answer\n"
