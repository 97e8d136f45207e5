"""Socket set-up and the heartbeat, with real zmq sockets on 127.0.0.1."""

from __future__ import annotations

import zmq
from pragma_kernel.protocol.channels import open_sockets
from pragma_kernel.protocol.connection import parse_connection_info
from pragma_kernel.protocol.heartbeat import Heartbeat

ZERO_PORTS = {f"{c}_port": 0 for c in ("shell", "iopub", "stdin", "control", "hb")}


def test_sockets_bind_the_given_address_and_pick_free_ports():
    context = zmq.Context()
    info = parse_connection_info({**ZERO_PORTS, "ip": "127.0.0.1"})
    bound = open_sockets(context, info, ("shell", "control", "stdin", "iopub"))
    try:
        for channel, socket in bound.sockets.items():
            endpoint = socket.getsockopt_string(zmq.LAST_ENDPOINT)
            assert endpoint == f"tcp://127.0.0.1:{bound.ports[channel]}"
        assert bound["iopub"].type == zmq.XPUB
        assert bound["shell"].type == zmq.ROUTER
    finally:
        context.destroy(linger=0)


def test_xpub_reports_every_subscriber():
    context = zmq.Context()
    info = parse_connection_info({**ZERO_PORTS, "ip": "127.0.0.1"})
    xpub = open_sockets(context, info, ("iopub",))["iopub"]
    subscribers = []
    try:
        for _ in range(2):
            sub = context.socket(zmq.SUB)
            subscribers.append(sub)
            sub.connect(xpub.getsockopt_string(zmq.LAST_ENDPOINT))
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            assert xpub.poll(5000), "no subscription event"
            assert xpub.recv() == b"\x01"
    finally:
        context.destroy(linger=0)


def test_heartbeat_echoes_frames_on_its_own_context():
    info = parse_connection_info({**ZERO_PORTS, "ip": "127.0.0.1"})
    heartbeat = Heartbeat(info)
    heartbeat.start()
    client = zmq.Context()
    try:
        req = client.socket(zmq.REQ)
        req.connect(f"tcp://127.0.0.1:{heartbeat.port}")
        for payload in (b"ping", b"\x00" * 100):
            req.send(payload)
            assert req.poll(5000)
            assert req.recv() == payload
    finally:
        client.destroy(linger=0)
        heartbeat.stop()
        heartbeat.join(5)
    assert not heartbeat.is_alive()
