"""The magics: what ``%name``, ``%%name``, ``!command`` and ``obj?`` do once
:mod:`kernel.cell_syntax` has turned them into calls on :class:`MagicCalls`.

Each magic is a small function in :data:`LINE_MAGICS` or :data:`CELL_MAGICS`, taking the shell
and the argument text (and the cell body for cell magics); its docstring is its help.
"""

from __future__ import annotations

import codecs
import contextlib
import importlib.util
import inspect
import io
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pragma_kernel.kernel.shell import PythonShell


class MagicUsageError(Exception):
    """A magic was misused or does not exist; shown as ``UsageError: ...`` without frames."""

    ename = "UsageError"


# --------------------------------------------------------------------------------------------
# What rewritten lines call


class MagicCalls:
    """The target of rewritten lines; dispatches to the magic tables with the shell."""

    def __init__(self, shell: PythonShell):
        self.shell = shell

    def line(self, name: str, args: str) -> Any:
        magic = LINE_MAGICS.get(name)
        if magic is None:
            raise MagicUsageError(
                f"Line magic function `%{name}` not found. This kernel knows: {_known()}."
            )
        return magic(self.shell, self._expanded(name, args))

    def cell(self, name: str, line: str, body: str) -> Any:
        magic = CELL_MAGICS.get(name)
        if magic is None:
            raise MagicUsageError(
                f"Cell magic `%%{name}` not found. This kernel knows: {_known()}."
            )
        return magic(self.shell, self._expanded(name, line), body)

    def _expanded(self, name: str, args: str) -> str:
        if name in PYTHON_ARGUMENT_MAGICS:  # their argument is Python: {x for x in y} stays
            return args
        return expand_variables(args, self.shell.namespace)

    def system(self, command: str) -> None:
        status = run_streamed(expand_variables(command, self.shell.namespace), shell=True)
        self.shell.namespace["_exit_code"] = status

    def getoutput(self, command: str) -> ShellLines:
        command = expand_variables(command, self.shell.namespace)
        completed = subprocess.run(
            command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=_child_environment(), check=False,
        )
        self.shell.namespace["_exit_code"] = completed.returncode
        return ShellLines(completed.stdout.decode(errors="replace").splitlines())

    def page(self, name: str, detail_level: int) -> None:
        self.shell.page_object(name, detail_level)

    def page_magic(self, name: str) -> None:
        """``%name?``: the magic's usage (its docstring) in the pager."""
        magics = [table[name] for table in (LINE_MAGICS, CELL_MAGICS) if name in table]
        if not magics:
            raise MagicUsageError(f"Magic `%{name}` not found. This kernel knows: {_known()}.")
        self.shell.page_text("\n\n".join(inspect.cleandoc(m.__doc__ or name) for m in magics))


#: magics whose argument is Python code, so no $name / {expr} expansion (IPython's no_var_expand)
PYTHON_ARGUMENT_MAGICS = frozenset({"time", "timeit"})


def _known() -> str:
    names = ["%" + m for m in sorted(LINE_MAGICS)] + ["%%" + m for m in sorted(CELL_MAGICS)]
    return ", ".join(names)


class ShellLines(list):
    """The lines ``x = !cmd`` captures, with IPython's SList shortcuts."""

    @property
    def s(self) -> str:
        """The lines joined by spaces."""
        return " ".join(self)

    @property
    def n(self) -> str:
        """The lines joined by newlines."""
        return "\n".join(self)

    @property
    def l(self) -> list[str]:  # IPython's name
        """A plain list."""
        return list(self)

    def grep(self, pattern: str, prune: bool = False) -> ShellLines:
        """The lines matching the regular expression (``prune``: those that do not)."""
        regex = re.compile(pattern)
        return ShellLines(line for line in self if bool(regex.search(line)) != prune)


_DOLLAR_NAME = re.compile(r"\$\$|\$(?P<name>[A-Za-z_]\w*)|\{(?P<expr>[^{}]+)\}")


