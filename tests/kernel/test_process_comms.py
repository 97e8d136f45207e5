"""Comms both ways through the ``comm`` package, as ipywidgets uses them."""

from __future__ import annotations

import uuid

from tests.conftest import collect_iopub, execute, shell_reply

ECHO_TARGET = """
import comm
opened = []
def on_open(c, msg):
    opened.append(c)
    c.on_msg(lambda m: c.send({'echo': m['content']['data'], 'nbuf': len(m['buffers'])},
                              buffers=[bytes(b)[::-1] for b in m['buffers']]))
    c.send({'hello': msg['content']['data']})
comm.get_comm_manager().register_target('echo-target', on_open)
"""


def comm_message(kc, msg_type: str, content: dict, buffers=None) -> str:
    message = kc.session.msg(msg_type, content)
    kc.shell_channel.send(message) if not buffers else kc.session.send(
        kc.shell_channel.socket, message, buffers=buffers
    )
    return message["header"]["msg_id"]


def test_open_to_an_unknown_target_is_closed_at_once(kernel):
    _, kc = kernel
    comm_id = uuid.uuid4().hex
    msg_id = comm_message(kc, "comm_open", {"comm_id": comm_id, "target_name": "nobody", "data": {}})
    iopub = collect_iopub(kc, msg_id)
    assert [m["msg_type"] for m in iopub] == ["status", "comm_close", "status"]
    assert iopub[1]["content"]["comm_id"] == comm_id


def test_frontend_opened_comm_round_trip_with_buffers(kernel):
    _, kc = kernel
    execute(kc, ECHO_TARGET)
    comm_id = uuid.uuid4().hex
    msg_id = comm_message(
        kc, "comm_open", {"comm_id": comm_id, "target_name": "echo-target", "data": {"x": 1}}
    )
    opened = [m for m in collect_iopub(kc, msg_id) if m["msg_type"] == "comm_msg"]
    assert opened[0]["content"] == {"comm_id": comm_id, "data": {"hello": {"x": 1}}}
    info = shell_reply(kc, kc.comm_info(target_name="echo-target"))["content"]
    assert info["comms"] == {comm_id: {"target_name": "echo-target"}}
    msg_id = comm_message(kc, "comm_msg", {"comm_id": comm_id, "data": {"n": 2}}, [b"abc"])
    echoed = next(m for m in collect_iopub(kc, msg_id) if m["msg_type"] == "comm_msg")
    assert echoed["content"]["data"] == {"echo": {"n": 2}, "nbuf": 1}
    assert [bytes(b) for b in echoed["buffers"]] == [b"cba"]
    msg_id = comm_message(kc, "comm_close", {"comm_id": comm_id, "data": {}})
    collect_iopub(kc, msg_id)
    assert shell_reply(kc, kc.comm_info())["content"]["comms"].get(comm_id) is None


def test_kernel_opened_comm_reaches_the_frontend_with_the_cell_as_parent(kernel):
    _, kc = kernel
    msg_id = kc.execute("import comm\nk = comm.create_comm(target_name='from-kernel', data={'v': 1})")
    iopub = collect_iopub(kc, msg_id)
    opens = [m for m in iopub if m["msg_type"] == "comm_open"]
    assert opens[0]["content"]["target_name"] == "from-kernel"
    assert opens[0]["content"]["data"] == {"v": 1}
    assert opens[0]["parent_header"]["msg_id"] == msg_id
    shell_reply(kc, msg_id)
    comms = shell_reply(kc, kc.comm_info(target_name="from-kernel"))["content"]["comms"]
    assert list(comms.values()) == [{"target_name": "from-kernel"}]


def test_messages_for_unknown_comms_are_ignored(kernel):
    _, kc = kernel
    msg_id = comm_message(kc, "comm_msg", {"comm_id": "nope", "data": {}})
    assert [m["msg_type"] for m in collect_iopub(kc, msg_id)] == ["status", "status"]
    reply, _ = execute(kc, "'still fine'")
    assert reply["content"]["status"] == "ok"
