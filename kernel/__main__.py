"""``python -m pragma_kernel.kernel -f CONNECTION_FILE`` runs the kernel;
``python -m pragma_kernel.kernel install [--user|--sys-prefix|--prefix DIR] [--name NAME]`` installs its spec.

Start-up imports only what answering kernel_info needs; the Python shell (jedi), the history
database and the pragma engine load when first used.

Like ``ipykernel_launcher``, the working directory (the notebook's folder, which ``python -m``
puts first on ``sys.path``) is kept out of the kernel's own start-up imports, so a user's
``zmq.py`` or ``json.py`` cannot break the kernel; it is put back (as ``''``, which follows
``%cd``) before the first cell, so user code imports from the notebook's folder first.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys

USAGE = (
    "usage: python -m pragma_kernel.kernel -f CONNECTION_FILE\n"
    "       python -m pragma_kernel.kernel install [--user | --sys-prefix | --prefix DIR] [--name NAME]"
)


def connection_file_argument(argv: list[str]) -> str | None:
    """The value of ``-f FILE`` / ``--f=FILE`` (Jupyter's launcher convention)."""
    for index, arg in enumerate(argv):
        if arg in ("-f", "--f") and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(("--f=", "-f=")):
            return arg.split("=", 1)[1]
    return None


def configure_logging() -> None:
    """The kernel's own messages go to the process's real stderr (the launcher's log), on the
    kernel's loggers only: the root logger stays the user's (``logging.basicConfig`` in a cell
    must work as in any Python)."""
    import logging

    handler = logging.StreamHandler(sys.__stderr__)
    handler.setFormatter(logging.Formatter("[pragma-kernel] %(levelname)s %(name)s: %(message)s"))
    # "Comm" is the comm package's logger: it reports protocol events (unknown targets and
    # comm ids) that belong in the kernel's log, not in the user's cell
    for name in ("pragma_kernel", "Comm"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False


def _take_working_directory_off_path() -> bool:
    """Remove the entry ``python -m`` added for the working directory; True if there was one."""
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    working_directory_was_on_path = _take_working_directory_off_path()
    if argv[:1] == ["install"]:
        from pragma_kernel.kernel.install import main as install_main

        return install_main(argv[1:])
    path = connection_file_argument(argv)
    if path is None:
        print(USAGE, file=sys.stderr)
        return 2
    configure_logging()
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 <pid>`: every thread's stack to the kernel log
        faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)
    from pragma_kernel.kernel.app import KernelApp
    from pragma_kernel.protocol.connection import ConnectionFileError, read_connection_file

    try:
        info = read_connection_file(path)
    except ConnectionFileError as error:
        print(f"pragma-kernel: {error}", file=sys.stderr)
        return 2
    app = KernelApp(info)
    if 0 in (info.shell_port, info.control_port, info.stdin_port, info.iopub_port, info.hb_port):
        from pragma_kernel.protocol.connection import write_connection_file

        write_connection_file(path, info, app.ports)
    app.start()
    if working_directory_was_on_path:
        sys.path.insert(0, "")
    app.serve_shell()
    return 0


if __name__ == "__main__":
    sys.exit(main())
