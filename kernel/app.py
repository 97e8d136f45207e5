"""The kernel process: sockets, threads, the shell loop, exit.

Threads:
- main: the main shell's loop and its cells (SIGINT only reaches the main thread);
- control: interrupt, shutdown, kernel_info and the subshell requests, answered while a cell runs;
- from the first subshell on: the shell router, which then owns the shell socket, and one thread
  per subshell (:mod:`kernel.shell_router`, :mod:`kernel.subshells`);
- iopub: welcomes subscribers and runs deferred stream flushes (:mod:`kernel.publisher`);
  every thread publishes itself, under the publisher's lock;
- heartbeat: ``zmq.proxy`` in C on its own context (:mod:`protocol.heartbeat`);
- parent poller: exits when the launcher (``JPY_PARENT_PID``) dies.

Two zmq contexts besides the heartbeat's: shell and stdin belong to the main thread (the shell
socket to the router once there is one); control and iopub to the others. At exit, terminating the second one flushes the last reply and idle
without touching the sockets of a main thread that may be stuck in user code.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

import zmq
from pragma_kernel.kernel.comms import KernelComms
from pragma_kernel.kernel.context import KernelIO, current_context
from pragma_kernel.kernel.dispatch import Channel
from pragma_kernel.kernel.execution import Executor
from pragma_kernel.kernel.handlers import RequestHandlers, control_table, shell_table
from pragma_kernel.kernel.history import HistoryStore
from pragma_kernel.kernel.interrupts import InterruptGate, keep_sigint_off_this_thread
from pragma_kernel.kernel.iostream import OutStream
from pragma_kernel.kernel.publisher import IOPubPublisher
from pragma_kernel.kernel.shell_router import ShellRouter
from pragma_kernel.kernel.stdin import StdinChannel, install_input_functions
from pragma_kernel.kernel.subshells import ShellLoop, Subshells
from pragma_kernel.kernel.threads import ServiceThread
from pragma_kernel.protocol.channels import open_sockets
from pragma_kernel.protocol.connection import ConnectionInfo
from pragma_kernel.protocol.heartbeat import Heartbeat
from pragma_kernel.protocol.messages import MessageFactory
from pragma_kernel.protocol.wire import Message, Signer

log = logging.getLogger(__name__)

EXIT_FLUSH_TIMEOUT = 2.0  #: seconds allowed for the last messages to leave at exit
#: While a cell holds the GIL, the control and IOPub threads get it back only when the
#: interpreter forces a switch; Python's default 5 ms per hand-off made a control
#: kernel_info take ~10 ms (several hand-offs), 1 ms brings it to ~2 ms. It costs nothing
#: when user code is single-threaded (no thread asks for the GIL).
GIL_SWITCH_INTERVAL = 0.001


class KernelApp:
    def __init__(self, info: ConnectionInfo):
        self.info = info
        self.signer = Signer(info.key, info.signature_scheme)
        if not self.signer.enabled:
            log.warning("the connection file has no key: messages are neither signed nor checked")
        self.factory = MessageFactory()
        self.shell_context = zmq.Context()
        self.io_context = zmq.Context()
        main = open_sockets(self.shell_context, info, ("shell", "stdin"))
        other = open_sockets(self.io_context, info, ("control", "iopub"))
        self.shell_socket, self.stdin_socket = main["shell"], main["stdin"]
        self.control_socket, iopub = other["control"], other["iopub"]
        self.heartbeat = Heartbeat(info)
        self.ports = {**main.ports, **other.ports, "hb": self.heartbeat.port}
        self.publisher = IOPubPublisher(iopub, self.factory, self.signer)
        self.gate = InterruptGate()
        self.io = KernelIO(
            publisher=self.publisher,
            stdout=OutStream("stdout", self.publisher, current_context, sys.__stdout__),
            stderr=OutStream("stderr", self.publisher, current_context, sys.__stderr__),
            stdin=StdinChannel(self.stdin_socket, self.factory, self.signer),
        )
        self.io.stdout.sibling, self.io.stderr.sibling = self.io.stderr, self.io.stdout
        self.publisher.critical_section = self.gate.uninterrupted
        self.io.stdin.critical_section = self.gate.uninterrupted
        self.history = HistoryStore()
        self.executor = Executor(self.io, self.history, self.gate)
        self.comms = KernelComms()
        handlers = RequestHandlers(self)
        self.router = ShellRouter(self.shell_socket, self._parse_shell_request)
        self.shell = Channel("shell", self.shell_socket, shell_table(handlers), self,
                             send=self.router.send)
        self.control = Channel("control", self.control_socket, control_table(handlers), self)
        self.main_shell = ShellLoop(self.shell, self.executor, self.router.queued_requests)
        self.subshells = Subshells(self)
        self._exit_requested = threading.Event()
        #: what the displays of jobs stopped at exit say
        self._exit_reason = "kernel shutting down"
        self._exiting = threading.Lock()
        self._shell_warmed = False

    # -- start -------------------------------------------------------------------------------
    def start(self) -> None:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        self.heartbeat.start()
        self.publisher.start()
        self.publisher.status("starting")
        sys.stdout, sys.stderr = self.io.stdout, self.io.stderr
        install_input_functions()
        self.gate.install()
        ServiceThread(self._serve_control, "control").start()
        parent = os.environ.get("JPY_PARENT_PID")
        if parent and parent.isdigit() and os.name == "posix":
            ServiceThread(self._watch_parent, "parent-poller", (int(parent),)).start()

    def flush_output(self) -> None:
        self.io.stdout.flush()
        self.io.stderr.flush()

    # -- loops -------------------------------------------------------------------------------
    def serve_shell(self) -> None:
        """The main thread's loop; returns never (exit is os._exit)."""
        while True:
            try:
                self._serve_one_shell_request()
            except Exception:  # a kernel bug must not end the kernel: log it, keep serving
                log.exception("shell: request failed")
            if self._exit_requested.is_set():
                self.exit()

    def _serve_one_shell_request(self) -> None:
        request = self.router.next_request()
        if request is None:
            return
        self.main_shell.serve(request)
        if not self._shell_warmed:
            self._shell_warmed = True
            threading.Thread(target=_import_shell, name="warm-up", daemon=True).start()

    def _parse_shell_request(self, frames: list[bytes]) -> Message | None:
        return self.shell.parse(frames)

    def _serve_control(self) -> None:
        keep_sigint_off_this_thread()
        try:
            while True:
                try:
                    request = self.control.receive()
                    if request is not None:
                        self.control.dispatch(request)
                except zmq.ContextTerminated:
                    raise
                except Exception:  # a kernel bug must not stop the control channel
                    log.exception("control: request failed")
                if self._exit_requested.is_set():
                    self.exit()
        except zmq.ContextTerminated:
            self.control_socket.close(linger=1000)

    def _watch_parent(self, parent_pid: int) -> None:
        """Exit when the launcher is gone, so an orphaned kernel never holds its ports."""
        keep_sigint_off_this_thread()
        while not self._exit_requested.wait(1.0):
            if not _alive(parent_pid):
                log.warning("parent process %s is gone: exiting", parent_pid)
                self.exit(1)

    # -- exit --------------------------------------------------------------------------------
    @property
    def exit_requested(self) -> bool:
        return self._exit_requested.is_set()

    def request_exit(self, restart: bool = False) -> None:
        """Exit once the current request's reply and idle are out (shutdown_request)."""
        self._exit_reason = "kernel restarting" if restart else "kernel shutting down"
        self._exit_requested.set()

    def exit(self, status: int = 0) -> None:
        """Stop the engine and child processes, flush the last messages, leave at once."""
        if not self._exiting.acquire(blocking=False):
            return
        try:
            self._run_bounded(
                lambda: self.executor.shutdown_engine(self._exit_reason),
                EXIT_FLUSH_TIMEOUT,
                "engine shutdown",
            )
            terminate_children()
            exiting = threading.current_thread()
            self._run_bounded(
                lambda: self._flush_and_close(exiting), EXIT_FLUSH_TIMEOUT, "flushing"
            )
        finally:
            os._exit(status)

    def _flush_and_close(self, exiting: threading.Thread) -> None:
        """Close the sockets the exiting thread owns, then terminate the contexts so the last
        messages leave (bounded by linger). A thread blocked on a socket of a terminated
        context gets ETERM and closes it; the main thread's sockets are left alone unless it
        is the one exiting, since it may be running user code. Once subshells exist the shell
        socket is the router thread's, which closes it; the main thread then owns no socket."""
        self.publisher.close()
        if exiting.name == "control":
            self.control_socket.close(linger=1000)
        elif self.router.routing:  # shutdown_request on shell, to the main shell or a subshell
            self.router.stop()
            self.io.stdin.close()
            self.shell_context.term()
        elif exiting is threading.main_thread():  # shutdown_request on shell
            self.shell_socket.close(linger=1000)
            self.io.stdin.close()  # its reader thread closes the stdin socket on ETERM
            self.shell_context.term()
            self.control_socket.close(linger=1000)
        self.io_context.term()

    @staticmethod
    def _run_bounded(work, timeout: float, what: str) -> None:
        worker = threading.Thread(target=_log_failure(work, what), daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            log.warning("%s did not finish within %.0f s", what, timeout)


def _import_shell() -> None:
    """Import the Python shell's modules once the first request is answered, so the first cell
    does not wait for them (start-up does not either: they load after kernel_info)."""
    keep_sigint_off_this_thread()
    try:
        import pragma_kernel.kernel.shell  # noqa: F401
    except ImportError:
        log.warning("the Python shell cannot be imported yet", exc_info=True)


def _log_failure(work, what: str):
    def run() -> None:
        keep_sigint_off_this_thread()
        try:
            work()
        except Exception:  # at exit nothing can be done but report it
            log.exception("%s failed", what)

    return run


def terminate_children(grace: float = 1.0) -> None:
    """SIGTERM every descendant, then SIGKILL those still alive after ``grace`` seconds (the
    processes tasks started included: the local workers keep them as descendants)."""
    from pragma_kernel.pragmas.process_tree import become_subreaper, end_descendants

    # From now on an orphan (a task's process whose worker just died of the SIGTERM) comes
    # back to the kernel instead of init, so the SIGKILL round still finds it.
    become_subreaper()
    end_descendants(os.getpid(), grace)


def _alive(pid: int) -> bool:
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our direct child: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, belongs to someone else
            return True
        return True
    return reaped == 0
