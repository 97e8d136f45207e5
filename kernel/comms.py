"""Comms (ipywidgets and friends) through the ``comm`` package.

Libraries create comms with ``comm.create_comm(...)`` and find the manager with
``comm.get_comm_manager()``; :func:`install_comm_hooks` points both at this kernel, so ipywidgets
works unmodified. Messages a comm sends go to IOPub with the request now running as parent (so an
Output widget routes correctly). Without the ``comm`` package no comm can exist: every
``comm_open`` from the frontend is answered with ``comm_close``, as for an unknown target.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from pragma_kernel.kernel.context import CellContext, current_context
from pragma_kernel.protocol.wire import Message

log = logging.getLogger(__name__)


def _publish(msg_type: str, content: dict[str, Any], metadata=None, buffers=None) -> None:
    context = current_context()
    if context is None:
        log.warning("%s dropped: no request to attach it to", msg_type)
        return
    context.io.publisher.publish(
        msg_type, content, context.parent_header, metadata, [bytes(b) for b in buffers or []]
    )


def _comm_classes() -> tuple[type, type] | None:
    try:
        from comm.base_comm import BaseComm, CommManager
    except ImportError:
        return None

    class KernelComm(BaseComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            content = {"comm_id": self.comm_id, "data": data or {}}
            content.update(keys)  # target_name/target_module of a comm_open
            _publish(msg_type, content, metadata, buffers)

        def handle_msg(self, msg):
            # BaseComm's version fires IPython's events around the callback through
            # IPython.get_ipython(); the same events of this kernel's get_ipython(), without
            # importing IPython (ipympl and matplotlib redraw figures on post_execute)
            if not self._msg_callback:
                return
            from pragma_kernel.kernel.ipython_compat import get_ipython

            shell = get_ipython()
            if shell is not None:
                shell.events.trigger("pre_execute")
            self._msg_callback(msg)
            if shell is not None:
                shell.events.trigger("post_execute")

    class KernelCommManager(CommManager):
        """The ``comm`` package's manager with its tables behind a lock: the main shell and
        the subshells open, use and close comms at the same time (JupyterLab sends widget
        traffic to a subshell). Callbacks run outside the lock, on the thread of the request."""

        def __init__(self) -> None:
            super().__init__()
            self._lock = threading.RLock()

        def register_target(self, target_name, f) -> None:
            with self._lock:
                super().register_target(target_name, f)

        def unregister_target(self, target_name, f):
            with self._lock:
                return super().unregister_target(target_name, f)

        def register_comm(self, comm) -> str:
            with self._lock:
                return super().register_comm(comm)

        def unregister_comm(self, comm) -> None:
            with self._lock:
                super().unregister_comm(comm)

        def get_comm(self, comm_id):
            with self._lock:
                return super().get_comm(comm_id)

        def comms_of(self, target_name: str | None) -> dict[str, str]:
            """comm_id -> target name, of ``target_name`` (None: of every target)."""
            with self._lock:
                return {comm_id: comm.target_name for comm_id, comm in self.comms.items()
                        if target_name is None or comm.target_name == target_name}

        def comm_close(self, stream, ident, msg) -> None:
            # BaseComm's version reads the table twice: a close from another shell in between
            # made it raise KeyError
            comm_id = msg["content"]["comm_id"]
            with self._lock:
                comm = self.comms.pop(comm_id, None)
            if comm is None:
                log.warning("comm_close: no comm %s", comm_id)
                return
            comm._closed = True
            try:
                comm.handle_close(msg)
            except Exception:  # the library's callback: logged, as the comm package does
                log.exception("comm_close of %s: the callback failed", comm_id)

    return KernelComm, KernelCommManager


class KernelComms:
    """The frontend-facing side: comm_open/comm_msg/comm_close/comm_info handlers."""

    def __init__(self) -> None:
        self._manager = None
        self._comm_class: type | None = None
        self._installed = False
        self._installing = threading.Lock()

    def install(self) -> None:
        """Hook the ``comm`` package (once; cheap, so done before the first cell)."""
        if self._installed:
            return
        with self._installing:
            if self._installed:
                return
            classes = _comm_classes()
            if classes is not None:
                import comm

                self._comm_class, manager_class = classes
                self._manager = manager_class()
                comm.create_comm = self._comm_class
                comm.get_comm_manager = lambda: self._manager
            self._installed = True

    def register_target(self, name: str, callback: Callable) -> None:
        self.install()
        if self._manager is None:
            raise RuntimeError("comm targets need the 'comm' package (pip install comm)")
        self._manager.register_target(name, callback)

    def info(self, target_name: str | None) -> dict[str, dict[str, str]]:
        self.install()
        if self._manager is None:
            return {}
        comms = self._manager.comms_of(target_name)
        return {comm_id: {"target_name": target} for comm_id, target in comms.items()}

    def handle(self, request: Message, context: CellContext) -> None:
        """Route a frontend comm message (``context`` is already the current one)."""
        self.install()
        content = request.content
        if not isinstance(content.get("comm_id"), str):
            log.warning("%s without a comm_id dropped", request.msg_type)
            return
        if self._manager is None:
            if request.msg_type == "comm_open":
                context.io.publisher.publish(
                    "comm_close", {"comm_id": content["comm_id"], "data": {}},
                    request.header,
                )
            return
        if request.msg_type == "comm_open" and not isinstance(content.get("target_name"), str):
            log.warning("comm_open without a target_name dropped")
            return
        message = {
            "header": request.header,
            "parent_header": request.parent_header,
            "metadata": request.metadata,
            "content": content,
            "buffers": [bytes(b) for b in request.buffers],
            "msg_type": request.msg_type,
            "msg_id": request.msg_id,
        }
        getattr(self._manager, request.msg_type)(None, request.idents, message)
