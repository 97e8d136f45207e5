"""The key of a task's result: what must be unchanged for an earlier result to be reused.

A :class:`TaskKey` is made of components, each hashed on its own so that a change can be named:

- ``code``: the task's code, normalized. Python: ``ast.dump`` of the parsed code (no line or
  column attributes), so comments and formatting do not count; other languages: the text with
  trailing spaces and surrounding blank lines removed.
- ``options``: what else decides what the task computes: its name, language, runs, imports and
  exports, task and job variables, pre/post scripts, flow script and the job's ``#%import``
  code of its language (code normalized likewise).
- ``inputs``: the hash of each value the task takes from the notebook (the cloudpickled
  ``JobPlan.local_inputs``).
- ``files``: the content hash of each file of the notebook's folder its ``input_files`` name
  (files an ancestor writes are covered by that ancestor's key).
- ``ancestors``: the key of each task it depends on (control-flow edges included), so a change
  upstream reaches every descendant.
- ``modules``: the source of the notebook-folder modules the code imports (``helper.py``,
  ``mypkg/...``), also those they import in turn.

Tasks that decide control flow (a flow script), those inside a loop and those marked
``cache=off`` are *volatile*: never reused; their key, and their descendants', changes at every
submission, so that their descendants always run after them too.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pragma_kernel.pragmas.backends.flow_graph import FlowGraph
from pragma_kernel.pragmas.task_files import FileRef, file_digest

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pragma_kernel.pragmas.backends.base import JobPlan
    from pragma_kernel.pragmas.model import Job, Script, Task

#: changes when what a key is made of changes: keys of an older version never match
KEY_VERSION = 2
_PYTHON = frozenset({"python", "cpython", "python3"})


@dataclass(frozen=True)
class TaskKey:
    """A task's key and the hashes it is made of (kept beside a stored result, to explain)."""

    task: str
    #: what results are stored and found under: ``stable``, salted with the submission's
    #: nonce when the task or one of its ancestors is volatile
    key: str
    stable: str  #: the hash of the components below
    code: str
    options: str
    inputs: dict[str, str] = field(default_factory=dict)  #: notebook variable -> value hash
    ancestors: dict[str, str] = field(default_factory=dict)  #: task -> its stable key
    modules: dict[str, str] = field(default_factory=dict)  #: file (relative) -> content hash
    files: dict[str, str] = field(default_factory=dict)  #: input file -> content hash
    #: why the task is never reused ("it decides control flow", ...), None when it may be
    volatile: str | None = None
    #: a dependency that is volatile or follows one: the task always runs after it
    follows: str | None = None

    @property
    def reusable(self) -> bool:
        return self.key == self.stable

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskKey:
        return cls(**data)


def task_keys(plan: JobPlan, folder: str | Path | None = None) -> dict[str, TaskKey]:
    """The key of every task of the plan, in its order; ``folder`` is where the notebook's
    own modules are (default: the working directory)."""
    modules = ModuleSources(Path(folder or os.getcwd()))
    flow = FlowGraph(plan)
    volatile = volatile_tasks(plan, flow)
    nonce = secrets.token_hex(8)  # this submission's: volatile keys never match another's
    keys: dict[str, TaskKey] = {}
    for name, planned in plan.tasks.items():
        task = planned.task
        inputs = {variable: _sha(plan.local_inputs.get(variable, b""))
                  for variable, source in sorted(planned.import_sources.items())
                  if source is None}
        components = {
            "code": _sha(normalized_code(task.code, task.language)),
            "options": _sha(_options_text(task, plan.job)),
            "inputs": inputs,
            "ancestors": {dep: keys[dep].stable for dep in flow.deps[name] if dep in keys},
            "modules": modules.hashes(_python_sources(task, plan.job)),
            "files": _file_hashes(plan.input_files.get(name, [])),
        }
        stable = _sha(json.dumps([KEY_VERSION, components], sort_keys=True))
        follows = next((dep for dep in flow.deps[name]
                        if dep in keys and not keys[dep].reusable), None)
        key = stable if name not in volatile and follows is None else _sha(stable + nonce)
        keys[name] = TaskKey(name, key, stable, volatile=volatile.get(name), follows=follows,
                             **components)
    return keys


def volatile_tasks(plan: JobPlan, flow: FlowGraph | None = None) -> dict[str, str]:
    """The tasks never reused, each with why: deciding control flow, in a loop, cache=off."""
    flow = flow or FlowGraph(plan)
    why: dict[str, str] = {}
    for name, planned in plan.tasks.items():
        task = planned.task
        if task.flow.action == "loop" and task.flow.target in plan.tasks:
            for member in flow.loop_block(name):
                why.setdefault(member, "it is part of a loop, whose rounds differ")
        if task.flow.script is not None:
            why[name] = "it decides control flow"
        if not task.cache:
            why[name] = "it is marked cache=off"
    return why


