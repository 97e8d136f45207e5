"""The ProActive backend: a ProActive scheduler reached through the ``proactive`` SDK.

The job plan becomes a ProActive workflow (``proactive_job``), is submitted through the SDK, and
a monitor thread polls the job's task states into the listener (pending, running, done, failed,
skipped), fetching each finished task's result payload (result, exports, pictures) and its
output logs. Cancelling kills the job. The portals and the resource manager's model are here too.

Everything the backend asks of the server goes through a :class:`SchedulerSession`;
:class:`SDKSession` is the real one over ``proactive.ProActiveGateway``. Tests that cannot reach
a server pass a stand-in session instead (see ``tests/pragmas/proactive_standin.py``).

How the rest of the engine uses it:

- ``#%connect(host=|url=|path=|login=...)``: ``ProActiveBackend.connect(host=, port=, url=,
  login=, password=, path=, ask_password=ctx.input)``; on :data:`AUTOCONNECT_ERRORS` say why and
  keep the previous backend.
- At start (the first pragma cell, when a ``ctx`` can ask for a password):
  ``auto_connect(os.getcwd(), ctx.input)``: None when there is no ``proactive_config.ini``, else
  an :class:`AutoConnect` with the backend (None: stay on the local one) and the one line to say.
- ``#%submit_job(nodesource=, host=, token=)``: ``backend.submit(plan, listener,
  placement=Placement(nodesource, host, token))`` on this backend; on the others,
  ``engine.say_once(text, text, ctx)`` for each of ``proactive_only_notices(job, backend.name,
  options)``.
- Engine shutdown: ``pragma_kernel.pragmas.proactive_jvm.shutdown()`` stops the SDK's JVM if it was started.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import os
import pickle
import re
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from pragma_kernel.pragmas.backends import proactive_task
from pragma_kernel.pragmas.backends.base import (
    PLACEMENT_OPTIONS,
    Backend,
    JobPlan,
    JobRun,
    Listener,
    Output,
    TaskError,
    TaskResult,
    TaskState,
)
from pragma_kernel.pragmas.backends.proactive_job import Placement, Workflow, build_workflow
from pragma_kernel.pragmas.errors import PragmaError
from pragma_kernel.pragmas.task_files import FileRef

#: ``ask_password(prompt, password=True) -> str``: the kernel's stdin (never echoed)
AskPassword = Callable[..., str]

CONFIG_FILE_NAME = "proactive_config.ini"
DEFAULT_HOST = "try.activeeon.com"
PORTALS = {
    "resource_manager": "/rm/",
    "scheduling_portal": "/scheduler/",
    "workflow_execution": "/automation-dashboard/#/workflow-execution",
}
RESOURCE_KINDS = ("nodesources", "hosts", "tokens")

#: ProActive TaskStatus names -> the kernel's task states
_TASK_STATES = {
    "FINISHED": TaskState.DONE,
    "FAULTY": TaskState.FAILED,
    "FAILED": TaskState.FAILED,
    "IN_ERROR": TaskState.FAILED,
    "WAITING_ON_ERROR": TaskState.RUNNING,  # ProActive retries it
    "WAITING_ON_FAILURE": TaskState.RUNNING,
    "RUNNING": TaskState.RUNNING,
    "NOT_STARTED": TaskState.SKIPPED,
    "NOT_RESTARTED": TaskState.SKIPPED,
    "SKIPPED": TaskState.SKIPPED,
    "ABORTED": TaskState.CANCELLED,
}
#: ProActive JobStatus names meaning the job will not change any more
_FINAL_JOB_STATUSES = frozenset({"FINISHED", "CANCELED", "FAILED", "KILLED", "IN_ERROR"})


class ProActiveConnectionError(ConnectionError):
    """Connecting to a ProActive server failed; the message has the URL and the reason."""


class ProActiveSubmitError(PragmaError):
    """The server refused the job or could not be reached while submitting it."""


class ProActiveConfigError(ValueError):
    """A ``proactive_config.ini`` the kernel cannot use; the message says what it expects."""


def _autoconnect_errors() -> tuple[type[Exception], ...]:
    from pragma_kernel.pragmas.proactive_jvm import JavaMissingError, SDKMissingError

    return (ProActiveConnectionError, ProActiveConfigError, JavaMissingError, SDKMissingError)


#: what a failed connect raises (connection refused or login rejected, bad ini file, no Java)
AUTOCONNECT_ERRORS = _autoconnect_errors()


@dataclass
class TaskReport:
    """What the server tells about one finished ProActive task (one replica)."""

    value: Any = None  #: the task's ``result``
    exception: str | None = None  #: the exception message when the task failed
    stdout: str = ""
    stderr: str = ""


class SchedulerSession(Protocol):
    """The calls the backend makes on a ProActive scheduler."""

    def submit(self, workflow: Workflow, input_folder: str, output_folder: str) -> str:
        """Submit the workflow; its input space is ``input_folder``; the output space comes
        back to ``output_folder`` when the job ends. Returns the job id."""

    def job_state(self, job_id: str) -> tuple[str, dict[str, str]]:
        """ProActive's JobStatus name (PENDING, RUNNING, FINISHED, KILLED, ...) and, for each
        ProActive task (replicas are ``T*1``, ``T*2``...), its TaskStatus name."""

    def task_report(self, job_id: str, task_name: str) -> TaskReport:
        """The result and logs of a finished ProActive task."""

    def pull_files(self, job_id: str, task_name: str, folder: str) -> None:
        """Bring the files a finished task sent to the output space into ``folder``."""

    def kill(self, job_id: str) -> None: ...

    def resources(self, kind: str) -> list[str]:
        """The resource manager's model: ``nodesources``, ``hosts`` or ``tokens``."""

    def submit_from_catalog(self, bucket: str, workflow: str, variables: dict[str, str]) -> str:
        """Submit a workflow of the server's catalog (the SDK's one catalog call); the job id."""

    def close(self) -> None: ...