def expand_variables(text: str, namespace: dict[str, Any]) -> str:
    """IPython's ``$name`` and ``{expression}`` expansion in magic and shell lines; a part that
    does not evaluate stays as typed (shell braces such as awk's ``{print $1}``)."""
    if "$" not in text and "{" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("name"):
            name = match.group("name")
            return str(namespace[name]) if name in namespace else match.group(0)
        try:
            return str(eval(match.group("expr"), namespace))  # the user's own code
        except Exception:  # noqa: BLE001 - not Python: leave it for the shell, as IPython does
            return match.group(0)

    return _DOLLAR_NAME.sub(replace, text)


# --------------------------------------------------------------------------------------------
# Subprocesses with streamed output


def _child_environment() -> dict[str, str]:
    """Children page to stdout and keep colours, as under ipykernel."""
    env = dict(os.environ)
    env.update({"PAGER": "cat", "GIT_PAGER": "cat", "CLICOLOR": "1", "TERM": "xterm-color"})
    return env


def run_streamed(command: str | list[str], *, shell: bool, stdin_data: str | None = None) -> int:
    """Run a command, copying its output to the cell's stdout as it comes; its exit status.

    The child gets its own session so that an interrupt reaches it through us: we forward
    SIGINT, and kill it if it does not stop within a second, then re-raise.
    """
    process = subprocess.Popen(
        command, shell=shell, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
        env=_child_environment(), start_new_session=True,
    )
    try:
        if stdin_data is not None and process.stdin is not None:
            process.stdin.write(stdin_data.encode())
            process.stdin.close()
        _copy_output(process)
        return process.wait()
    except KeyboardInterrupt:
        _stop(process)
        raise


def _copy_output(process: subprocess.Popen[bytes]) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    assert process.stdout is not None
    fd = process.stdout.fileno()
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        text = decoder.decode(chunk)
        if text:
            sys.stdout.write(text)
    tail = decoder.decode(b"", final=True)
    if tail:
        sys.stdout.write(tail)
    process.stdout.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=1)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    except ProcessLookupError:  # it ended already
        pass


# --------------------------------------------------------------------------------------------
# Line magics


def magic_cd(shell: PythonShell, args: str) -> None:
    """%cd [DIR | -]: change the working directory (no DIR: home; -: the previous one)."""
    target = args.strip().strip("'\"")
    previous = os.getcwd()
    if not target:
        target = os.path.expanduser("~")
    elif target == "-":
        target = shell.namespace.get("_dh_previous", previous)
    target = os.path.expandvars(os.path.expanduser(target))
    try:
        os.chdir(target)
    except OSError as err:
        raise MagicUsageError(f"%cd: {err.strerror}: {target}") from None
    shell.namespace["_dh_previous"] = previous
    print(os.getcwd())


def magic_pwd(shell: PythonShell, args: str) -> str:
    """%pwd: the working directory."""
    return os.getcwd()


def magic_env(shell: PythonShell, args: str) -> Any:
    """%env: all variables; %env NAME: one; %env NAME=VALUE or %env NAME VALUE: set it."""
    args = args.strip()
    if not args:
        return dict(os.environ)
    if "=" in args:
        name, value = (part.strip() for part in args.split("=", 1))
    elif " " in args:
        name, value = (part.strip() for part in args.split(None, 1))
    else:
        if args not in os.environ:
            raise MagicUsageError(f"Environment does not have key: {args}")
        return os.environ[args]
    os.environ[name] = value
    print(f"env: {name}={value}")
    return None


def magic_set_env(shell: PythonShell, args: str) -> None:
    """%set_env NAME VALUE: set an environment variable."""
    if not args.strip():
        raise MagicUsageError("%set_env needs NAME VALUE or NAME=VALUE")
    magic_env(shell, args)


def magic_time(shell: PythonShell, args: str) -> Any:
    """%time STATEMENT: run it once and print CPU and wall time; an expression's value is
    the result."""
    if not args.strip():
        raise MagicUsageError("%time needs a statement, e.g. %time sum(range(10**6))")
    return _timed(lambda: shell.run_source(args))


def cell_time(shell: PythonShell, line: str, body: str) -> Any:
    """%%time: run the cell once and print CPU and wall time."""
    return _timed(lambda: shell.run_source(body, first_line=2))


