"""The wire protocol against a live kernel process: hostile frames, kernel_info, welcome, binding.

The kernel is started directly (``python -m pragma_kernel.kernel -f FILE``) so its log (stderr) can be read.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import zmq
from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file
from jupyter_client.session import Session
from pragma_kernel.protocol.messages import PROTOCOL_VERSION
from pragma_kernel.protocol.wire import DELIMITER

from tests.conftest import ROOT, collect_iopub, shell_reply

KEY = uuid.uuid4().hex.encode()


class LiveKernel:
    def __init__(self, tmp: Path):
        self.connection_file, self.info = write_connection_file(
            str(tmp / "connection.json"), ip="127.0.0.1", key=KEY
        )
        self.log_path = tmp / "kernel.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pragma_kernel.kernel", "-f", self.connection_file],
            stdout=subprocess.DEVNULL, stderr=self._log, cwd=ROOT,
        )
        self.client = BlockingKernelClient(connection_file=self.connection_file)
        self.client.load_connection_file()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return self.log()
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never logged; log:\n{self.log()}")

    def raw_dealer(self, channel: str = "shell") -> zmq.Socket:
        socket = zmq.Context.instance().socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(f"tcp://127.0.0.1:{self.info[channel + '_port']}")
        return socket

    def stop(self) -> None:
        self.client.stop_channels()
        self.process.kill()
        self.process.wait(10)
        self._log.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    kernel = LiveKernel(tmp_path_factory.mktemp("live"))
    yield kernel
    kernel.stop()


def assert_still_answers(live: LiveKernel) -> None:
    msg_id = live.client.kernel_info()
    assert shell_reply(live.client, msg_id, timeout=10)["content"]["status"] == "ok"


def signed_request(session: Session, msg_type="kernel_info_request", content=None) -> list[bytes]:
    return session.serialize(session.msg(msg_type, content or {}))


@pytest.mark.parametrize(
    "name, frames, logged",
    [
        ("bad signature", lambda: signed_request(Session(key=b"wrong")), "invalid signature"),
        ("missing signature", lambda: signed_request(Session(key=b"")), "unsigned message"),
        ("truncated", lambda: signed_request(Session(key=KEY))[:4], "truncated message"),
        ("no delimiter", lambda: [b"hello", b"world"], "without the <IDS|MSG> delimiter"),
        (
            "non-JSON",
            lambda: _signed_raw([b'{"msg_id":"1","msg_type":"x"}', b"{}", b"{}", b"{nope"]),
            "not UTF-8 JSON",
        ),
    ],
)
def test_hostile_frames_are_dropped_logged_and_the_kernel_still_answers(live, name, frames, logged):
    dealer = live.raw_dealer()
    dealer.send_multipart(frames())
    assert live.wait_for_log(logged)
    assert not dealer.poll(300), f"{name}: the kernel answered an invalid message"
    assert_still_answers(live)
    dealer.close()


def _signed_raw(signed: list[bytes]) -> list[bytes]:
    import hashlib
    import hmac

    mac = hmac.new(KEY, digestmod=hashlib.sha256)
    for frame in signed:
        mac.update(frame)
    return [DELIMITER, mac.hexdigest().encode(), *signed]


def test_replayed_message_is_dropped(live):
    dealer = live.raw_dealer()
    frames = signed_request(Session(key=KEY))
    dealer.send_multipart(frames)
    assert dealer.poll(10_000), "the original message was not answered"
    dealer.recv_multipart()
    dealer.send_multipart(frames)
    assert live.wait_for_log("duplicate signature")
    assert not dealer.poll(300)
    assert_still_answers(live)
    dealer.close()


def test_control_channel_drops_invalid_messages_too(live):
    dealer = live.raw_dealer("control")
    dealer.send_multipart(signed_request(Session(key=b"wrong"), "shutdown_request"))
    assert live.wait_for_log("control: invalid message dropped")
    assert live.process.poll() is None
    assert_still_answers(live)
    dealer.close()


def test_request_with_wrong_content_types_gets_an_error_reply(live):
    msg_id = live.client.execute("ignored")  # warm: a real request first
    shell_reply(live.client, msg_id)
    session = live.client.session
    message = session.msg("execute_request", {"code": ["not", "a", "string"]})
    live.client.shell_channel.send(message)
    reply = shell_reply(live.client, message["header"]["msg_id"])
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "TypeError"
    assert_still_answers(live)


def test_kernel_info_reply_and_its_busy_idle(live):
    msg_id = live.client.kernel_info()
    reply = shell_reply(live.client, msg_id)
    content = reply["content"]
    assert content["status"] == "ok"
    assert content["protocol_version"] == PROTOCOL_VERSION == reply["header"]["version"]
    assert content["language_info"]["name"] == "python"
    assert content["language_info"]["file_extension"] == ".py"
    assert content["implementation"] == "pragma-kernel"
    statuses = [m["content"]["execution_state"] for m in collect_iopub(live.client, msg_id)]
    assert statuses == ["busy", "idle"]


def test_kernel_info_on_control_has_busy_and_idle(live):
    message = live.client.session.msg("kernel_info_request", {})
    live.client.control_channel.send(message)
    reply = live.client.get_control_msg(timeout=10)
    assert reply["parent_header"]["msg_id"] == message["header"]["msg_id"]
    assert reply["content"]["status"] == "ok"
    iopub = collect_iopub(live.client, message["header"]["msg_id"])
    assert [m["content"]["execution_state"] for m in iopub] == ["busy", "idle"]


def test_unknown_message_type_gets_busy_idle_and_no_reply(live):
    message = live.client.session.msg("no_such_request", {})
    live.client.shell_channel.send(message)
    iopub = collect_iopub(live.client, message["header"]["msg_id"])
    assert [m["content"]["execution_state"] for m in iopub] == ["busy", "idle"]
    assert live.wait_for_log("unknown message type 'no_such_request'")
    assert_still_answers(live)  # skips nothing: a reply to no_such_request would surface here


def test_every_subscriber_gets_an_iopub_welcome(live):
    context = zmq.Context.instance()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(f"tcp://127.0.0.1:{live.info['iopub_port']}")
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    assert sub.poll(10_000)
    session = Session(key=KEY)
    _, frames = session.feed_identities(sub.recv_multipart())
    welcome = session.deserialize(frames)
    assert welcome["msg_type"] == "iopub_welcome"
    assert welcome["content"] == {"subscription": ""}
    assert welcome["parent_header"] == {}
    sub.close()


def test_kernel_binds_only_the_connection_files_address(live):
    import psutil  # installed with ipykernel (the test extra)

    listening = {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(live.process.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    expected = {("127.0.0.1", live.info[f"{c}_port"]) for c in ("shell", "iopub", "stdin", "control", "hb")}
    assert listening == expected


def test_a_subscriber_connected_before_start_up_sees_the_welcome_first(tmp_path):
    """The subscription reaches the kernel while it starts (and publishes ``starting``)."""
    for attempt in range(5):
        connection_file, info = write_connection_file(
            str(tmp_path / f"c{attempt}.json"), ip="127.0.0.1", key=KEY
        )
        context = zmq.Context()
        context.setsockopt(zmq.RECONNECT_IVL, 1)
        sub = context.socket(zmq.SUB)
        sub.connect(f"tcp://127.0.0.1:{info['iopub_port']}")
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        process = subprocess.Popen(
            [sys.executable, "-m", "pragma_kernel.kernel", "-f", connection_file],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
        )
        try:
            assert sub.poll(30_000), "no IOPub message at all"
            session = Session(key=KEY)
            first = session.deserialize(session.feed_identities(sub.recv_multipart())[1])
            assert first["msg_type"] == "iopub_welcome", f"attempt {attempt}: {first['msg_type']}"
        finally:
            process.kill()
            process.wait(10)
            context.destroy(linger=0)


HOSTILE_CONTENTS = [
    ("complete_request", {"code": "x", "cursor_pos": "not a number"}),
    ("complete_request", {"code": 42}),
    ("inspect_request", {"code": "x", "cursor_pos": 1, "detail_level": "high"}),
    ("is_complete_request", {"code": None}),
    ("history_request", {"hist_access_type": "tail", "n": "many"}),
    ("history_request", {"hist_access_type": "sideways"}),
    ("history_request", {"hist_access_type": "range", "session": "s", "start": [], "stop": {}}),
    ("history_request", {"hist_access_type": "search", "pattern": 7, "n": -3}),
    ("execute_request", {"code": "1", "user_expressions": ["not", "a", "dict"]}),
    ("execute_request", {"code": "1", "silent": "yes", "store_history": None}),
    ("comm_open", {"comm_id": 5, "target_name": "x"}),
    ("comm_open", {"comm_id": "c", "target_name": None}),
    ("comm_msg", {"data": {}}),
    ("comm_close", {"comm_id": ["x"]}),
    ("comm_info_request", {"target_name": 3}),
    ("kernel_info_request", {"unexpected": "field"}),
]


@pytest.mark.parametrize("msg_type, content", HOSTILE_CONTENTS)
def test_signed_requests_with_wrong_content_types_never_stop_the_kernel(live, msg_type, content):
    session = live.client.session
    message = session.msg(msg_type, content)
    live.client.shell_channel.send(message)
    iopub = collect_iopub(live.client, message["header"]["msg_id"])
    assert iopub[0]["content"]["execution_state"] == "busy"
    assert live.process.poll() is None
    assert_still_answers(live)


def test_random_garbage_frames_never_stop_the_kernel(live):
    import random

    rng = random.Random(1234)
    dealer = live.raw_dealer()
    for _ in range(200):
        frames = [rng.randbytes(rng.randrange(0, 64)) for _ in range(rng.randrange(1, 9))]
        if rng.random() < 0.5:
            frames.insert(rng.randrange(len(frames) + 1), DELIMITER)
        dealer.send_multipart(frames)
    assert_still_answers(live)
    assert live.process.poll() is None
    dealer.close()