# -- connection ----------------------------------------------------------------------------------


def server_url(host: str | None = None, port: int | str | None = None, url: str | None = None) -> str:
    """The server's base URL by Activeeon's rules: url as given; host+port -> https://host:port;
    host only -> http://host:8080; port only -> https://try.activeeon.com:port."""
    if url:
        return url.rstrip("/")
    if host and port:
        return f"https://{host}:{port}"
    if host:
        return f"http://{host}:8080"
    return f"https://{DEFAULT_HOST}:{port or 8443}"


def config_file_in(directory: str) -> str | None:
    """The ``proactive_config.ini`` of ``directory`` when there is one (auto-connect at start)."""
    path = os.path.join(directory, CONFIG_FILE_NAME)
    return path if os.path.isfile(path) else None


def read_config_file(path: str) -> tuple[str, str | None, str | None]:
    """``(url, login, password)`` from either ini layout Activeeon's kernel reads::

        [proactive_server]          [proactive_server]
        url = https://host:8443     protocol = https    (optional here)
                                    host = host
        [user]                      port = 8443
        login = me
        password = secret           (optional: asked for when missing)
    """
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as file:
            parser.read_file(file)
    except (OSError, configparser.Error) as exc:
        raise ProActiveConfigError(f"cannot read {path}: {exc}") from None
    if not parser.has_section("proactive_server"):
        raise ProActiveConfigError(
            f"{path} has no [proactive_server] section; it needs url=..., or host= and port= "
            "(and optionally protocol=), plus a [user] section with login= (and password=)"
        )
    server = parser["proactive_server"]
    url = server.get("url", "").strip()
    host, port = server.get("host", "").strip(), server.get("port", "").strip()
    protocol = server.get("protocol", "").strip()
    if not url and not host:
        raise ProActiveConfigError(f"{path}: [proactive_server] needs url= or host=")
    if not url and protocol:
        url = f"{protocol}://{host}:{port or 8080}"
    url = server_url(host or None, port or None, url or None)
    user = parser["user"] if parser.has_section("user") else {}
    login = (user.get("login") or "").strip() or None
    password = user.get("password") or None
    return url, login, password


@dataclass(frozen=True)
class AutoConnect:
    """What the auto-connect at start did: the backend (None: the kernel stays on the local
    one) and the one line that tells the user, on ``stream``."""

    backend: ProActiveBackend | None
    notice: str
    stream: str = "stdout"