def _timed(run: Callable[[], Any]) -> Any:
    wall, cpu = time.perf_counter(), os.times()
    try:
        return run()
    finally:
        end_cpu = os.times()
        wall = time.perf_counter() - wall
        user, system = end_cpu.user - cpu.user, end_cpu.system - cpu.system
        print(
            f"CPU times: user {format_time(user)}, sys: {format_time(system)}, "
            f"total: {format_time(user + system)}\nWall time: {format_time(wall)}"
        )


@dataclass
class TimeitResult:
    """What ``%timeit -o`` returns (the fields of IPython's TimeitResult users read)."""

    loops: int
    repeat: int
    all_runs: list[float]  #: seconds per run of ``loops`` executions

    @property
    def timings(self) -> list[float]:
        return [run / self.loops for run in self.all_runs]

    @property
    def average(self) -> float:
        return sum(self.timings) / len(self.timings)

    @property
    def stdev(self) -> float:
        mean = self.average
        return (sum((t - mean) ** 2 for t in self.timings) / len(self.timings)) ** 0.5

    @property
    def best(self) -> float:
        return min(self.timings)

    def __str__(self) -> str:
        runs = f"{self.repeat} run{'s' if self.repeat != 1 else ''}"
        loops = f"{self.loops:,} loop{'s' if self.loops != 1 else ''}"
        return (
            f"{format_time(self.average)} ± {format_time(self.stdev)} per loop "
            f"(mean ± std. dev. of {runs}, {loops} each)"
        )

    def __repr__(self) -> str:
        return f"<TimeitResult : {self}>"


@dataclass
class TimeitOptions:
    number: int = 0  #: 0: chosen so that one run takes at least 0.2 s
    repeat: int = 7
    quiet: bool = False
    output: bool = False
    statement: str = ""


def magic_timeit(shell: PythonShell, args: str) -> TimeitResult | None:
    """%timeit [-n N] [-r R] [-q] [-o] STATEMENT: the mean time of many runs
    (-o: return the result, -q: print nothing)."""
    options = parse_timeit_options(args)
    if not options.statement.strip():
        raise MagicUsageError("%timeit needs a statement, e.g. %timeit sum(range(1000))")
    return _timeit(shell, options, "pass")


def cell_timeit(shell: PythonShell, line: str, body: str) -> TimeitResult | None:
    """%%timeit [-n N] [-r R] [-q] [-o] [SETUP]: time the cell; the line's code runs first."""
    options = parse_timeit_options(line)
    setup, options.statement = options.statement or "pass", body
    return _timeit(shell, options, setup)


def _timeit(shell: PythonShell, options: TimeitOptions, setup: str) -> TimeitResult | None:
    timer = timeit.Timer(options.statement, setup, globals=shell.namespace)
    number = options.number or timer.autorange()[0]
    result = TimeitResult(number, options.repeat, timer.repeat(options.repeat, number))
    if not options.quiet:
        print(result)
    return result if options.output else None


def parse_timeit_options(args: str) -> TimeitOptions:
    """Leading -n N, -r R, -q, -o; the rest (as typed) is the statement."""
    options = TimeitOptions()
    rest = args.strip()
    while rest.startswith("-"):
        flag, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        if flag in ("-q", "-o"):
            options.quiet |= flag == "-q"
            options.output |= flag == "-o"
            continue
        if flag not in ("-n", "-r"):
            raise MagicUsageError(f"%timeit: unknown option {flag} (known: -n N, -r R, -q, -o)")
        value, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        if not value.isdigit() or int(value) < 1:
            raise MagicUsageError(f"%timeit {flag} needs a positive number, got {value!r}")
        if flag == "-n":
            options.number = int(value)
        else:
            options.repeat = int(value)
    options.statement = rest
    return options


def format_time(seconds: float) -> str:
    """IPython's time format: 3 significant digits and a unit that fits."""
    if seconds >= 60:
        minutes, rest = divmod(seconds, 60)
        return f"{int(minutes)}min {rest:.0f}s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def magic_pip(shell: PythonShell, args: str) -> None:
    """%pip ARGS: pip of the kernel's own interpreter, output streamed."""
    if not args.strip():
        raise MagicUsageError("%pip needs arguments, e.g. %pip install requests")
    run_streamed([sys.executable, "-m", "pip", *shlex.split(args)], shell=False)
    print("Note: you may need to restart the kernel to use updated packages.")


