"""Pragma family: scripts — pre/post scripts, selection scripts, fork and runtime environments.

Pre and post scripts run on every backend. Selection scripts, fork environments and the runtime
environment are ProActive's: they are kept in the job model and carried into the ProActive job;
the other backends say once that they do not apply.
"""

from __future__ import annotations

from typing import Any

from pragma_kernel.pragmas.declaration import PROACTIVE_ONLY, Param, PragmaCall, pragma
from pragma_kernel.pragmas.declarations.tasks import (
    PATH,
    compile_if_python,
    existing_task,
    language_param,
    load_body,
    refuse_if_not_run_here,
)
from pragma_kernel.pragmas.model import Script

TASK_NAME = Param("name", "name", required=True, help="the task it attaches to")
FORCE = Param("force", "flag", default=False,
              help="also drop the tasks' own scripts so the default applies to all (default "
              "off: only to tasks without their own)")


def _script(call: PragmaCall, ctx: Any) -> Script:
    code, source = load_body(call, ctx)
    if not code.strip():
        raise call.error("needs code: write it below the pragma line or give path=FILE")
    language = call.args["language"]
    compile_if_python(code, language, source)
    return Script(code=code, language=language, path=call.args.get("path"), source=source)


def _attach(engine: Any, call: PragmaCall, ctx: Any, attribute: str) -> None:
    task = existing_task(engine, call)
    if attribute in ("pre_script", "post_script"):  # they run on every backend
        refuse_if_not_run_here(engine, call, call.args["language"], "scripts")
    setattr(task, attribute, _script(call, ctx))
    ctx.stream("stdout", f"{attribute.replace('_', ' ').capitalize()} of task '{task.name}' "
                         "set.\n")


def _attach_to_job(engine: Any, call: PragmaCall, ctx: Any, job_attr: str, task_attr: str) -> None:
    """Set the job's default; a task without its own script gets it when the job runs (now or
    defined later). ``force=on`` drops the tasks' own scripts so the default applies to all."""
    setattr(engine.job, job_attr, _script(call, ctx))
    if call.args["force"]:
        for task in engine.job.tasks.values():
            setattr(task, task_attr, None)
    own = sum(getattr(t, task_attr) is not None for t in engine.job.tasks.values())
    what = task_attr.replace("_", " ")
    ctx.stream("stdout", f"Job default {what} set: it applies to every task without its own "
                         f"({own} task(s) have their own).\n")


def _script_params(default_language: str = "Python") -> list[Param]:
    return [TASK_NAME, language_param(default_language), PATH]


@pragma(
    "pre_script",
    family="scripts",
    summary="sets the script run before a task's code (on the same worker)",
    params=_script_params(),
    body="optional",
    example="#%pre_script(name=train, language=Linux_Bash)\necho preparing",
    details="The code is the rest of the cell or the file of path=. Pre and post scripts run on "
    "every backend; a Python pre script shares the task's variables.",
)
def pre_script(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _attach(engine, call, ctx, "pre_script")


@pragma(
    "post_script",
    family="scripts",
    summary="sets the script run after a task's code (on the same worker)",
    params=_script_params(),
    body="optional",
    example="#%post_script(name=train, language=Python)\nprint('done')",
)
def post_script(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _attach(engine, call, ctx, "post_script")


@pragma(
    "selection_script",
    family="scripts",
    summary="sets the script that chooses the nodes a task may run on (ProActive)",
    params=_script_params(),
    body="optional",
    backends=PROACTIVE_ONLY,
    example="#%selection_script(name=train)\nselected = True",
)
def selection_script(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _attach(engine, call, ctx, "selection_script")


@pragma(
    "fork_env",
    family="scripts",
    summary="sets the fork environment script of a task (ProActive)",
    params=_script_params(),
    body="optional",
    backends=PROACTIVE_ONLY,
    example="#%fork_env(name=train)\n"
    "forkEnvironment.addSystemEnvironmentVariable('OMP_NUM_THREADS', '4')",
)
def fork_env(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _attach(engine, call, ctx, "fork_env")


@pragma(
    "job_selection_script",
    family="scripts",
    summary="sets the default selection script of the job's tasks (ProActive)",
    params=[language_param(), PATH, FORCE],
    body="optional",
    backends=PROACTIVE_ONLY,
    example="#%job_selection_script(force=on)\nselected = True",
)
def job_selection_script(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _attach_to_job(engine, call, ctx, "job_selection_script", "selection_script")


@pragma(
    "job_fork_env",
    family="scripts",
    summary="sets the default fork environment of the job's tasks (ProActive)",
    params=[language_param(), PATH, FORCE],
    body="optional",
    backends=PROACTIVE_ONLY,
    example="#%job_fork_env()\n"
    "forkEnvironment.addSystemEnvironmentVariable('OMP_NUM_THREADS', '4')",
)
def job_fork_env(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _attach_to_job(engine, call, ctx, "job_fork_env", "fork_env")


def _flag(name: str, default: bool, text: str) -> Param:
    return Param(name, "flag", default=default, help=text)


RUNTIME_PARAMS = [
    Param("type", "choice", default="docker", choices=("docker", "podman", "singularity"),
          help="the container engine"),
    Param("image", "word", default="docker://activeeon/dlm3", help="the container image"),
    _flag("nvidia_gpu", False, "give the container the node's NVIDIA GPUs"),
    Param("mount_host_path", "path", help="a host directory to mount"),
    Param("mount_container_path", "path", help="where it is mounted in the container"),
    _flag("rootless", False, "run the container rootless"),
    _flag("isolation", False, "isolate the container from the node"),
    _flag("no_home", False, "do not mount the home directory"),
    _flag("host_network", True, "use the host's network"),
    _flag("debug", False, "debug output of the fork environment"),
    _flag("verbose", False, "verbose output of the container engine"),
    _flag("force", False, "also replace the fork environments the tasks defined so far have "
          "of their own (#%fork_env); default off: only tasks without one run in it"),
]  # fmt: skip


@pragma(
    "runtime_env",
    family="scripts",
    summary="runs the job's tasks in a container (ProActive fork environment)",
    params=RUNTIME_PARAMS,
    backends=PROACTIVE_ONLY,
    example="#%runtime_env(type=docker, image=docker://python:3.11, nvidia_gpu=on)",
    details="Stored with the job and turned into ProActive's container fork environment when "
    "the job runs there.",
)
def runtime_env(engine: Any, call: PragmaCall, ctx: Any) -> None:
    engine.job.runtime_env = dict(call.args)
    replaced = []
    if call.args["force"]:  # Activeeon's meaning: every task defined so far runs in it too
        for task in engine.job.tasks.values():
            if task.fork_env is not None:
                task.fork_env = None
                replaced.append(task.name)
    note = (f" It replaces the fork environment of {', '.join(repr(n) for n in replaced)}."
            if replaced else "")
    ctx.stream("stdout", f"Runtime environment set: {call.args['type']} {call.args['image']}."
                         f"{note}\n")
