"""The Jupyter wire format: multipart frames <-> messages, HMAC signing, replay protection.

A message on a ROUTER/DEALER socket is::

    [ident_0, ..., ident_n, b"<IDS|MSG>", signature, header, parent_header, metadata, content,
     buffer_0, ...]

The signature is the hex HMAC of the four JSON frames *as received* (buffers are not signed).
Everything here is pure: no sockets, no threads except the lock in :class:`DigestHistory`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
from typing import Any

DELIMITER = b"<IDS|MSG>"
#: The deepest nesting of objects and arrays a received frame may have. Jupyter's messages and
#: widget states are a few levels deep; a deeper frame would make ``json.loads`` (or any code
#: walking the value later) raise RecursionError, so it is malformed.
MAX_DEPTH = 100


class InvalidMessage(ValueError):
    """A received message that must be dropped (logged, never answered)."""


class TruncatedMessage(InvalidMessage):
    """Fewer frames than delimiter + signature + four JSON frames."""


class UnsignedMessage(InvalidMessage):
    """An empty signature while the session has a key."""


class BadSignature(InvalidMessage):
    """The signature does not match the frames (wrong key or tampered frames)."""


class DuplicateSignature(InvalidMessage):
    """A signature seen before: a replayed message."""


class MalformedMessage(InvalidMessage):
    """Frames that are not UTF-8 JSON objects, nested deeper than :data:`MAX_DEPTH`, or a
    header without msg_id/msg_type."""


class UnknownSignatureScheme(ValueError):
    """The connection file names a signature scheme this kernel cannot compute."""


class Message:
    """One Jupyter message. ``idents`` is the ROUTER routing prefix (or the IOPub topic)."""

    __slots__ = ("buffers", "content", "header", "idents", "metadata", "parent_header")

    def __init__(
        self,
        header: dict[str, Any],
        parent_header: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        content: dict[str, Any] | None = None,
        buffers: list[bytes | memoryview] | None = None,
        idents: list[bytes] | None = None,
    ):
        self.header = header
        self.parent_header = parent_header if parent_header is not None else {}
        self.metadata = metadata if metadata is not None else {}
        self.content = content if content is not None else {}
        self.buffers = buffers if buffers is not None else []
        self.idents = idents if idents is not None else []

    def __repr__(self) -> str:
        return f"Message({self.header.get('msg_type')!r}, msg_id={self.header.get('msg_id')!r})"

    @property
    def msg_type(self) -> str:
        return self.header["msg_type"]

    @property
    def msg_id(self) -> str:
        return self.header["msg_id"]


class Signer:
    """HMAC signer for one session key; an empty key means unsigned mode (signature ``b""``)."""

    def __init__(self, key: bytes, scheme: str = "hmac-sha256"):
        algorithm = scheme.removeprefix("hmac-")
        if not scheme.startswith("hmac-") or algorithm not in hashlib.algorithms_available:
            raise UnknownSignatureScheme(
                f"signature_scheme {scheme!r} is not supported; use 'hmac-<hashlib name>', "
                "e.g. 'hmac-sha256'"
            )
        self.key = key
        self._template = hmac.new(key, digestmod=algorithm) if key else None

    @property
    def enabled(self) -> bool:
        return self._template is not None

    def sign(self, frames: list[bytes]) -> bytes:
        """The hex digest of the header, parent, metadata and content frames, in that order."""
        if self._template is None:
            return b""
        mac = self._template.copy()
        for frame in frames:
            mac.update(frame)
        return mac.hexdigest().encode("ascii")

    def verify(self, signature: bytes, frames: list[bytes]) -> None:
        """Raise UnsignedMessage/BadSignature unless ``signature`` matches ``frames``."""
        if self._template is None:
            return
        if not signature:
            raise UnsignedMessage("unsigned message dropped (the session has a key)")
        if not hmac.compare_digest(signature, self.sign(frames)):
            raise BadSignature("message with an invalid signature dropped")


class DigestHistory:
    """Signatures already accepted on one channel (thread-safe).

    One per channel, not one for the kernel: a copy of a shell request sent to control must
    not make the original, still queued on shell, a "replay" that is dropped unanswered (the
    copy is control's own request; a replay on the same channel is still refused).

    Like jupyter_client's Session: at most ``capacity`` entries; when full, a random tenth is
    forgotten, so memory stays bounded however long the kernel runs.
    """

    def __init__(self, capacity: int = 2**16):
        self.capacity = capacity
        self._seen: set[bytes] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, signature: bytes) -> bool:
        return signature in self._seen

    def check_and_add(self, signature: bytes) -> None:
        """Raise DuplicateSignature when ``signature`` was accepted before, else remember it."""
        with self._lock:
            if signature in self._seen:
                raise DuplicateSignature("replayed message dropped (duplicate signature)")
            self._seen.add(signature)
            if len(self._seen) > self.capacity:
                import random  # rare: only when the history is full

                forget = random.sample(list(self._seen), max(1, self.capacity // 10))
                self._seen.difference_update(forget)


def split_identities(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Split at the delimiter: (routing identities, the frames after the delimiter)."""
    for index, frame in enumerate(frames):
        if bytes(frame) == DELIMITER:
            return [bytes(f) for f in frames[:index]], frames[index + 1 :]
    raise TruncatedMessage("message without the <IDS|MSG> delimiter dropped")


def _load_dict(frame: bytes | memoryview, name: str) -> dict[str, Any]:
    raw = bytes(frame)
    too_deep = MalformedMessage(f"{name} frame is nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedMessage(f"{name} frame is not UTF-8 JSON ({error})") from None
    except RecursionError:
        raise too_deep from None
    if not isinstance(value, dict):
        raise MalformedMessage(f"{name} frame is JSON but not an object")
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and nesting_depth(value) > MAX_DEPTH:
        raise too_deep
    return value


def nesting_depth(value: Any) -> int:
    """How deeply objects and arrays nest in ``value`` (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))
    return deepest


def deserialize(
    frames: list[bytes | memoryview], signer: Signer, history: DigestHistory | None = None
) -> Message:
    """Verify and parse received frames; raise an InvalidMessage subclass to drop them.

    The signature is checked on the raw frames before anything is parsed; the digest is
    remembered only once the message parsed, so garbage cannot fill the replay history.
    """
    idents, rest = split_identities(list(frames))
    if len(rest) < 5:
        raise TruncatedMessage(f"truncated message dropped ({len(rest)} frames after delimiter)")
    signature = bytes(rest[0])
    signed = [bytes(f) for f in rest[1:5]]
    signer.verify(signature, signed)
    header = _load_dict(signed[0], "header")
    if not isinstance(header.get("msg_type"), str) or not isinstance(header.get("msg_id"), str):
        raise MalformedMessage("header without string msg_id and msg_type")
    message = Message(
        header=header,
        parent_header=_load_dict(signed[1], "parent_header"),
        metadata=_load_dict(signed[2], "metadata"),
        content=_load_dict(signed[3], "content"),
        buffers=list(rest[5:]),
        idents=idents,
    )
    if history is not None and signer.enabled:
        history.check_and_add(signature)
    return message


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def dumps(value: Any) -> bytes:
    """JSON as jupyter_client packs it: UTF-8, and no NaN/Infinity (they are not JSON, a peer's
    ``json.loads`` would refuse the whole message), so those become null; objects JSON cannot
    hold (sets, bytes, arbitrary objects) are cleaned as :func:`json_clean` says."""
    try:
        text = _ENCODER.encode(value)
    except (ValueError, TypeError):  # NaN, or an object JSON cannot hold
        text = _ENCODER.encode(json_clean(value))
    return text.encode("utf-8")


def json_clean(value: Any) -> Any:
    """A JSON-safe copy of ``value``: non-finite floats -> None, tuples/sets -> lists,
    bytes -> text, other objects -> their repr."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, dict):
        return {str(key): json_clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_clean(item) for item in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return repr(value)


_last_parent: list[Any] = [None, b"{}"]  # (header, its JSON): a request's messages share it


def _dumps_parent(parent: dict[str, Any]) -> bytes:
    cached, encoded = _last_parent
    if cached is parent:
        return encoded
    encoded = dumps(parent)
    _last_parent[:] = [parent, encoded]
    return encoded


def serialize(message: Message, signer: Signer) -> list[bytes | memoryview]:
    """Frames ready for ``send_multipart``: idents, delimiter, signature, four dicts, buffers."""
    signed = [
        dumps(message.header),
        _dumps_parent(message.parent_header),
        dumps(message.metadata),
        dumps(message.content),
    ]
    return [*message.idents, DELIMITER, signer.sign(signed), *signed, *message.buffers]