#: %matplotlib's choices: the inline backend, and ipympl's widget (pip install ipympl)
MATPLOTLIB_BACKENDS = {
    "inline": "module://pragma_kernel.kernel.mpl_backend",
    "widget": "module://ipympl.backend_nbagg",
    "ipympl": "module://ipympl.backend_nbagg",
}


def magic_matplotlib(shell: PythonShell, args: str) -> None:
    """%matplotlib [inline|widget|ipympl]: inline shows figures as PNG at the end of the cell
    (the default); widget (ipympl) shows interactive figures. Either also turns on matplotlib's
    interactive mode, as IPython's magic does."""
    gui = args.strip() or "inline"
    backend = MATPLOTLIB_BACKENDS.get(gui)
    if backend is None:
        raise MagicUsageError(
            f"%matplotlib {gui}: this kernel has {', '.join(MATPLOTLIB_BACKENDS)} (no GUI "
            "event loops)"
        )
    if gui == "inline":  # subprocesses of the kernel (e.g. %run) use it too
        os.environ["MPLBACKEND"] = backend
    import matplotlib
    import matplotlib.pyplot as plt

    if gui != "inline" and importlib.util.find_spec("ipympl") is None:
        raise MagicUsageError(f"%matplotlib {gui} needs ipympl: %pip install ipympl")
    matplotlib.interactive(True)
    plt.switch_backend(backend)


_CONFIG = re.compile(r"^InlineBackend\.figure_formats?\s*=\s*[\[{(]?\s*['\"](\w+)['\"]")


def magic_config(shell: PythonShell, args: str) -> None:
    """%config InlineBackend.figure_format = 'png'|'retina'|'jpeg'|'svg': how figures are shown
    (the only IPython configuration this kernel has)."""
    match = _CONFIG.match(args.strip())
    if match is None:
        raise MagicUsageError(
            f"%config {args.strip()}: this kernel only knows "
            "InlineBackend.figure_format = 'png' | 'retina' | 'jpeg' | 'svg'"
        )
    from pragma_kernel.kernel import mpl_backend

    if match.group(1) not in mpl_backend.FIGURE_FORMATS:
        known = ", ".join(mpl_backend.FIGURE_FORMATS)
        raise MagicUsageError(f"figure format {match.group(1)!r} is not one of {known}")
    mpl_backend.figure_format = match.group(1)


def magic_load_ext(shell: PythonShell, args: str) -> None:
    """%load_ext autoreload: the one IPython extension this kernel has built in."""
    if args.strip() != "autoreload":
        raise MagicUsageError(
            f"%load_ext {args.strip()}: this kernel has no IPython extensions except autoreload"
        )
    shell.enable_autoreload()


def magic_autoreload(shell: PythonShell, args: str) -> None:
    """%autoreload [0|1|2]: reload edited modules before each cell (2: all, 1: those named
    with %aimport, 0: none). Needs %load_ext autoreload first, as in IPython."""
    reloader = _reloader(shell, "%autoreload")
    try:
        reloader.set_mode(args.strip())
    except ValueError as err:
        raise MagicUsageError(str(err)) from None


def magic_aimport(shell: PythonShell, args: str) -> None:
    """%aimport NAME [-NAME ...]: import and watch NAME (mode 1); -NAME: never reload it."""
    reloader = _reloader(shell, "%aimport")
    if not args.strip():
        print(f"Modules to reload: {' '.join(sorted(reloader.explicit))}")
        print(f"Modules to skip: {' '.join(sorted(reloader.excluded))}")
        return
    for name in reloader.aimport(args):  # bound like `import a.b` binds `a`
        top = name.split(".")[0]
        shell.namespace[top] = sys.modules[top]


def _reloader(shell: PythonShell, magic: str) -> Any:
    if shell.reloader is None:
        raise MagicUsageError(f"{magic} needs the extension: run %load_ext autoreload first")
    return shell.reloader


