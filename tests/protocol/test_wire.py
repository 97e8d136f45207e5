"""The wire format against jupyter_client's Session, the reference peer, in both directions."""

from __future__ import annotations

import math

import pytest
from jupyter_client.session import Session
from pragma_kernel.protocol.messages import PROTOCOL_VERSION, MessageFactory
from pragma_kernel.protocol.wire import (
    DELIMITER,
    BadSignature,
    DigestHistory,
    DuplicateSignature,
    MalformedMessage,
    Message,
    Signer,
    TruncatedMessage,
    UnknownSignatureScheme,
    UnsignedMessage,
    deserialize,
    serialize,
)

KEY = b"5ca1ab1e-0000-4000-8000-000000000000"


def session_frames(session: Session, msg_type="execute_request", content=None, buffers=None):
    message = session.msg(msg_type, content or {"code": "1+1", "silent": False})
    frames = session.serialize(message, ident=[b"client-id"])
    return message, frames + list(buffers or [])


@pytest.mark.parametrize("scheme", ["hmac-sha256", "hmac-sha512"])
def test_frames_signed_by_session_are_verified_and_parsed(scheme):
    session = Session(key=KEY, signature_scheme=scheme)
    sent, frames = session_frames(session, buffers=[b"\x00\x01binary"])
    received = deserialize(frames, Signer(KEY, scheme), DigestHistory())
    assert received.idents == [b"client-id"]
    assert received.header == sent["header"] | {"date": received.header["date"]}
    assert received.msg_type == "execute_request"
    assert received.content == {"code": "1+1", "silent": False}
    assert [bytes(b) for b in received.buffers] == [b"\x00\x01binary"]


@pytest.mark.parametrize("scheme", ["hmac-sha256", "hmac-sha512"])
def test_frames_we_sign_are_accepted_by_session(scheme):
    factory = MessageFactory()
    request = Message(header=factory.header("kernel_info_request"), idents=[b"peer"])
    reply = factory.reply(request, {"status": "ok", "text": "héllo ✓"}, buffers=[b"raw"])
    frames = serialize(reply, Signer(KEY, scheme))
    session = Session(key=KEY, signature_scheme=scheme)
    idents, rest = session.feed_identities(frames)
    parsed = session.deserialize(rest, content=True)
    assert idents == [b"peer"]
    assert parsed["msg_type"] == "kernel_info_reply"
    assert parsed["header"]["version"] == PROTOCOL_VERSION
    assert parsed["parent_header"]["msg_id"] == request.msg_id
    assert parsed["content"]["text"] == "héllo ✓"
    assert [bytes(b) for b in parsed["buffers"]] == [b"raw"]


def test_header_has_every_required_field_and_an_aware_date():
    header = MessageFactory().header("status")
    assert set(header) >= {"msg_id", "msg_type", "session", "username", "date", "version"}
    assert header["date"].endswith("Z")
    assert MessageFactory().header("status")["msg_id"] != header["msg_id"]


def test_bad_signature_is_rejected():
    _, frames = session_frames(Session(key=b"another key"))
    with pytest.raises(BadSignature):
        deserialize(frames, Signer(KEY), DigestHistory())


def test_tampered_content_is_rejected():
    _, frames = session_frames(Session(key=KEY))
    frames[-1] = frames[-1].replace(b"1+1", b"2+2")
    with pytest.raises(BadSignature):
        deserialize(frames, Signer(KEY), DigestHistory())


def test_missing_signature_is_rejected_when_a_key_is_set():
    _, frames = session_frames(Session(key=b""))
    with pytest.raises(UnsignedMessage):
        deserialize(frames, Signer(KEY), DigestHistory())


def test_unsigned_mode_accepts_unsigned_messages():
    _, frames = session_frames(Session(key=b""))
    assert deserialize(frames, Signer(b""), DigestHistory()).content["code"] == "1+1"
    assert serialize(Message(header={"msg_id": "1", "msg_type": "x"}), Signer(b""))[1] == b""


def test_replayed_message_is_rejected():
    _, frames = session_frames(Session(key=KEY))
    history = DigestHistory()
    deserialize(frames, Signer(KEY), history)
    with pytest.raises(DuplicateSignature):
        deserialize(frames, Signer(KEY), history)


@pytest.mark.parametrize("keep", [0, 1, 3, 4])
def test_truncated_message_is_rejected(keep):
    _, frames = session_frames(Session(key=KEY))
    delimiter = frames.index(DELIMITER)
    with pytest.raises(TruncatedMessage):
        deserialize(frames[: delimiter + 1 + keep], Signer(KEY), DigestHistory())


def test_message_without_delimiter_is_rejected():
    with pytest.raises(TruncatedMessage):
        deserialize([b"just", b"frames"], Signer(KEY), DigestHistory())


@pytest.mark.parametrize("bad", [b"not json", b"\xff\xfe", b"[1, 2]"])
def test_non_json_frames_are_rejected_even_when_signed(bad):
    signer = Signer(KEY)
    signed = [b'{"msg_id":"1","msg_type":"x"}', b"{}", b"{}", bad]
    frames = [DELIMITER, signer.sign(signed), *signed]
    with pytest.raises(MalformedMessage):
        deserialize(frames, signer, DigestHistory())


def test_a_rejected_message_does_not_enter_the_replay_history():
    signer, history = Signer(KEY), DigestHistory()
    signed = [b'{"msg_type":"x"}', b"{}", b"{}", b"{}"]  # no msg_id
    with pytest.raises(MalformedMessage):
        deserialize([DELIMITER, signer.sign(signed), *signed], signer, history)
    assert len(history) == 0


def test_digest_history_stays_bounded():
    history = DigestHistory(capacity=100)
    for index in range(1000):
        history.check_and_add(str(index).encode())
    assert len(history) <= 100


def test_unknown_signature_scheme_fails_at_once():
    with pytest.raises(UnknownSignatureScheme, match="hmac-sha256"):
        Signer(KEY, "hmac-nosuchhash")


def test_nan_and_infinity_are_sent_as_null():
    message = Message(header={"msg_id": "1", "msg_type": "x"}, content={"a": math.nan, "b": [math.inf, 1.5]})
    frames = serialize(message, Signer(KEY))
    parsed = Session(key=KEY).deserialize(frames[1:], content=True)
    assert parsed["content"] == {"a": None, "b": [None, 1.5]}


def test_objects_json_cannot_hold_are_cleaned_not_fatal():
    message = Message(
        header={"msg_id": "1", "msg_type": "x"},
        content={"set": {1}, "bytes": b"ab", "tuple": (1, 2), "obj": object, 3: "int key"},
    )
    parsed = Session(key=KEY).deserialize(serialize(message, Signer(KEY))[1:], content=True)
    assert parsed["content"]["set"] == [1]
    assert parsed["content"]["bytes"] == "ab"
    assert parsed["content"]["tuple"] == [1, 2]
    assert parsed["content"]["obj"] == repr(object)
    assert parsed["content"]["3"] == "int key"
