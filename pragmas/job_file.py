"""A job as a TOML file: what the catalog stores, one file per version, readable and diffable.

:func:`render_job` writes the job's tasks with their code as multi-line strings (one line of
code, one line of the file, so ``git diff`` and ``#%diff_job`` show code changes as they are),
their options, dependencies, job variables and generic information; :func:`read_job_file` reads
it back and checks every key, so a hand-edited file that is wrong says which file, where and
what. Only what the user declared is written: where a cell was, multiblock segments and the
kernel's bookkeeping are not.

A multi-line string ends with a newline that is not part of the code (the closing quotes sit on
their own line); reading removes it, so any code, with or without a final newline, comes back
as it was.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pragma_kernel.pragmas.errors import PragmaError
from pragma_kernel.pragmas.model import (
    DEFAULT_LANGUAGE,
    DEFAULT_MAX_LOOP_ROUNDS,
    MAX_LOOP_ROUNDS,
    MAX_RETRIES,
    MAX_RUNS,
    MAX_TIMEOUT,
    FlowInfo,
    Job,
    OutputLimit,
    Script,
    SourceLocation,
    Task,
)

FORMAT = 1  #: the layout of the file; a reader refuses a later one by name


class CatalogFileError(PragmaError):
    """A catalog file that cannot be read back: which file, where and what is wrong."""

    def __init__(self, path: Path | str, problem: str):
        self.path, self.problem = Path(path), problem
        super().__init__(f"the catalog file {path} cannot be loaded: {problem}. Correct it, or "
                         "delete that version (#%delete_saved_job)")


@dataclass
class VersionHeader:
    """What a catalog file says about itself, above the job."""

    name: str
    version: int
    message: str
    saved: str  #: ISO 8601, UTC
    kernel: str = ""  #: the pragma-kernel version that wrote it


@dataclass
class JobFile:
    """One catalog file read back: its header, the job, and where each code starts in it."""

    path: Path
    header: VersionHeader
    job: Job
    code_lines: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- writing

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    # JSON's escapes are TOML's basic-string escapes; TOML also wants DEL escaped
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return _string(str(value))


_LITERAL_UNSAFE = re.compile(r"'''|[\x00-\x08\x0b-\x1f\x7f]")


def _multiline(code: str) -> list[str]:
    """The code as a TOML multi-line string: a literal one (no escapes, as typed) unless the
    code holds ``'''`` or control characters. The first line is the opening quotes."""
    text = code + "\n"  # the closing quotes on a line of their own; removed when read
    if not _LITERAL_UNSAFE.search(text):
        return ["'''", *text.split("\n")[:-1], "'''"]
    escaped = "".join(_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if _is_control(c) else c)
                      for c in text)
    return ['"""', *escaped.split("\n")[:-1], '"""']


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\n", "\t": "\t"}


def _is_control(char: str) -> bool:
    return char < " " or char == "\x7f"


class _Writer:
    """Lines of the file, and the line each piece of code starts on."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def put(self, key: str, value: Any) -> None:
        if value is None or value == {}:
            return
        self.lines.append(f"{_key(key)} = {_value(value)}")

    def code(self, key: str, code: str) -> None:
        opening, *rest = _multiline(code)
        self.lines.append(f"{_key(key)} = {opening}")
        self.lines.extend(rest)

    def table(self, header: str, values: dict[str, Any] | None) -> None:
        if values:
            self.lines += ["", f"[{header}]"]
            for key, value in values.items():
                self.put(key, value)

    def script(self, header: str, script: Script | None) -> None:
        if script is None:
            return
        self.lines += ["", f"[{header}]"]
        self.put("language", script.language)
        self.put("path", script.path)
        self.code("code", script.code)


def render_job(job: Job) -> str:
    """The job as the body of a catalog file (also what ``#%diff_job`` compares)."""
    out = _Writer()
    out.lines.append("[job]")
    out.put("flow", job.data_flow)
    out.put("output_limit", None if job.output_limit is None else str(job.output_limit))
    out.table("job.variables", job.variables)
    out.table("job.generic_info", job.generic_info)
    if job.import_code:
        out.lines += ["", "[job.import_code]"]
        for language, code in job.import_code.items():
            out.code(language, code)
    out.script("job.selection_script", job.job_selection_script)
    out.script("job.fork_env", job.job_fork_env)
    if job.runtime_env is not None:
        out.table("job.runtime_env", {k: v for k, v in job.runtime_env.items() if v is not None})
    for task in job.tasks.values():
        _render_task(out, task)
    return "\n".join(out.lines) + "\n"


def _render_task(out: _Writer, task: Task) -> None:
    out.lines += ["", "[[tasks]]"]
    out.put("name", task.name)
    out.put("language", task.language)
    out.put("dep", task.dep)
    out.put("import", task.imports)
    out.put("export", task.exports)
    defaults = Task(name=task.name)
    for attribute, key in _TASK_OPTIONS:
        value = getattr(task, attribute)
        if value != getattr(defaults, attribute):
            out.put(key, str(value) if isinstance(value, OutputLimit) else value)
    out.code("code", task.code)
    out.table("tasks.variables", task.variables)
    out.table("tasks.generic_info", task.generic_info)
    for attribute in _TASK_SCRIPTS:
        out.script(f"tasks.{attribute}", getattr(task, attribute))
    if task.flow != FlowInfo():  # a step of a control flow (#%split, #%loop, #%branch...)
        out.lines += ["", "[tasks.control]"]
        for key in _FLOW_KEYS:
            value = getattr(task.flow, key)
            if key != "max_rounds" or value != DEFAULT_MAX_LOOP_ROUNDS:
                out.put(key, value)
        out.script("tasks.control.script", task.flow.script)


#: task attribute -> key, written when it differs from the default
_TASK_OPTIONS = (
    ("runs", "runs"), ("path", "path"), ("precious_result", "precious_result"),
    ("retries", "retries"), ("timeout", "timeout"), ("output_limit", "output_limit"),
    ("data_flow", "flow"),
)  # fmt: skip
_TASK_SCRIPTS = ("pre_script", "post_script", "selection_script", "fork_env")
_FLOW_KEYS = ("block", "action", "target", "if_target", "else_target", "continuation_target",
              "max_rounds")  # fmt: skip


def render_file(header: VersionHeader, job: Job) -> str:
    """The whole file: a comment, the header, then :func:`render_job`'s body."""
    top = [
        f"# pragma-kernel job catalog: job {_string(header.name)}, version {header.version}.",
        "# #%load_job reads it back and checks every key: edit it with care.",
        f"format = {FORMAT}",
        f"name = {_string(header.name)}",
        f"version = {header.version}",
        f"message = {_string(header.message)}",
        f"saved = {_string(header.saved)}",
        f"kernel = {_string(header.kernel)}",
        "",
    ]
    return "\n".join(top) + "\n" + render_job(job)


# --------------------------------------------------------------------------- reading


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 (the tomli dependency)
        import tomli as tomllib
    return tomllib


class _Table:
    """One TOML table of the file, read key by key; a wrong or unknown key is a
    :class:`CatalogFileError` naming the file, the table and the key."""

    def __init__(self, path: Path, where: str, values: Any):
        self.path, self.where = path, where
        if not isinstance(values, dict):
            self.fail(f"{where} must be a table, not {_shown(values)}")
        self.values, self.read = values, set()

    def fail(self, problem: str) -> None:
        raise CatalogFileError(self.path, problem)

    def get(self, key: str, kind: type | tuple, default: Any = None, required: bool = False) -> Any:
        self.read.add(key)
        if key not in self.values:
            if required:
                self.fail(f"{self.where} has no '{key}'")
            return default
        value = self.values[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            self.fail(f"'{key}' in {self.where} must be {_kind_name(kinds)}, not {_shown(value)}")
        return value

    def text(self, key: str, default: str | None = None, required: bool = False) -> Any:
        return self.get(key, str, default, required)

    def names(self, key: str) -> list[str]:
        values = self.get(key, list, [])
        if not all(isinstance(v, str) and v for v in values):
            self.fail(f"'{key}' in {self.where} must be a list of names (strings)")
        return list(values)

    def whole(self, key: str, default: int, low: int, high: int) -> int:
        value = self.get(key, int, default)
        if not low <= value <= high:
            self.fail(f"'{key}' in {self.where} must be from {low} to {high}, not {value}")
        return value

    def pairs(self, key: str) -> dict[str, str]:
        table = self.sub(key)
        if table is None:
            return {}
        for name in table.values:
            table.get(name, (str, int, float, bool))
        return {name: _text_of(value) for name, value in table.values.items()}

    def sub(self, key: str) -> _Table | None:
        if self.get(key, dict) is None:
            return None
        return _Table(self.path, f"{self.where}.{key}", self.values[key])

    def done(self) -> None:
        """Every key was read: one that was not is a typo or a field of a later version."""
        unknown = [k for k in self.values if k not in self.read]
        if unknown:
            from pragma_kernel.pragmas.parser import closest

            hint = closest(unknown[0], sorted(self.read))
            suggestion = f" (did you mean '{hint}'?)" if hint else ""
            self.fail(f"unknown key '{unknown[0]}' in {self.where}{suggestion}")


def _text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _kind_name(kinds: tuple) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
             list: "a list", dict: "a table"}  # fmt: skip
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def read_job_file(path: Path) -> JobFile:
    """Read and check one catalog file (its text, then every key)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise CatalogFileError(path, f"it is not UTF-8 text ({error.reason} at byte "
                                     f"{error.start})") from None
    except OSError as error:
        raise CatalogFileError(path, f"it cannot be read ({error.strerror or error})") from None
    return parse_job_file(path, text)


def parse_job_file(path: Path, text: str) -> JobFile:
    tomllib = _toml()
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CatalogFileError(path, f"it is not valid TOML ({error})") from None
    top = _Table(path, "the file", document)
    file_format = top.get("format", int, required=True)
    if file_format != FORMAT:
        top.fail(f"it has format {file_format}, and this pragma-kernel reads format {FORMAT} "
                 "(a newer pragma-kernel wrote it?)")
    header = VersionHeader(
        name=top.text("name", required=True), version=top.whole("version", 0, 1, 10**9),
        message=top.text("message", ""), saved=top.text("saved", ""),
        kernel=top.text("kernel", ""),
    )  # fmt: skip
    lines = _code_lines(text)
    job = _read_job(path, top, header.name, lines)
    top.done()
    return JobFile(path, header, job, lines)


def _code_lines(text: str) -> dict[str, int]:
    """Where each code string starts in the file (to point tracebacks and syntax errors at
    the file's own lines): ``task:N`` (the Nth task), ``task:N:pre_script``...,
    ``import:LANGUAGE``, ``job:fork_env``..."""
    found: dict[str, int] = {}
    table, task = "", 0  #: the table the line is in; the number of the [[tasks]] it is in
    closing = None  #: the quotes that end the multi-line string being skipped
    for number, line in enumerate(text.splitlines(), 1):
        if closing is not None:
            closing = None if closing in line else closing
            continue
        stripped = line.strip()
        if stripped.startswith("["):
            table = stripped.strip("[]").strip()
            task += stripped.startswith("[[")
            continue
        key, _, value = (part.strip() for part in stripped.partition("="))
        key = key.strip("\"'")
        quotes = value[:3]
        if quotes not in ("'''", '"""'):
            continue
        if quotes not in value[3:]:
            closing = quotes
        what = _code_name(table, key, task)
        if what:
            found[what] = number + 1 if value == quotes else number
    return found


