"""What runs inside a ProActive Python task: ProActive's bindings around ``pragma_kernel.pragmas.runtime``.

A ProActive task script sees ``variables`` (job and task variables plus everything its ancestors
put; a Java map with ``get``/``put``) and sets ``result``. The script the backend generates for a
Python task is three lines around :func:`run_proactive_task`, which

1. unpickles the task's :class:`~pragmas.runtime.TaskSpec` (base64 text in the script),
2. reads each import from the variable its source task put (``pragma.export.<task>.<name>``,
   one per replica for replicated tasks) or, for values from the kernel's namespace, from the
   job variable ``pragma.local.<name>``; large values are files in the dataspace instead,
3. calls :func:`pragma_kernel.pragmas.runtime.run_task` exactly as the other backends do,
4. puts the exports and the variables the task put, and returns the payload the kernel decodes
   (result, exports, pictures); a failed task raises :class:`ProActiveTaskFailed` so ProActive
   marks it failed and skips its dependents, with the same payload in the message.

Values travel as text: ``pragma-pickle:`` + base64(cloudpickle), or ``pragma-file:`` + a path
relative to the task's local space when larger than :data:`INLINE_LIMIT` (the job declares the
dataspace transfers, see ``proactive_job``). The node needs pragma-kernel (and cloudpickle)
installed, e.g. through ``#%fork_env``/``#%runtime_env`` with an image that has it.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import pickle
import sys
from typing import Any

import cloudpickle

PICKLE_PREFIX = "pragma-pickle:"
FILE_PREFIX = "pragma-file:"
RESULT_PREFIX = "pragma-result:"
FAILURE_MARKER = "pragma-failure:"
#: variable keys the kernel owns; never shown to the task as ProActive variables
INTERNAL_PREFIX = "pragma."
DATA_DIR = "pragma-data"
#: encoded values above this many bytes go through the dataspace instead of a variable
INLINE_LIMIT = 256 * 1024


class ProActiveTaskFailed(RuntimeError):
    """Raised inside the ProActive task when the user's code failed; carries the payload."""


def export_key(task: str, name: str, replica: int | None = None) -> str:
    """The variable an export travels in (one per replica for replicated tasks)."""
    key = f"{INTERNAL_PREFIX}export.{task}.{name}"
    return key if replica is None else f"{key}#{replica}"


def typed_key(name: str) -> str:
    """The variable holding the Python value of a number or boolean a task put as text."""
    return f"{INTERNAL_PREFIX}typed.{name}"


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (bool, int, float)) and not isinstance(value, str)


def local_key(name: str) -> str:
    """The job variable holding a value read from the kernel's namespace at submission."""
    return f"{INTERNAL_PREFIX}local.{name}"


def data_dir(task: str) -> str:
    """The dataspace folder (relative to a task's local space) for a task's large values."""
    return f"{DATA_DIR}/{task}"


def encode_pickled(pickled: bytes) -> str:
    return PICKLE_PREFIX + base64.b64encode(pickled).decode("ascii")


def encode_value(value: Any, spill_to: str | None = None, localspace: str | None = None) -> str:
    """``value`` as variable text; written to ``localspace/spill_to`` when it is large."""
    text = encode_pickled(cloudpickle.dumps(value))
    if spill_to is None or len(text) <= INLINE_LIMIT:
        return text
    path = os.path.join(localspace or os.getcwd(), spill_to)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as file:
        cloudpickle.dump(value, file)
    return FILE_PREFIX + spill_to


def decode_value(text: Any, localspace: str | None = None) -> Any:
    """The value ``text`` encodes; text that is not ours (a Bash task's put) is returned as is."""
    if not isinstance(text, str):
        return text
    if text.startswith(PICKLE_PREFIX):
        return cloudpickle.loads(base64.b64decode(text[len(PICKLE_PREFIX) :]))
    if text.startswith(FILE_PREFIX):
        path = os.path.join(localspace or os.getcwd(), text[len(FILE_PREFIX) :])
        with open(path, "rb") as file:
            return cloudpickle.load(file)
    return text


def encode_spec(spec: Any) -> str:
    return base64.b64encode(cloudpickle.dumps(spec)).decode("ascii")


def decode_payload(text: str) -> dict[str, Any]:
    """The payload of a task's ``result`` (or of a failure message), as a dict."""
    return cloudpickle.loads(base64.b64decode(text))