def auto_connect(directory: str, ask_password: AskPassword | None = None) -> AutoConnect | None:
    """The auto-connect at start, by Activeeon's rules: None when ``directory`` has no
    ``proactive_config.ini``; no sign-in attempt when its login is blank (Activeeon's own
    example folder ships it so); every failure becomes one line naming the file and the remedy
    (Activeeon's kernel refused every cell after one)."""
    path = config_file_in(directory)
    if path is None:
        return None
    try:
        url, login, password = read_config_file(path)
        if login is None:
            return AutoConnect(None, (
                f"{path} names the ProActive server {url} with a blank login: not signing in "
                "(as Activeeon's kernel); jobs run on the local backend. To use the server, "
                f"write login= (and password=) under [user] and restart the kernel, or run "
                f"#%connect(url={url}, login=...)."))
        backend = ProActiveBackend.connect(url=url, login=login, password=password,
                                           ask_password=ask_password)
    except AUTOCONNECT_ERRORS as exc:
        return AutoConnect(None, (
            f"Auto-connect from {path} failed: {_sentence(exc)} Jobs run on the local backend; "
            "correct the file and restart the kernel, or run #%connect(...)."), "stderr")
    return AutoConnect(backend, f"Connected from {path}: {backend.describe()}")


def _sentence(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if text.endswith(".") else text + "."


class ProActiveBackend(Backend):
    """Jobs run by a ProActive scheduler; see the module docstring."""

    name = "proactive"

    def __init__(self, session: SchedulerSession, url: str, login: str, poll_interval: float = 1.0):
        self.session = session
        self.url = url.rstrip("/")
        self.login = login
        self.poll_interval = poll_interval
        self._monitors: dict[str, _JobMonitor] = {}

    @classmethod
    def connect(
        cls,
        host: str | None = None,
        port: int | str | None = None,
        url: str | None = None,
        login: str | None = None,
        password: str | None = None,
        path: str | None = None,
        ask_password: AskPassword | None = None,
    ) -> ProActiveBackend:
        """Log in to a ProActive server (``#%connect(host=..)``, ``(url=..)``, ``(path=..)``).

        A missing login or password is asked through ``ask_password`` (the kernel's stdin;
        the password is never echoed nor kept). Raises :class:`ProActiveConnectionError`.
        """
        if path:
            return cls.from_config_file(path, ask_password)
        base = server_url(host, port, url)
        login = login or _ask(ask_password, f"ProActive login for {base}: ", False, base)
        password = password or _ask(ask_password, f"Password of {login} at {base}: ", True, base)
        return cls(SDKSession.open(base, login, password), base, login)

    @classmethod
    def from_config_file(cls, path: str, ask_password: AskPassword | None = None) -> ProActiveBackend:
        """Connect with a ``proactive_config.ini`` (both layouts, see :func:`read_config_file`)."""
        url, login, password = read_config_file(path)
        return cls.connect(url=url, login=login, password=password, ask_password=ask_password)

    def describe(self) -> str:
        return f"ProActive scheduler at {self.url} (as {self.login})"

    def dashboard_url(self) -> str | None:
        return self.portal_url("scheduling_portal")

    def portal_url(self, portal: str, host: str | None = None) -> str:
        """The URL of one of the server's portals (``PORTALS``); ``host`` replaces the server's
        host name, for a browser that reaches it under another name."""
        base = self.url
        if host:
            parts = urlsplit(base)
            netloc = host if ":" in host or parts.port is None else f"{host}:{parts.port}"
            base = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        return base + PORTALS[portal]

    def submit_from_catalog(self, bucket: str, workflow: str, variables: dict[str, str]) -> str:
        """Submit a workflow stored in the server's catalog; it is not followed (see
        ``#%submit_from_catalog``). Returns its job id."""
        return str(self.session.submit_from_catalog(bucket, workflow, variables))

    def resources(self, kind: str) -> list[str]:
        if kind not in RESOURCE_KINDS:
            raise ValueError(f"unknown resource kind {kind!r}; one of {', '.join(RESOURCE_KINDS)}")
        return [r for r in self.session.resources(kind) if r]

    def submit(
        self, plan: JobPlan, listener: Listener, placement: Placement | None = None
    ) -> JobRun:
        # submit_job's ProActive options travel on the plan (see declarations/running.py)
        options = plan.placement
        if placement is None:
            placement = Placement(options.get("nodesource"), options.get("host"),
                                  options.get("token"))  # fmt: skip
        workflow = build_workflow(plan, placement=placement)
        folder = tempfile.mkdtemp(prefix=f"pragma-{plan.name}-")
        input_folder = options.get("input_path") or os.path.join(folder, "input")
        output_folder = options.get("output_path") or os.path.join(folder, "output")
        os.makedirs(input_folder, exist_ok=True)
        os.makedirs(output_folder, exist_ok=True)
        workflow.write_input_files(input_folder, plan)
        try:
            job_id = str(self.session.submit(workflow, input_folder, output_folder))
        except ProActiveSubmitError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        run = JobRun(job_id, plan, self, listener)
        monitor = _JobMonitor(self, run, workflow, folder, output_folder)
        self._monitors[job_id] = monitor
        monitor.start()
        return run

    def cancel(self, run: JobRun) -> None:
        if run.done:
            return
        self.session.kill(run.job_id)
        monitor = self._monitors.get(run.job_id)
        if monitor is not None:
            monitor.cancelled.set()
            monitor.thread.join(timeout=max(5.0, 3 * self.poll_interval))

    def close(self) -> None:
        for monitor in list(self._monitors.values()):
            monitor.stop.set()
        self.session.close()


def _ask(ask_password: AskPassword | None, prompt: str, password: bool, url: str) -> str:
    what = "password" if password else "login"
    cannot_ask = (
        f"could not connect to the ProActive server at {url}: no {what} given, and this "
        f"front end cannot ask for one; give {what}= to #%connect or write it in "
        f"{CONFIG_FILE_NAME}"
    )
    if ask_password is None:
        raise ProActiveConnectionError(cannot_ask)
    try:
        answer = ask_password(prompt, password=password)
    # A front end that does not allow stdin (nbclient, papermill, nbconvert) makes the
    # kernel's input() raise RuntimeError (StdinNotAllowed); Ctrl-D is EOFError.
    except RuntimeError:
        raise ProActiveConnectionError(cannot_ask) from None
    except EOFError:
        answer = ""
    if not answer:
        raise ProActiveConnectionError(
            f"could not connect to the ProActive server at {url}: no {what} entered")
    return answer


# -- the real session ----------------------------------------------------------------------------


def _forget_credentials(gateway: Any) -> None:
    """After a failed login, drop the SDK's copies of the password: its REST client keeps it
    in an attribute, and the JVM's smart proxy in its ConnectionInfo, so the proxy is replaced
    by a fresh one (the JVM collects the old). Python cannot erase a string's memory: what it
    can do is keep no reference."""
    gateway.proactive_rest_api.password = None
    gateway.proactive_scheduler_client = gateway.proactive_factory.create_smart_proxy()


class SDKSession:
    """A :class:`SchedulerSession` over the SDK's ``ProActiveGateway`` (the kernel's shared JVM)."""

    def __init__(self, gateway: Any, url: str):
        self.gateway = gateway
        self.url = url

    @classmethod
    def open(cls, url: str, login: str, password: str) -> SDKSession:
        from pragma_kernel.pragmas import proactive_jvm
        from py4j.protocol import Py4JError
        from requests import RequestException

        gateway = proactive_jvm.gateway()
        gateway.base_url = url  # the SDK appends /rest and logs in there
        chatter = io.StringIO()
        failure = None
        try:
            with contextlib.redirect_stdout(chatter):
                gateway.connect(username=login, password=password)
                connected = gateway.isConnected()
        except (Py4JError, RequestException, OSError) as exc:
            traceback.clear_frames(exc.__traceback__)  # the SDK's frames hold the password
            failure = f"could not connect to the ProActive server at {url}: {_reason(exc)}"
        else:
            if not connected:
                said = " ".join(chatter.getvalue().split()) or "the server refused the login"
                failure = f"could not log in to {url} as {login}: {said}"
        if failure is not None:
            del password  # not in this frame, which the error's traceback keeps
            _forget_credentials(gateway)
            raise ProActiveConnectionError(failure)
        return cls(gateway, url)

    @property
    def client(self) -> Any:
        return self.gateway.getProactiveClient()

    def submit(self, workflow: Workflow, input_folder: str, output_folder: str) -> str:
        from py4j.protocol import Py4JError

        # the smart proxy pushes the input folder; the output space comes back task by task,
        # when a finished task has large values there (pull_files), not all at the job's end
        try:
            job_id = self.client.submit(workflow.java_job, input_folder, output_folder, False, False)
        except Py4JError as exc:
            raise ProActiveSubmitError(
                f"the ProActive server at {self.url} did not take job '{workflow.name}': "
                f"{_reason(exc)}"
            ) from None
        return str(job_id.longValue())

    def job_state(self, job_id: str) -> tuple[str, dict[str, str]]:
        state = self.client.getJobState(job_id)
        tasks = {str(t.getName()): str(t.getStatus().name()) for t in state.getTasks()}
        return str(state.getStatus().name()), tasks

    def task_report(self, job_id: str, task_name: str) -> TaskReport:
        result = self.client.getTaskResult(job_id, task_name)
        if result is None:  # finished without a stored result (e.g. killed in between)
            return TaskReport(exception=f"the server has no result for task {task_name}")
        output = result.getOutput()
        report = TaskReport(
            stdout=str(output.getStdoutLogs(False)) if output else "",
            stderr=str(output.getStderrLogs(False)) if output else "",
        )
        if result.hadException():
            report.exception = str(result.getException().getMessage())
        else:
            report.value = result.getValue()
        return report

    def pull_files(self, job_id: str, task_name: str, folder: str) -> None:
        self.client.pullData(job_id, task_name, folder)

    def submit_from_catalog(self, bucket: str, workflow: str, variables: dict[str, str]) -> str:
        from py4j.protocol import Py4JError

        try:
            return str(self.gateway.submitWorkflowFromCatalog(bucket, workflow, variables))
        except Py4JError as exc:
            raise ProActiveSubmitError(
                f"the ProActive server at {self.url} did not submit {bucket}/{workflow} from "
                f"its catalog: {_reason(exc)}") from None

    def kill(self, job_id: str) -> None:
        self.client.killJob(job_id)

    def resources(self, kind: str) -> list[str]:
        from requests import RequestException

        api = self.gateway.getProactiveRestApi()
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the SDK prints status codes
                return list(getattr(api, f"get_rm_model_{kind}")())
        except (RequestException, OSError) as exc:
            raise ProActiveConnectionError(
                f"could not read the resource manager of {self.url}: {exc}") from None

    def close(self) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            self.gateway.disconnect()


def _reason(exc: BaseException) -> str:
    """The root cause of a (Java) exception, which is what tells the user what went wrong."""
    java = getattr(exc, "java_exception", None)
    if java is None:
        return str(exc) or type(exc).__name__
    root, depth = java, 0
    while root.getCause() is not None and depth < 20:
        root, depth = root.getCause(), depth + 1
    message = root.getMessage()
    return f"{root.getClass().getSimpleName()}: {message}" if message else str(root.toString())


# -- following a job -----------------------------------------------------------------------------


class _JobMonitor:
    """Polls one job until it is over, reporting states, outputs and results."""

    def __init__(
        self,
        backend: ProActiveBackend,
        run: JobRun,
        workflow: Workflow,
        folder: str,
        output_folder: str,
    ):
        self.backend, self.run, self.workflow = backend, run, workflow
        self.life = run.life  #: the tasks' states: this monitor reports what the server says
        self.folder, self.output_folder = folder, output_folder
        self.cancelled = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self._follow, name=f"proactive-job-{run.job_id}", daemon=True
        )

    def start(self) -> None:
        self.life.announce()
        self.thread.start()

    def _follow(self) -> None:
        session, job_id = self.backend.session, self.run.job_id
        try:
            while not self.stop.is_set():
                status, tasks = session.job_state(job_id)
                over = status in _FINAL_JOB_STATUSES or self.cancelled.is_set()
                self._update(tasks, over)
                if over:
                    break
                self.stop.wait(self.backend.poll_interval)
        # Whatever breaks while following (server gone, session expired, py4j down) must not
        # leave the notebook waiting forever: the tasks left are failed with the reason.
        except Exception as exc:  # noqa: BLE001
            self._fail_remaining(exc)
        finally:
            self._close_remaining()
            self.run.finish()
            # the job's own input folder (under the temporary folder unless input_path=)
            shutil.rmtree(os.path.join(self.folder, "input"), ignore_errors=True)

    def _update(self, statuses: dict[str, str], job_over: bool) -> None:
        replicas: dict[str, list[tuple[str, str]]] = {}
        for pa_name, status in statuses.items():
            base = _pa_base(pa_name)
            if self.workflow.task_of.get(base):
                replicas.setdefault(base, []).append((pa_name, status))
        for name in self.run.plan.tasks:  # topological: parents are settled first
            if self.run.results[name].state.final:
                continue  # (the descendants of a failed task were skipped with it)
            state = _combined_state([s for _, s in replicas.get(name, [])])
            if state == TaskState.DONE and name in self.workflow.looping and not job_over:
                state = TaskState.RUNNING  # its loop may run it again
            if state.final:
                self._settle(name, state, [n for n, _ in replicas[name]])
            elif state is TaskState.RUNNING:
                self.life.started(name)

    def _settle(self, name: str, state: TaskState, pa_names: list[str]) -> None:
        result = self.run.results[name]
        if state in (TaskState.DONE, TaskState.FAILED):
            pa_names = sorted(pa_names, key=_pa_position)
            reports = [self.backend.session.task_report(self.run.job_id, n) for n in pa_names]
            state = self._collect(name, result, pa_names, reports)
        result.finished = result.finished or time.time()
        if state is TaskState.FAILED:
            self.life.failed(name, None)  # _collect put its error in place
        else:
            self.life.set_state(name, state)

    def _collect(
        self, name: str, result: TaskResult, pa_names: list[str], reports: list[TaskReport]
    ) -> TaskState:
        replicated = name in self.workflow.replicated
        results, exports, failed = [], {}, False
        last_iteration = max(_pa_position(n)[0] for n in pa_names)
        for pa_name, report in zip(pa_names, reports):
            iteration, index = _pa_position(pa_name)
            replica = index if replicated else None
            self._emit_logs(name, report, replica)
            if iteration < last_iteration:  # an earlier round of a loop: its outputs only
                continue
            payload = _payload_of(report)
            if payload is not None and _has_files(payload):
                self.backend.session.pull_files(self.run.job_id, pa_name, self.output_folder)
            if payload is None:
                failed = failed or report.exception is not None
                results.append(report.value)
                if report.exception is not None:
                    result.error = _platform_error(pa_name, report.exception)
                continue
            try:
                self._absorb(name, result, payload, replica, results, exports)
            # A value the kernel cannot load (a module only the node has, a file that did not
            # come back) fails this task, with the reason, not the whole job's monitoring.
            except (OSError, EOFError, ImportError, AttributeError, pickle.UnpicklingError) as exc:
                result.error = _platform_error(
                    pa_name, f"its values could not be loaded here: {type(exc).__name__}: {exc}")
                failed = True
                continue
            failed = failed or not payload["ok"]
        result.result = results if replicated else (results[0] if results else None)
        result.exports = exports
        return TaskState.FAILED if failed else TaskState.DONE

    def _absorb(self, name: str, result: TaskResult, payload: dict, replica: int | None,
                results: list, exports: dict) -> None:
        folder = self.output_folder
        for display in payload["displays"]:
            self._output(name, Output("display", data=display["data"],
                                      metadata=display["metadata"]), replica)
        if payload["error"] is not None:
            result.error = TaskError(**payload["error"])
        results.append(proactive_task.decode_value(payload["result"], folder))
        for key, text in payload["exports"].items():
            value = proactive_task.decode_value(text, folder)
            if replica is None:
                exports[key] = value
            else:
                exports.setdefault(key, []).append(value)
        for key, text in payload["variables"].items():
            result.variables[key] = proactive_task.decode_value(text, folder)
        for path, size in payload.get("files", ()):  # pulled from the output space already
            result.files.append(FileRef(path, size, location=os.path.join(folder, path),
                                        origin=name))
            result.file_traffic.outputs += 1
            result.file_traffic.output_bytes += size
        started, finished = payload.get("started"), payload.get("finished")
        if started:
            result.started = min(result.started or started, started)
        if finished:
            result.finished = max(result.finished or finished, finished)

    def _emit_logs(self, name: str, report: TaskReport, replica: int | None) -> None:
        for stream, text in (("stdout", report.stdout), ("stderr", report.stderr)):
            text = _without_failure_echo(text)
            if text:
                self._output(name, Output("stream", name=stream, text=text), replica)

    def _output(self, name: str, output: Output, replica: int | None) -> None:
        self.life.output_of(name, replica, output)  # recorded, shown within the task's limit

    def _fail_remaining(self, exc: Exception) -> None:
        error = _platform_error("the job", f"lost track of the ProActive job: {_reason(exc)}")
        for name, result in self.run.results.items():
            if not result.state.final:
                self.life.failed(name, error)

    def _close_remaining(self) -> None:
        """The job is over on the server: a task it never ran was cancelled (when the kernel
        cancelled the job) or not needed (a branch not taken)."""
        if self.cancelled.is_set():
            self.life.cancelled()
            return
        for name, result in self.run.results.items():
            if not result.state.final:
                self.life.skipped(name, "the ProActive job ended without running it",
                                  descendants=False)
        self.life.output.end_all()