def _code_name(table: str, key: str, task: int) -> str | None:
    if table == "job.import_code":
        return f"import:{key}"
    if key != "code":
        return None
    if table == "tasks":
        return f"task:{task}"
    if table.startswith("tasks."):
        return f"task:{task}:{table.removeprefix('tasks.').replace('control.script', 'control')}"
    return f"job:{table.removeprefix('job.')}" if table.startswith("job.") else None


def _source(path: Path, lines: dict[str, int], what: str) -> SourceLocation:
    return SourceLocation(str(path), lines.get(what, 1))


def _code(table: _Table, key: str = "code") -> str:
    code = table.text(key, "")
    return code.removesuffix("\n")


def _read_script(table: _Table | None, source: SourceLocation) -> Script | None:
    if table is None:
        return None
    script = Script(code=_code(table), language=table.text("language", DEFAULT_LANGUAGE),
                    path=table.text("path"), source=source)  # fmt: skip
    table.done()
    return script


def _read_job(path: Path, top: _Table, name: str, lines: dict[str, int]) -> Job:
    table = top.sub("job") or _Table(path, "[job]", {})
    table.where = "[job]"
    job = Job(name=name, data_flow=table.text("flow", "written"))
    if job.data_flow not in ("auto", "written"):
        table.fail(f"'flow' in [job] must be \"auto\" or \"written\", not {job.data_flow!r}")
    job.output_limit = _output_limit(table, "output_limit")
    job.variables = table.pairs("variables")
    job.generic_info = table.pairs("generic_info")
    imports = table.sub("import_code")
    if imports is not None:
        for language in imports.values:
            job.import_code[language] = _code(imports, language)
            job.import_source[language] = _source(path, lines, f"import:{language}")
    job.job_selection_script = _read_script(
        table.sub("selection_script"), _source(path, lines, "job:selection_script"))
    job.job_fork_env = _read_script(table.sub("fork_env"), _source(path, lines, "job:fork_env"))
    runtime = table.sub("runtime_env")
    if runtime is not None:
        job.runtime_env = _runtime_env(runtime)
    table.done()
    tasks = top.get("tasks", list, [])
    for index, values in enumerate(tasks, 1):
        task = _read_task(_Table(path, f"task {index} ([[tasks]])", values), index, lines)
        if task.name in job.tasks:
            top.fail(f"two tasks are named '{task.name}'")
        job.tasks[task.name] = task
    return job


