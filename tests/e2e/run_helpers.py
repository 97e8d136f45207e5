"""Helpers for the tests that run jobs through the real kernel (test_run_*.py)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import execute

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def streams(outputs: list[dict], name: str = "stdout") -> str:
    return "".join(m["content"]["text"] for m in outputs
                   if m["msg_type"] == "stream" and m["content"]["name"] == name)  # fmt: skip


def plain(outputs: list[dict]) -> list[str]:
    """text/plain of every display/result, in order."""
    return [m["content"]["data"]["text/plain"] for m in outputs
            if m["msg_type"] in ("display_data", "execute_result", "update_display_data")]  # fmt: skip


def error_of(outputs: list[dict]) -> tuple[str, str]:
    errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
    assert len(errors) == 1, outputs
    return errors[0]["ename"], ANSI.sub("", "\n".join(errors[0]["traceback"]))


def ok(kc, code: str, timeout: float = 60) -> list[dict]:
    reply, outputs = execute(kc, code, timeout=timeout)
    assert reply["content"]["status"] == "ok", outputs
    return outputs


def failing(kc, code: str, timeout: float = 60) -> tuple[str, str]:
    reply, outputs = execute(kc, code, timeout=timeout)
    assert reply["content"]["status"] == "error", outputs
    return error_of(outputs)


@pytest.fixture
def job(kernel):
    """The kernel's client and ``define(name, header, body)``; a sentinel in the namespace is
    checked intact afterwards and every task defined is removed."""
    _, kc = kernel
    ok(kc, "sentinel = 'untouched'\nindependent_value = None")
    defined: list[str] = []

    def define(name: str, header: str, body: str) -> None:
        ok(kc, f"#%task(name={name}{header})\n{body}")
        defined.append(name)

    yield kc, define
    for name in defined:
        execute(kc, f"#%delete_task(name={name})")
    assert "'untouched'" in streams(ok(kc, "print(repr(sentinel))"))