def _combined_state(statuses: list[str]) -> TaskState:
    """One state for all replicas of a task."""
    if not statuses:
        return TaskState.PENDING
    states = [_TASK_STATES.get(s, TaskState.PENDING) for s in statuses]
    if all(s.final for s in states):
        for worst in (TaskState.FAILED, TaskState.CANCELLED, TaskState.SKIPPED):
            if worst in states:
                return worst
        return TaskState.DONE
    return TaskState.RUNNING if TaskState.RUNNING in states or any(
        s.final for s in states) else TaskState.PENDING


def _pa_base(pa_name: str) -> str:
    """The task a ProActive task name is a run of: ``T``, ``T*2`` (replica), ``T#1`` (loop)."""
    return re.split(r"[*#]", pa_name, maxsplit=1)[0]


def _pa_position(pa_name: str) -> tuple[int, int]:
    """(loop iteration, replica) of a ProActive task name: ``T#1*2`` -> (1, 2)."""
    match = re.fullmatch(r".*?(?:#(\d+))?(?:\*(\d+))?", pa_name)
    iteration, replica = match.groups() if match else (None, None)
    return int(iteration or 0), int(replica or 0)


def _payload_of(report: TaskReport) -> dict | None:
    if report.exception is not None:
        return proactive_task.payload_from_failure(report.exception)
    return proactive_task.payload_from_result(report.value)


