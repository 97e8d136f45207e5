"""The JVM behind the ``proactive`` SDK: started on demand, shared, stopped at engine shutdown.

``proactive.ProActiveGateway`` starts a JVM through py4j (about 0.25 s) whether or not a server
exists; job building, XML export and ProActive's own schema validation all work offline. One
gateway serves the whole kernel: ``#%export_xml`` on any backend and the ProActive backend's
connection (which only points the gateway at its URL before logging in).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

#: the workflow namespace the SDK writes (``exportJob2XML``); validation follows the document's own
DEFAULT_NAMESPACE = "urn:proactive:jobdescriptor:3.13"
_OFFLINE_URL = "http://localhost:8080"  # never contacted: the SDK needs *a* URL to start

JVM_EXIT_WAIT = 2.0  #: seconds the JVM gets to exit after terminate() before it is killed

_lock = threading.Lock()
_gateway: Any = None


class JavaMissingError(RuntimeError):
    """No Java runtime: the SDK cannot start its JVM."""

    def __init__(self, detail: str = ""):
        message = (
            "ProActive's SDK needs a Java runtime and none was found (no `java` on PATH, no "
            "JAVA_HOME). Install one, e.g. `apt-get install default-jre-headless`, then retry."
        )
        super().__init__(message + (f" ({detail})" if detail else ""))


class SDKMissingError(RuntimeError):
    """The ``proactive`` SDK is not installed in the kernel's environment."""

    def __init__(self, detail: str):
        super().__init__(f"ProActive's SDK is not installed ({detail}): `pip install proactive`, "
                         "then restart the kernel")


class WorkflowXMLInvalid(ValueError):
    """ProActive's validator rejected a workflow; the message is the validator's own."""


def java_executable() -> str | None:
    """The ``java`` the SDK will start (py4j uses JAVA_HOME's, else the one on PATH)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = os.path.join(java_home, "bin", "java")
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("java")


def gateway() -> Any:
    """The shared ``proactive.ProActiveGateway``, starting its JVM on first use.

    Raises :class:`JavaMissingError` when there is no Java to start.
    """
    global _gateway
    with _lock:
        if _gateway is None:
            _gateway = _start_gateway()
        return _gateway


def is_running() -> bool:
    return _gateway is not None


def shutdown() -> None:
    """Stop the JVM if it was started (engine shutdown). Safe to call more than once."""
    global _gateway
    with _lock:
        started, _gateway = _gateway, None
    if started is not None:
        quiet_terminate(started)


def quiet_terminate(gateway: Any) -> None:
    """Stop a gateway's JVM, quietly and surely. ``terminate()`` logs the REST API out first,
    which prints "[ERROR] You are not connected!" when offline: noise for the user, not news.
    Offline, the scheduler client's own terminate ends the JVM under py4j, whose next call then
    fails to connect: the JVM is gone, which is what was asked. Online or not, the JVM process
    outlives terminate() until its stdin closes: it is closed here and the process waited for
    (killed if it lingers), so nothing is left running."""
    from py4j.protocol import Py4JError

    process = getattr(getattr(gateway, "runtime_gateway", None), "java_process", None)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            gateway.terminate()
    except Py4JError:
        pass
    if process is None:
        return
    if process.stdin is not None:
        process.stdin.close()  # py4j starts it with --die-on-broken-pipe: this is its exit
    try:
        process.wait(timeout=JVM_EXIT_WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _start_gateway() -> Any:
    if java_executable() is None:
        raise JavaMissingError()
    try:
        import proactive  # heavy import (py4j, requests): only when a JVM is really wanted
    except ImportError as missing:
        raise SDKMissingError(str(missing)) from None

    try:
        with _interrupts_ignored():
            return proactive.ProActiveGateway(_OFFLINE_URL)
    except Exception as exc:  # py4j raises a bare Exception when java fails to start
        if "java" in str(exc).lower():
            raise JavaMissingError(str(exc)) from exc
        raise


@contextlib.contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """Start the JVM with SIGINT ignored, a disposition that survives exec and that the JVM
    then keeps (as under ``nohup``). Jupyter interrupts a kernel by sending SIGINT to its
    whole process group: without this, interrupting any cell (and every shutdown, which
    interrupts first) would end the JVM and with it the ProActive connection. Only the main
    thread may change signal dispositions; elsewhere the JVM starts as it would anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    # py4j's threads, started meanwhile, inherit this thread's mask: blocked, SIGINT never
    # lands on them (it would reach the cell late, after the kernel went on to the next one)
    blocking = hasattr(signal, "pthread_sigmask")
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if blocking else None
    try:
        yield
    finally:
        if blocking:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, previous)


def jvm() -> Any:
    """The py4j JVM view (``jvm.org.ow2...``) of the shared gateway."""
    return gateway().runtime_gateway.jvm


def validate_workflow_xml(xml: str) -> None:
    """Check ``xml`` with ProActive's own validator and schema; raise :class:`WorkflowXMLInvalid`.

    Uses ``ValidationUtil.validate`` with the schema ``Schemas.getSchemaByNamespace`` names,
    read from inside the SDK's scheduler-api jar: the route that works on Java 17 (ProActive's
    full parser ``StaxJobFactory`` does not: its ImageIO service-registry check fails there).
    """
    from py4j.protocol import Py4JJavaError

    view = jvm()
    factories = view.org.ow2.proactive.scheduler.common.job.factories
    schema = factories.Schemas.getSchemaByNamespace(_namespace_of(xml))
    location = schema.getLocation()
    schema_stream = schema.getClass().getResourceAsStream(location)
    if schema_stream is None:
        raise WorkflowXMLInvalid(f"ProActive's schema {location} is missing from the SDK's jars")
    document = view.java.io.ByteArrayInputStream(xml.encode("utf-8"))
    try:
        factories.ValidationUtil.validate(document, schema_stream)
    except Py4JJavaError as exc:
        raise WorkflowXMLInvalid(str(exc.java_exception.getMessage())) from None
    finally:
        schema_stream.close()


def _namespace_of(xml: str) -> str:
    """The job descriptor namespace the document declares (the SDK's default otherwise)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml.encode("utf-8"))
    except ET.ParseError as exc:
        raise WorkflowXMLInvalid(f"not well-formed XML: {exc}") from None
    if root.tag.startswith("{"):
        return root.tag[1:].split("}", 1)[0]
    return DEFAULT_NAMESPACE
