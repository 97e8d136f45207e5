"""Pragma family: connection — connect.

``#%connect()`` / ``#%connect(backend=local, workers=N)``: the embedded scheduler;
``#%connect(backend=dask, [url=tcp://...])``: a Dask cluster (started here without url);
``#%connect(host=.., [port=..], login=.., [password=..])``, ``#%connect(url=http(s)://..)``,
``#%connect(path=config.ini)``: a ProActive scheduler. A connect that fails says where and why
and keeps the previous backend.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from pragma_kernel.pragmas.declaration import Param, PragmaCall, pragma
from pragma_kernel.pragmas.errors import OptionalPartMissing, PragmaError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pragma_kernel.kernel.seam import OutputContext
    from pragma_kernel.pragmas.backends.base import Backend

#: the most worker processes a connect may ask for (local, or a Dask cluster started here)
MAX_WORKERS = 1024
PROACTIVE_PARAMS = ("host", "port", "login", "password", "path")


class ConnectError(PragmaError):
    """A backend could not be reached; the previous one is still connected.

    The message is the whole story (address, reason, remedy) in one line: the pragma line is
    not repeated above it."""

    shows_pragma_line = False


@pragma(
    "connect",
    family="connection",
    summary="chooses where jobs run: local worker processes, a Dask cluster or ProActive",
    params=[
        Param("backend", "choice", choices=("local", "dask", "proactive"),
              help="local (default), dask or proactive (implied by host/login/path)"),
        Param("workers", "int", minimum=1, maximum=MAX_WORKERS,
              help="local: number of worker processes (default: one per core); dask without "
              "url: workers of the cluster started here"),
        Param("url", "url", help="dask: tcp://HOST:PORT of a scheduler; ProActive: "
              "http(s)://HOST:PORT of the server"),
        Param("host", "word", help="ProActive: the server's host"),
        Param("port", "int", minimum=1, maximum=65535,
              help="ProActive: the server's port (default 8080)"),
        Param("login", "word", help="ProActive: your login (asked for when missing)"),
        Param("password", "word", help="ProActive: your password (asked for, unechoed, when "
              "missing; better not written in the notebook)"),
        Param("path", "path", help="ProActive: a proactive_config.ini with url, login, password"),
    ],
    example="#%connect(backend=local, workers=4)",
    details="Without arguments: the embedded local scheduler. backend=dask without url starts "
    "a Dask cluster on this machine; its dashboard is linked in the progress display. The "
    "ProActive forms connect through the proactive SDK; a missing password is asked for "
    "through Jupyter's stdin. If the backend cannot be reached, the previous one stays.",
)  # fmt: skip
def connect(engine: Any, call: PragmaCall, ctx: OutputContext) -> None:
    kind = backend_kind(call)
    if kind == "dask" and importlib.util.find_spec("distributed") is None:
        raise OptionalPartMissing("the Dask backend", "dask", "'dask[distributed]'")
    try:
        backend = _open(kind, call, ctx)
    except connect_errors(kind) as exc:
        raise _failure(engine, kind, call, exc) from None
    engine.set_backend(backend)
    ctx.stream("stdout", f"Connected: {backend.describe()}\n")
    url = backend.dashboard_url()
    if url:
        ctx.display({"text/html": f'Dashboard: <a href="{url}" target="_blank">{url}</a>',
                     "text/plain": f"Dashboard: {url}"})  # fmt: skip


def backend_kind(call: PragmaCall) -> str:
    """local, dask or proactive, from ``backend=`` or the parameters given."""
    chosen = call.args.get("backend")
    if chosen:
        if chosen == "local" and call.given & {*PROACTIVE_PARAMS, "url"}:
            raise call.error("the local backend takes only workers=", "backend")
        return chosen
    if call.given & set(PROACTIVE_PARAMS):
        return "proactive"
    url = call.args.get("url") or ""
    if url.startswith(("http://", "https://")):
        return "proactive"
    if url:
        return "dask"
    return "local"


def connect_errors(kind: str) -> tuple[type[BaseException], ...]:
    """What a failed connect of this kind raises (anything else is a bug, shown as such)."""
    if kind == "dask":
        from pragma_kernel.pragmas.backends.dask import DaskConnectError

        return (DaskConnectError, OSError, TimeoutError)
    if kind == "proactive":
        from pragma_kernel.pragmas.backends.proactive import AUTOCONNECT_ERRORS

        return (*AUTOCONNECT_ERRORS, OSError)
    return (OSError, ValueError)


def _open(kind: str, call: PragmaCall, ctx: OutputContext) -> Backend:
    args = call.args
    if kind == "local":
        from pragma_kernel.pragmas.backends.local import LocalBackend

        backend = LocalBackend(workers=args.get("workers"))
        backend.start()
        return backend
    if kind == "dask":
        from pragma_kernel.pragmas.backends.dask import DaskBackend

        return DaskBackend.connect(url=args.get("url"), workers=args.get("workers"))
    from pragma_kernel.pragmas.backends.proactive import ProActiveBackend

    return ProActiveBackend.connect(
        host=args.get("host"),
        port=args.get("port"),
        url=args.get("url"),
        login=args.get("login"),
        password=args.get("password"),
        path=args.get("path"),
        ask_password=ctx.input,
    )


def _failure(engine: Any, kind: str, call: PragmaCall, exc: BaseException) -> ConnectError:
    """One line: what was tried (the URL or file), why it failed, what to do, what stays."""
    previous = engine.backend.describe() if engine.backend is not None else "local (default)"
    return ConnectError(f"{_reason(kind, call, exc)} {_REMEDY[kind]}. Still connected to "
                        f"{previous}.")


_REMEDY = {
    "proactive": "Check the address, login and password (or the file), then run the cell again",
    "dask": "Check that the scheduler runs at that address, then run the cell again",
    "local": "Run the cell again",
}


def _reason(kind: str, call: PragmaCall, exc: BaseException) -> str:
    args = call.args
    text = " ".join(str(exc).split()).rstrip(".")
    if kind == "proactive":
        from pragma_kernel.pragmas.backends.proactive import (
            ProActiveConfigError,
            ProActiveConnectionError,
            server_url,
        )

        if isinstance(exc, ProActiveConnectionError | ProActiveConfigError):
            return text + "."  # these already name the URL or the file
        where = args.get("path") or server_url(args.get("host"), args.get("port"),
                                               args.get("url"))
        return f"could not connect to the ProActive server at {where}: {text}."
    if kind == "dask":
        where = args.get("url") or "a new cluster on this machine"
        return f"could not connect to dask at {where}: {type(exc).__name__}: {text}."
    return f"could not start the local backend: {type(exc).__name__}: {text}."
