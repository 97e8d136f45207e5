"""Connection files: reading, endpoints, and writing one (standalone start) with mode 0600."""

from __future__ import annotations

import json
import stat

import pytest
from jupyter_client.connect import write_connection_file as jupyter_write
from pragma_kernel.protocol.connection import (
    ConnectionFileError,
    parse_connection_info,
    read_connection_file,
    write_connection_file,
)

PORTS = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}


def test_reads_the_file_jupyter_client_writes(tmp_path):
    path, info = jupyter_write(str(tmp_path / "kernel.json"), ip="127.0.0.1", key=b"secret")
    parsed = read_connection_file(path)
    assert parsed.key == b"secret"
    assert parsed.endpoint("shell") == f"tcp://127.0.0.1:{info['shell_port']}"
    assert parsed.port("hb") == info["hb_port"]


def test_unknown_keys_are_ignored():
    info = parse_connection_info({**PORTS, "kernel_name": "x", "curve_publickey": "y"})
    assert info.signature_scheme == "hmac-sha256"


def test_ipc_and_ipv6_endpoints():
    assert parse_connection_info({**PORTS, "transport": "ipc", "ip": "/tmp/k"}).endpoint(
        "iopub"
    ) == "ipc:///tmp/k-2"
    assert parse_connection_info({**PORTS, "ip": "::1"}).endpoint("shell") == "tcp://[::1]:1"


@pytest.mark.parametrize(
    "data, message",
    [
        ({k: v for k, v in PORTS.items() if k != "hb_port"}, "hb_port"),
        ({**PORTS, "shell_port": "x"}, "bad port"),
        ({**PORTS, "transport": "udp"}, "udp"),
    ],
)
def test_bad_files_name_the_problem(data, message):
    with pytest.raises(ConnectionFileError, match=message):
        parse_connection_info(data)


def test_unreadable_or_non_json_file(tmp_path):
    with pytest.raises(ConnectionFileError, match="cannot read"):
        read_connection_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConnectionFileError, match="not JSON"):
        read_connection_file(tmp_path / "bad.json")


def test_written_file_is_private_and_complete(tmp_path):
    info = parse_connection_info({**PORTS, "key": "k"})
    path = tmp_path / "c.json"
    path.write_text("{}")
    write_connection_file(path, info, {"shell": 11, "iopub": 12, "stdin": 13, "control": 14, "hb": 15})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["shell_port"] == 11 and data["hb_port"] == 15 and data["key"] == "k"
