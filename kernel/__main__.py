"""``python -m kernel -f CONNECTION_FILE`` runs the kernel;
``python -m kernel install [--user|--sys-prefix|--prefix DIR] [--name NAME]`` installs its spec.

Start-up imports only what answering kernel_info needs; the Python shell (jedi), the history
database and the pragma engine load when first used.
"""

from __future__ import annotations

import faulthandler
import signal
import sys

USAGE = (
    "usage: python -m kernel -f CONNECTION_FILE\n"
    "       python -m kernel install [--user | --sys-prefix | --prefix DIR] [--name NAME]"
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
    for name in ("kernel", "protocol", "pragmas", "Comm"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["install"]:
        from kernel.install import main as install_main

        return install_main(argv[1:])
    path = connection_file_argument(argv)
    if path is None:
        print(USAGE, file=sys.stderr)
        return 2
    configure_logging()
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 <pid>`: every thread's stack to the kernel log
        faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)
    from kernel.app import KernelApp
    from protocol.connection import ConnectionFileError, read_connection_file

    try:
        info = read_connection_file(path)
    except ConnectionFileError as error:
        print(f"pragma-kernel: {error}", file=sys.stderr)
        return 2
    app = KernelApp(info)
    if 0 in (info.shell_port, info.control_port, info.stdin_port, info.iopub_port, info.hb_port):
        from protocol.connection import write_connection_file

        write_connection_file(path, info, app.ports)
    app.start()
    app.serve_shell()
    return 0


if __name__ == "__main__":
    sys.exit(main())