def _has_files(payload: dict) -> bool:
    """Whether some value of the payload waits in the output space."""
    if payload.get("files"):
        return True
    texts = [payload["result"], *payload["exports"].values(), *payload["variables"].values()]
    return any(isinstance(t, str) and t.startswith(proactive_task.FILE_PREFIX) for t in texts)


def _without_failure_echo(text: str) -> str:
    """A log without the node's echo of ``ProActiveTaskFailed`` (its traceback and payload):
    the task's own error is shown from the payload, on the cell's lines."""
    marker = text.find(proactive_task.FAILURE_MARKER)
    if marker < 0:
        return text
    start = text.rfind("Traceback (most recent call last):", 0, marker)
    return text[: start if start >= 0 else marker].rstrip() + ("\n" if start > 0 else "")


def _platform_error(where: str, message: str) -> TaskError:
    first = message.strip().splitlines()[-1] if message.strip() else "the task failed"
    lines = [*message.rstrip().splitlines()[:-1], f"ProActiveTaskError: {first}"]
    return TaskError("ProActiveTaskError", f"{where}: {first}", lines, platform=True)


# -- for the other backends ----------------------------------------------------------------------

#: submit_job's options only a ProActive scheduler uses: placement and the dataspace folders
SUBMIT_OPTIONS = PLACEMENT_OPTIONS

