"""The connection file the launcher writes: ports, address, transport and HMAC key."""

from __future__ import annotations

import json
from typing import NamedTuple

CHANNELS = ("shell", "control", "stdin", "iopub", "hb")


class ConnectionFileError(ValueError):
    """The connection file is missing, not JSON, or lacks a field the kernel needs."""


class ConnectionInfo(NamedTuple):
    ip: str
    transport: str
    key: bytes
    signature_scheme: str
    shell_port: int
    control_port: int
    stdin_port: int
    iopub_port: int
    hb_port: int

    def port(self, channel: str) -> int:
        return getattr(self, f"{channel}_port")

    def endpoint(self, channel: str) -> str:
        """``tcp://ip:port``, or ``ipc://ip-port`` for the ipc transport (ip is a path prefix)."""
        port = self.port(channel)
        if self.transport == "ipc":
            return f"ipc://{self.ip}-{port}"
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{self.transport}://{host}:{port}"


def parse_connection_info(data: dict) -> ConnectionInfo:
    """Validate the fields the kernel uses; unknown keys (kernel_name, curve keys) are ignored."""
    try:
        transport = data.get("transport", "tcp")
        if transport not in ("tcp", "ipc"):
            raise ConnectionFileError(f"transport {transport!r} is not supported (tcp or ipc)")
        ports = {f"{c}_port": int(data[f"{c}_port"]) for c in CHANNELS}
        return ConnectionInfo(
            ip=str(data.get("ip", "127.0.0.1")),
            transport=transport,
            key=str(data.get("key", "")).encode("utf-8"),
            signature_scheme=str(data.get("signature_scheme", "hmac-sha256")),
            **ports,
        )
    except KeyError as missing:
        raise ConnectionFileError(f"connection file lacks {missing.args[0]!r}") from None
    except (TypeError, ValueError) as error:
        if isinstance(error, ConnectionFileError):
            raise
        raise ConnectionFileError(f"connection file has a bad port value: {error}") from None


def read_connection_file(path: str) -> ConnectionInfo:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as error:
        raise ConnectionFileError(f"cannot read connection file {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise ConnectionFileError(f"connection file {path} is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ConnectionFileError(f"connection file {path} is not a JSON object")
    return parse_connection_info(data)


def write_connection_file(path: str, info: ConnectionInfo, ports: dict[str, int]) -> None:
    """Write ``info`` with the bound ``ports`` (a standalone start with port 0), mode 0600 from
    the first byte: the file holds the HMAC key."""
    import os

    data = {
        "ip": info.ip,
        "transport": info.transport,
        "key": info.key.decode("utf-8"),
        "signature_scheme": info.signature_scheme,
        **{f"{channel}_port": ports[channel] for channel in CHANNELS},
    }
    if os.path.exists(path):
        os.unlink(path)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