def _runtime_env(table: _Table) -> dict[str, Any]:
    """As ``#%runtime_env`` stores it: every parameter, the declared defaults filled in."""
    from pragma_kernel.pragmas.declaration import declarations

    env: dict[str, Any] = {}
    for param in declarations()["runtime_env"].params:
        kind = bool if param.kind == "flag" else str
        env[param.name] = table.get(param.name, kind, param.default)
    table.done()
    return env


def _output_limit(table: _Table, key: str) -> OutputLimit | None:
    text = table.get(key, (str, int))
    if text is None:
        return None
    text = str(text).strip()
    if text == "off":
        return OutputLimit(None)
    if not text.isdigit() or not 1 <= int(text) <= 10**9:
        table.fail(f"'{key}' in {table.where} must be a number of lines or \"off\", not "
                   f"{text!r}")
    return OutputLimit(int(text))


def _read_task(table: _Table, index: int, lines: dict[str, int]) -> Task:
    path = table.path
    name = table.text("name", required=True)
    table.where = f"task '{name}'"
    task = Task(name=name, code=_code(table), language=table.text("language", DEFAULT_LANGUAGE),
                source=_source(path, lines, f"task:{index}"), dep=table.names("dep"),
                imports=table.names("import"), exports=table.names("export"),
                runs=table.whole("runs", 1, 1, MAX_RUNS), path=table.text("path"),
                precious_result=table.get("precious_result", bool, False),
                retries=table.whole("retries", 0, 0, MAX_RETRIES),
                data_flow=table.text("flow"))  # fmt: skip
    if name in task.dep:
        table.fail(f"task '{name}' depends on itself")
    if task.data_flow not in (None, "auto", "written"):
        table.fail(f"'flow' in task '{name}' must be \"auto\" or \"written\"")
    timeout = table.get("timeout", (int, float))
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT:
        table.fail(f"'timeout' in task '{name}' must be above 0 and at most {MAX_TIMEOUT}")
    task.timeout = timeout
    task.output_limit = _output_limit(table, "output_limit")
    task.variables = table.pairs("variables")
    task.generic_info = table.pairs("generic_info")
    for attribute in _TASK_SCRIPTS:
        setattr(task, attribute, _read_script(
            table.sub(attribute), _source(path, lines, f"task:{index}:{attribute}")))
    control = table.sub("control")
    if control is not None:
        task.flow = _read_control(control, _source(path, lines, f"task:{index}:control"))
    table.done()
    return task


def _read_control(table: _Table, source: SourceLocation) -> FlowInfo:
    flow = FlowInfo(max_rounds=table.whole("max_rounds", DEFAULT_MAX_LOOP_ROUNDS, 1,
                                           MAX_LOOP_ROUNDS))  # fmt: skip
    for key in _FLOW_KEYS[:-1]:
        setattr(flow, key, table.text(key))
    if flow.block not in (None, "start", "end"):
        table.fail(f"'block' in {table.where} must be \"start\" or \"end\"")
    if flow.action not in (None, "replicate", "loop", "if"):
        table.fail(f"'action' in {table.where} must be \"replicate\", \"loop\" or \"if\"")
    flow.script = _read_script(table.sub("script"), source)
    table.done()
    return flow