_NOT_HERE = "{what} {verb} ProActive's; the {backend} backend does not apply {them} ({kept})."
_KEPT = "kept for export_xml and a ProActive connection"
_AT_SUBMISSION = "used only when the job is submitted to a ProActive scheduler"


def proactive_only_notices(
    job: Any, backend_name: str = "local", options: dict[str, Any] | None = None
) -> list[str]:
    """What a non-ProActive backend says once when a job carries ProActive-only settings.

    ``options`` are submit_job's arguments (:data:`SUBMIT_OPTIONS` are ProActive's). Each text
    is stable, so it can be the ``say_once`` key.
    """
    found = []
    if any(t.selection_script is not None for t in job.tasks.values()) or job.job_selection_script:
        found.append(("Selection scripts (#%selection_script, #%job_selection_script)", "are",
                      "them", _KEPT))
    if any(t.fork_env is not None for t in job.tasks.values()) or job.job_fork_env:
        found.append(("Fork environments (#%fork_env, #%job_fork_env)", "are", "them", _KEPT))
    if job.runtime_env:
        found.append(("The runtime environment (#%runtime_env)", "is", "it", _KEPT))
    given = [k for k in SUBMIT_OPTIONS if (options or {}).get(k)]
    if given:
        one = len(given) == 1
        found.append((f"submit_job's {', '.join(given)}", "is" if one else "are",
                      "it" if one else "them", _AT_SUBMISSION))
    return [_NOT_HERE.format(what=w, verb=v, backend=backend_name, them=t, kept=k)
            for w, v, t, k in found]