def magic_who(shell: PythonShell, args: str) -> None:
    """%who [TYPE ...]: the names the user defined (optionally only of these type names)."""
    wanted = set(args.split())
    names = [
        name for name, value in shell.user_variables().items()
        if not wanted or type(value).__name__ in wanted
    ]
    print("\t".join(sorted(names)) if names else "Interactive namespace is empty.")


def magic_run(shell: PythonShell, args: str) -> None:
    """%run SCRIPT.py [ARGS]: run a file as __main__ and keep its globals in the namespace."""
    import runpy

    words = shlex.split(args)
    if not words:
        raise MagicUsageError("%run needs a file name, e.g. %run script.py")
    path = os.path.expanduser(words[0])
    if not os.path.isfile(path):
        raise MagicUsageError(f"File `{path}` not found.")
    saved_argv = sys.argv
    sys.argv = words
    try:
        result = runpy.run_path(path, run_name="__main__")
    finally:
        sys.argv = saved_argv
    shell.namespace.update({k: v for k, v in result.items() if not k.startswith("__")})


def magic_lsmagic(shell: PythonShell, args: str) -> None:
    """%lsmagic: the magics this kernel knows."""
    print("Line magics: " + "  ".join("%" + name for name in sorted(LINE_MAGICS)))
    print("Cell magics: " + "  ".join("%%" + name for name in sorted(CELL_MAGICS)))


def magic_tb(shell: PythonShell, args: str) -> None:
    """%tb: the full traceback of the last error (also of SystemExit and usage errors)."""
    if shell.last_exception is None:
        print("No traceback available to show.")
        return
    from pragma_kernel.kernel.tracebacks import format_exception

    print("\n".join(format_exception(shell.last_exception).traceback))


def magic_reset(shell: PythonShell, args: str) -> None:
    """%reset [-f]: delete every variable the user defined (-f: without asking)."""
    if "-f" not in args.split():
        answer = input("Once deleted, variables cannot be recovered. Proceed (y/[n])? ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing done.")
            return
    for name in shell.user_variables():
        del shell.namespace[name]
    shell.namespace["Out"].clear()


def magic_history(shell: PythonShell, args: str) -> None:
    """%history [-n]: the inputs of this session (-n: with their numbers)."""
    numbered = "-n" in args.split()
    for number, code in enumerate(shell.namespace["In"]):
        if number and code:
            print(f"{number:>4}: {code}" if numbered else code)


def _shell_alias(command: str) -> Callable[[PythonShell, str], None]:
    """IPython's POSIX aliases: %ls, %cat, ... run the command of the same name."""

    def alias(shell: PythonShell, args: str) -> None:
        shell.namespace["_exit_code"] = run_streamed(f"{command} {args}".strip(), shell=True)

    alias.__doc__ = f"%{command} ARGS: run `{command} ARGS` in a shell."
    return alias


# --------------------------------------------------------------------------------------------
# Cell magics


def cell_bash(shell: PythonShell, line: str, body: str) -> None:
    """%%bash: run the cell with bash, output streamed."""
    _run_script(shell, ["bash", *shlex.split(line)], body)


def cell_sh(shell: PythonShell, line: str, body: str) -> None:
    """%%sh: run the cell with sh, output streamed."""
    _run_script(shell, ["sh", *shlex.split(line)], body)


def _run_script(shell: PythonShell, argv: list[str], body: str) -> None:
    status = run_streamed(argv, shell=False, stdin_data=body)
    shell.namespace["_exit_code"] = status
    if status:
        raise subprocess.CalledProcessError(status, " ".join(argv))


def cell_writefile(shell: PythonShell, line: str, body: str) -> None:
    """%%writefile [-a] FILE: write (or append) the cell to FILE."""
    words = shlex.split(line)
    append = "-a" in words or "--append" in words
    names = [w for w in words if w not in ("-a", "--append")]
    if len(names) != 1:
        raise MagicUsageError("%%writefile needs one file name, e.g. %%writefile script.py")
    path = os.path.expanduser(names[0])
    exists = os.path.exists(path)
    print(("Appending to " if append else "Overwriting " if exists else "Writing ") + names[0])
    with open(path, "a" if append else "w", encoding="utf-8") as file:
        file.write(body if body.endswith("\n") or not body else body + "\n")