def explain(current: TaskKey, earlier: TaskKey | None) -> list[str]:
    """Why ``current`` finds no result: what changed since ``earlier`` (the components of the
    task's last stored result), in words."""
    if current.volatile:
        return [f"{current.volatile} (never reused)"]
    if current.follows:
        return [f"ancestor {current.follows} always runs"]
    if earlier is None:
        return ["no earlier result"]
    if earlier.stable == current.stable:
        return ["no earlier result (it was evicted or cleared)"]
    reasons = []
    if current.code != earlier.code:
        reasons.append("its code changed")
    if current.options != earlier.options:
        reasons.append("its options changed")
    for variable, digest in current.inputs.items():
        if variable in earlier.inputs and earlier.inputs[variable] != digest:
            reasons.append(f"input {variable} changed")
    for dep, key in current.ancestors.items():
        if earlier.ancestors.get(dep) != key:
            reasons.append(f"ancestor {dep} changed")
    for path, digest in current.files.items():
        if earlier.files.get(path) != digest:
            reasons.append(f"input file {path} changed" if path in earlier.files
                           else f"input file {path} is new")
    for path in sorted(set(earlier.files) - set(current.files)):
        reasons.append(f"input file {path} is gone")
    for path in sorted(set(current.modules) | set(earlier.modules)):
        if current.modules.get(path) != earlier.modules.get(path):
            reasons.append(f"module file {path} changed")
    return reasons or ["its key changed (another version of pragma-kernel)"]


# --- the components ---------------------------------------------------------------------------


def normalized_code(code: str, language: str) -> str:
    """Python: the syntax tree without positions (comments and layout do not count); other
    languages, or Python that does not parse: lines without trailing spaces, no surrounding
    blank lines."""
    if language.lower() in _PYTHON:
        try:
            return ast.dump(ast.parse(code), include_attributes=False)
        except (SyntaxError, ValueError):
            pass
    lines = [line.rstrip() for line in code.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def _script(script: Script | None) -> list[str] | None:
    if script is None:
        return None
    return [script.language, normalized_code(script.code, script.language)]


def _options_text(task: Task, job: Job) -> str:
    flow = task.flow
    options = {
        "name": task.name, "language": task.language.lower(), "runs": task.runs,
        "imports": sorted(task.imports), "exports": sorted(task.exports),
        "variables": sorted(task.variables.items()),
        "job_variables": sorted(job.variables.items()),
        "import_code": normalized_code(job.import_code.get(task.language, ""), task.language),
        "pre_script": _script(task.pre_script), "post_script": _script(task.post_script),
        "flow": [flow.block, flow.action, _script(flow.script), flow.target, flow.if_target,
                 flow.else_target, flow.continuation_target],
        "files": [task.input_files, task.output_files],
    }
    return json.dumps(options, sort_keys=True, default=str)


def _file_hashes(refs: Iterable[FileRef]) -> dict[str, str]:
    """Input file -> the hash of its content (remembered while the file is unchanged)."""
    hashes = {}
    for ref in sorted(refs, key=lambda r: r.path):
        try:
            hashes[ref.path] = file_digest(ref.location) if ref.location else _sha(ref.read())
        except OSError as error:  # unreadable now: a hash of the error, so a later read differs
            hashes[ref.path] = _sha(f"unreadable: {error}")
    return hashes


def _python_sources(task: Task, job: Job) -> list[str]:
    """The Python code the task runs: its body, the job's #%import code, its scripts."""
    sources = []
    if task.language.lower() in _PYTHON:
        sources += [task.code, job.import_code.get(task.language, "")]
    for script in (task.pre_script, task.post_script):
        if script is not None and script.language.lower() in _PYTHON:
            sources.append(script.code)
    return sources


def _sha(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


class ModuleSources:
    """The notebook folder's own modules that code imports, and the hashes of their files."""

    def __init__(self, folder: Path):
        self.folder = folder

    def hashes(self, sources: Iterable[str]) -> dict[str, str]:
        """File (relative to the folder) -> content hash, for every folder module the sources
        import, directly or through those modules."""
        found: dict[str, str] = {}
        pending = [name for code in sources for name in imported_modules(code)]
        seen: set[str] = set()
        while pending:
            module = pending.pop()
            if module in seen:
                continue
            seen.add(module)
            for path in self._files_of(module):
                relative = path.relative_to(self.folder).as_posix()
                if relative in found:
                    continue
                text, digest = self._read(path)
                found[relative] = digest
                pending += imported_modules(text)
        return dict(sorted(found.items()))

    def _files_of(self, module: str) -> list[Path]:
        single = self.folder / f"{module}.py"
        if single.is_file():
            return [single]
        package = self.folder / module
        if package.is_dir():
            return sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
        return []

    def _read(self, path: Path) -> tuple[str, str]:
        try:
            data = path.read_bytes()
        except OSError as error:  # unreadable: a hash of the error, so a later read differs
            return "", _sha(f"unreadable: {error}")
        return data.decode("utf-8", "replace"), _sha(data)


def imported_modules(code: str) -> list[str]:
    """The top-level names of the modules ``code`` imports absolutely, anywhere in it."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module.split(".")[0])
    return names