def payload_from_result(value: Any) -> dict[str, Any] | None:
    """The payload of a task result, or None when the result is not one of ours."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str) and value.startswith(RESULT_PREFIX):
        return decode_payload(value[len(RESULT_PREFIX) :])
    return None


def payload_from_failure(message: str) -> dict[str, Any] | None:
    """The payload a failed task put in its exception message, if any."""
    _, found, rest = message.partition(FAILURE_MARKER)
    if not found:
        return None
    return decode_payload(rest.split()[0])


def run_proactive_task(
    spec_text: str, sources: dict[str, str | None], variables: Any, localspace: str | None = None
) -> str:
    """Run one task (replica) under ProActive's bindings; return the text for ``result``."""
    from pragma_kernel.pragmas import runtime

    localspace = local_space_path(localspace)
    spec = cloudpickle.loads(base64.b64decode(spec_text))
    # ProActive's own PA_* variables (job id, replica, loop iteration...) are the true ones here
    own = {k: v for k, v in spec.variables.items() if not k.startswith("PA_")}
    replica = None
    if spec.replication is not None:  # replicated: ProActive tells each replica its index
        replica = int(variables.get("PA_TASK_REPLICATION") or 0)
    spec = dataclasses.replace(spec, replication=replica, variables=own)
    inputs = read_inputs(sources, variables, localspace)
    # ProActive made the local space for it and moves its files (the workflow's dataspaces)
    outcome = runtime.run_task(spec, inputs, emit=_echo_streams(sys.stdout, sys.stderr),
                               in_place=True)
    payload = _payload(spec.task_name, replica, outcome, variables, localspace)
    if not outcome.ok:
        error = outcome.error
        shown = "\n".join(error.traceback) if error else "the task failed"
        raise ProActiveTaskFailed(f"{shown}\n{FAILURE_MARKER}{payload}")
    return RESULT_PREFIX + payload


def local_space_path(binding: Any) -> str:
    """The task's local space as a directory: ProActive's ``localspace`` binding (a path, or a
    ``file:`` URI on some versions), else the working directory, which a task starts in."""
    text = str(binding) if binding else ""
    if text.startswith("file:"):
        from urllib.parse import unquote, urlsplit

        text = unquote(urlsplit(text).path)
    return text if text and os.path.isdir(text) else os.getcwd()


def read_inputs(
    sources: dict[str, Any], variables: Any, localspace: str | None
) -> dict[str, Any]:
    """Each import from its source task's variable(s) or the job's local snapshot."""
    keys = [str(k) for k in variables]
    inputs: dict[str, Any] = {}
    for name, source in sources.items():
        if isinstance(source, tuple):  # after a branch: the arm that ran sent it
            source = next((s for s in source if export_key(s, name) in keys
                           or any(k.startswith(export_key(s, name) + "#") for k in keys)),
                          source[0])
        single = local_key(name) if source is None else export_key(source, name)
        if single in keys:
            inputs[name] = decode_value(variables.get(single), localspace)
            continue
        replicas = sorted(
            (int(k.rsplit("#", 1)[1]), k) for k in keys if k.startswith(single + "#")
        )
        if not replicas:
            origin = "the notebook (a job variable)" if source is None else f"task {source!r}"
            raise ProActiveTaskFailed(
                f"import {name!r}: no value arrived from {origin}; the ProActive variable "
                f"{single!r} is missing (was the job changed on the server?)"
            )
        inputs[name] = [decode_value(variables.get(k), localspace) for _, k in replicas]
    inputs["__variables__"] = {
        str(k): decode_value(variables.get(typed_key(k) if typed_key(k) in keys else k),
                             localspace)
        for k in keys
        if not str(k).startswith(INTERNAL_PREFIX)
    }
    return inputs


def _payload(
    task: str, replica: int | None, outcome: Any, variables: Any, localspace: str | None
) -> str:
    exports = {}
    for name, value in outcome.exports.items():
        # no "#" in file names: the dataspaces are URLs, where it would start a fragment
        spill = f"{data_dir(task)}/{name}" + (f".{replica}" if replica is not None else "")
        text = encode_value(value, spill_to=spill + ".pkl", localspace=localspace)
        variables.put(export_key(task, name, replica), text)
        exports[name] = text
    put = {}
    for name, value in outcome.variables.items():
        # strings stay strings, and numbers and booleans are put as their text, so flow
        # scripts on the server, Bash/Groovy descendants and the portal read them; Python
        # descendants get the value itself from its typed twin
        put[name] = value if isinstance(value, str) else encode_value(value)  # (the kernel's)
        if _is_scalar(value):
            variables.put(typed_key(name), put[name])
        variables.put(name, str(value) if _is_scalar(value) else put[name])
    displays = [
        {"data": o.data, "metadata": o.metadata} for o in outcome.outputs if o.kind == "display"
    ]
    payload = {
        "version": 1,
        "task": task,
        "replica": replica,
        "ok": outcome.ok,
        "result": _encode_result(outcome.result) if outcome.ok else None,
        "exports": exports,
        "variables": put,
        "displays": displays,
        "error": dataclasses.asdict(outcome.error) if outcome.error else None,
        "started": outcome.started,
        "finished": outcome.finished,
        #: the output files it wrote (the output space has them): (path, size)
        "files": [(ref.path, ref.size) for ref in outcome.files],
    }
    return base64.b64encode(cloudpickle.dumps(payload)).decode("ascii")


def _encode_result(value: Any) -> str:
    """The result, or its repr when it cannot be pickled (a result is shown, not computed on)."""
    try:
        return encode_value(value)
    except (pickle.PicklingError, TypeError, AttributeError):
        return encode_value(repr(value))


def _echo_streams(stdout: Any, stderr: Any):
    """Stream outputs go to the task's real stdout/stderr: ProActive's logs keep them."""

    def emit(output: Any) -> None:
        if output.kind == "stream":
            target = stderr if output.name == "stderr" else stdout
            target.write(output.text)
            target.flush()

    return emit