@dataclass
class CapturedOutput:
    """What ``%%capture NAME`` keeps: the text and rich outputs of the cell."""

    stdout: str = ""
    stderr: str = ""
    outputs: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def show(self) -> None:
        """Replay everything into the current cell."""
        from pragma_kernel.kernel.display import publish_display_data

        sys.stdout.write(self.stdout)
        sys.stderr.write(self.stderr)
        for data, metadata in self.outputs:
            publish_display_data(data, metadata)

    __call__ = show


class _CaptureContext:
    """Stands in for the cell's output context while ``%%capture`` runs: keeps displays."""

    def __init__(self, captured: CapturedOutput):
        self._captured = captured

    def display(self, data: dict[str, Any], metadata: dict[str, Any] | None = None, *,
                display_id: str | None = None, update: bool = False) -> None:
        self._captured.outputs.append((data, metadata or {}))

    def clear_output(self, wait: bool = False) -> None:
        self._captured.outputs.clear()


def cell_capture(shell: PythonShell, line: str, body: str) -> None:
    """%%capture [--no-stdout] [--no-stderr] [--no-display] [NAME]: run the cell without showing
    its output; NAME keeps it (NAME.stdout, NAME.stderr, NAME.outputs, NAME.show())."""
    words = shlex.split(line)
    flags = {w for w in words if w.startswith("--")}
    unknown = flags - {"--no-stdout", "--no-stderr", "--no-display"}
    names = [w for w in words if not w.startswith("--")]
    if unknown or len(names) > 1:
        raise MagicUsageError("usage: %%capture [--no-stdout] [--no-stderr] [--no-display] [NAME]")
    from pragma_kernel.kernel import display

    captured = CapturedOutput()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        if "--no-stdout" not in flags:
            stack.enter_context(contextlib.redirect_stdout(out))
        if "--no-stderr" not in flags:
            stack.enter_context(contextlib.redirect_stderr(err))
        if "--no-display" not in flags:
            previous = display.set_shell_context(_CaptureContext(captured))
            stack.callback(display.set_shell_context, previous)
        try:
            shell.run_source(body, first_line=2)
        finally:
            captured.stdout, captured.stderr = out.getvalue(), err.getvalue()
            if names:
                shell.namespace[names[0]] = captured


def _cell_display(mime: str) -> Callable[[PythonShell, str, str], None]:
    def show(shell: PythonShell, line: str, body: str) -> None:
        from pragma_kernel.kernel.display import publish_display_data

        publish_display_data({mime: body, "text/plain": f"<{mime} output>"})

    show.__doc__ = f"Display the cell as {mime}."
    return show


LINE_MAGICS: dict[str, Callable[[PythonShell, str], Any]] = {
    "aimport": magic_aimport,
    "autoreload": magic_autoreload,
    "cd": magic_cd,
    "config": magic_config,
    "env": magic_env,
    "set_env": magic_set_env,
    "load_ext": magic_load_ext,
    "lsmagic": magic_lsmagic,
    "history": magic_history,
    "reset": magic_reset,
    "tb": magic_tb,
    **{name: _shell_alias(name) for name in ("cat", "cp", "ls", "mkdir", "mv", "rm", "rmdir")},
    "matplotlib": magic_matplotlib,
    "pip": magic_pip,
    "pwd": magic_pwd,
    "run": magic_run,
    "time": magic_time,
    "timeit": magic_timeit,
    "who": magic_who,
}

CELL_MAGICS: dict[str, Callable[[PythonShell, str, str], Any]] = {
    "bash": cell_bash,
    "capture": cell_capture,
    "html": _cell_display("text/html"),
    "javascript": _cell_display("application/javascript"),
    "latex": _cell_display("text/latex"),
    "markdown": _cell_display("text/markdown"),
    "sh": cell_sh,
    "svg": _cell_display("image/svg+xml"),
    "time": cell_time,
    "timeit": cell_timeit,
    "writefile": cell_writefile,
    "file": cell_writefile,
}
