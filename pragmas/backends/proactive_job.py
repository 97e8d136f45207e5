"""A job plan as a ProActive workflow, built with the ``proactive`` SDK, and its XML.

Everything the pragmas declared is carried over: tasks and dependencies, job and task variables,
generic information, pre/post scripts, selection scripts, fork environments (``#%runtime_env``
renders a Groovy fork-environment script that starts the task in a container, like Activeeon's
kernel), languages, precious results, replication (``runs=N`` becomes a replicate flow script on
the parent with FlowBlock start/end, as Activeeon's kernel does) and the control flow of the
flow pragmas. Python tasks run the shared task runtime (``proactive_task``); their values travel
through ProActive variables and, when large, the dataspace (declared here as input/output files).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any

from pragma_kernel.pragmas.backends import proactive_task
from pragma_kernel.pragmas.backends.base import JobPlan, PlannedTask
from pragma_kernel.pragmas.errors import PragmaError
from pragma_kernel.pragmas.model import DEFAULT_LANGUAGE, Script, Task
from pragma_kernel.pragmas.private_files import write_private
from pragma_kernel.pragmas.task_files import ant_patterns, matches, place

#: pragma language names -> ProActive script engine names (the SDK's table and the others its
#: README lists); a name not here is passed on lower-cased.
LANGUAGE_CODES = {
    "python": "cpython",
    "cpython": "cpython",
    "linux_bash": "bash",
    "bash": "bash",
    "shell": "shell",
    "windows_cmd": "cmd",
    "dockercompose": "docker-compose",
    "dockerfile": "dockerfile",
    "kubernetes": "kubernetes",
    "php": "php",
    "vbscript": "vbscript",
    "scalaw": "scalaw",
    "groovy": "groovy",
    "javascript": "javascript",
    "jython": "python",
    "ruby": "ruby",
    "perl": "perl",
    "powershell": "powershell",
    "r": "R",
}
#: what a ``runs=N`` replication writes as its flow script (Activeeon's kernel does the same)
REPLICATE_LANGUAGE = "javascript"
PYTHON_COMMAND = ("PYTHON_COMMAND", "python3")  # the SDK's default generic info for Python tasks

RUNTIME_ENV_DEFAULTS: dict[str, Any] = {
    "type": "docker",
    "image": "docker://activeeon/dlm3",
    "nvidia_gpu": False,
    "mount_host_path": "",
    "mount_container_path": "",
    "rootless": False,
    "isolation": False,
    "no_home": False,
    "host_network": True,
    "debug": False,
    "verbose": False,
}


@dataclass(frozen=True)
class Placement:
    """Where ``#%submit_job(nodesource=, host=, token=)`` asks the tasks to run."""

    nodesource: str | None = None
    host: str | None = None
    token: str | None = None

    def selection_script(self) -> Script | None:
        """A Groovy selection script forcing the node source and/or host, as Activeeon's does."""
        checks = []
        if self.nodesource:
            literal = _groovy_literal(self.nodesource)
            checks.append(f'System.getProperty("proactive.node.nodesource") == {literal}')
        if self.host:
            literal = _groovy_literal(self.host)
            checks.append(f"java.net.InetAddress.getLocalHost().getHostName() == {literal}")
        if not checks:
            return None
        return Script("selected = (" + ") && (".join(checks) + ")", language="Groovy")


class WorkflowBuildError(PragmaError):
    """The job cannot be expressed as a ProActive workflow; the message says why and what to do."""


def language_code(language: str | None) -> str:
    """ProActive's script engine name for a pragma ``language=`` value."""
    name = (language or DEFAULT_LANGUAGE).strip()
    return LANGUAGE_CODES.get(name.lower(), name.lower())


def is_python(language: str | None) -> bool:
    return language_code(language) == "cpython"


@dataclass
class Workflow:
    """A built ProActive job: the SDK's Java ``TaskFlowJob`` plus what the backend must know."""

    name: str
    java_job: Any
    #: ProActive task name -> the plan's task it runs (None for a split/merge added for runs=N)
    task_of: dict[str, str | None]
    replicated: frozenset[str]  #: plan tasks that run as replicas
    #: files to put in the job's input space (relative path -> content), for large local inputs
    input_files: dict[str, bytes] = field(default_factory=dict)
    #: plan tasks inside a loop block: they may run again until the job is over
    looping: frozenset[str] = frozenset()

    def xml(self, gateway: Any = None) -> str:
        gateway = gateway or _shared_gateway()
        transformer = gateway.proactive_factory.create_job2xml_transformer()
        return str(transformer.jobToxmlString(self.java_job))

    def write_input_files(self, folder: str, plan: JobPlan | None = None) -> None:
        """Put the large local inputs where the job's input space will take them from, and
        the notebook's files the tasks read (linked when the folder allows; a file already
        in a folder of the user's, ``input_path=``, is left as it is)."""
        for relative, data in self.input_files.items():
            path = os.path.join(folder, relative)
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            write_private(path, data)
        for refs in (plan.input_files.values() if plan is not None else ()):
            for ref in refs:
                if not os.path.lexists(os.path.join(folder, ref.path)):
                    place(ref, folder)


def export_workflow_xml(plan: JobPlan, gateway: Any = None) -> str:
    """The plan as ProActive workflow XML (the SDK's ``exportJob2XML`` route)."""
    gateway = gateway or _shared_gateway()
    return build_workflow(plan, gateway).xml(gateway)


def build_workflow(
    plan: JobPlan, gateway: Any = None, placement: Placement | None = None
) -> Workflow:
    """The plan as an SDK job model, built into ProActive's Java job by the SDK."""
    gateway = gateway or _shared_gateway()
    placement = placement or Placement()
    layout = _ReplicationLayout.of(plan)
    model = gateway.createJob()
    model.setJobName(plan.name)
    for key, value in plan.job.variables.items():
        model.addVariable(key, str(value))
    for key, value in plan.job.generic_info.items():
        model.addGenericInformation(key, str(value))
    if placement.token:
        model.addGenericInformation("NODE_ACCESS_TOKEN", placement.token)
    input_files = _add_local_inputs(model, plan)

    sdk_tasks: dict[str, Any] = {}
    forced = placement.selection_script()
    for planned in plan.tasks.values():
        replicated = planned.name in layout.replicated
        sdk_task = _sdk_task(gateway, plan, planned, replicated)
        if forced is not None:  # placement wins over the tasks' own selection scripts
            sdk_task.setSelectionScript(_script(gateway.createSelectionScript, forced))
        sdk_tasks[planned.name] = sdk_task
    for name in layout.extra_tasks:
        sdk_tasks[name] = _structural_task(gateway, name)
    for name, deps in layout.deps.items():
        for dep in deps:
            sdk_tasks[name].addDependency(sdk_tasks[dep])
    _apply_flow(gateway, plan, layout, sdk_tasks)
    for task in sdk_tasks.values():
        model.addTask(task)

    java_job = gateway.buildJob(model)
    _declare_dataspace(gateway, java_job, plan, input_files)
    _declare_task_files(gateway, java_job, plan)
    task_of = {name: name for name in plan.tasks} | {name: None for name in layout.extra_tasks}
    return Workflow(plan.name, java_job, task_of, frozenset(layout.replicated), input_files,
                    _looping(plan, layout.deps))  # fmt: skip


def _looping(plan: JobPlan, deps: dict[str, list[str]]) -> frozenset[str]:
    """The tasks of every loop block: its start task, its loop task and those between."""
    def ancestors(name: str) -> set[str]:
        found, stack = set(), list(deps.get(name, []))
        while stack:
            dep = stack.pop()
            if dep not in found:
                found.add(dep)
                stack.extend(deps.get(dep, []))
        return found

    inside: set[str] = set()
    for planned in plan.tasks.values():
        flow = planned.task.flow
        if flow.action == "loop" and flow.target:
            between = {n for n in ancestors(planned.name) if flow.target in ancestors(n)}
            inside |= {planned.name, flow.target, *between}
    return frozenset(inside)


# -- tasks -------------------------------------------------------------------------------------


def _sdk_task(gateway: Any, plan: JobPlan, planned: PlannedTask, replicated: bool) -> Any:
    task = planned.task
    code = language_code(task.language)
    sdk_task = _new_task(gateway, code)
    sdk_task.setTaskName(task.name)
    if code == "cpython":
        sdk_task.setTaskImplementation(python_task_script(plan, planned, replicated))
        sdk_task.addGenericInformation(*PYTHON_COMMAND)
    else:
        if task.imports or task.exports:
            raise WorkflowBuildError(
                f"task {task.name!r} is {task.language}: import=/export= carry values between "
                "Python tasks only; in other languages use ProActive's variables directly"
            )
        sdk_task.setTaskImplementation(_foreign_task_code(plan, task))
    for key, value in task.variables.items():
        sdk_task.addVariable(key, str(value))
    for key, value in task.generic_info.items():
        sdk_task.addGenericInformation(key, str(value))
    sdk_task.setPreciousResult(bool(task.precious_result))
    if task.pre_script is not None:
        sdk_task.setPreScript(_script(gateway.createPreScript, task.pre_script))
    if task.post_script is not None:
        sdk_task.setPostScript(_script(gateway.createPostScript, task.post_script))
    selection = task.selection_script or plan.job.job_selection_script
    if selection is not None:
        sdk_task.setSelectionScript(_script(gateway.createSelectionScript, selection))
    fork_env = _fork_env_of(plan, task)
    if fork_env is not None:
        sdk_task.setForkEnvironment(_script(gateway.createForkEnvironment, fork_env))
    return sdk_task


def _new_task(gateway: Any, code: str) -> Any:
    if code == "cpython":
        return gateway.createPythonTask()
    task = gateway.createTask(code)
    if task is None:  # a ProActive language the SDK's own table does not list (Bash, PHP, ...)
        from proactive.model.ProactiveTask import ProactiveTask

        task = ProactiveTask(code)
    return task


def _structural_task(gateway: Any, name: str) -> Any:
    """An empty task added so a ``runs=N`` replication has its split and merge ends."""
    task = gateway.createPythonTask()
    task.setTaskName(name)
    task.setTaskImplementation("# added by pragma-kernel to open/close a replicated block\n")
    return task


def python_task_script(plan: JobPlan, planned: PlannedTask, replicated: bool) -> str:
    """The ProActive script of a Python task: the shared runtime, the task's code pickled.

    Only literals are substituted (base64 text and the ``repr`` of a dict of names), so no user
    text can change the script; the body follows as comments for whoever reads the workflow.
    """
    from pragma_kernel.pragmas.runtime import TaskSpec

    spec = TaskSpec.from_plan(plan, planned.name, 0 if replicated else None)
    # pre/post and control-flow scripts are ProActive's own here (carried in the workflow,
    # run by the scheduler), not the runtime's
    spec = dataclasses.replace(spec, pre_script=None, post_script=None, flow_action=None,
                               flow_script=None)
    sources = _arm_alternatives(plan, planned.name, dict(planned.import_sources))
    commented = "\n".join(f"#   {line}" for line in _task_code(planned.task).splitlines())
    return (
        f"# pragma-kernel: task {planned.name!r} of job {plan.name!r}, run by the shared task\n"
        "# runtime (pragmas.backends.proactive_task; pragma-kernel must be installed on the node).\n"
        f"# Its code, carried pickled in SPEC:\n{commented}\n"
        f"SPEC = {proactive_task.encode_spec(spec)!r}\n"
        f"SOURCES = {sources!r}\n"
        "from pragma_kernel.pragmas.backends.proactive_task import run_proactive_task\n"
        "result = run_proactive_task(SPEC, SOURCES, variables, globals().get('localspace'))\n"
    )


def _arm_alternatives(plan: JobPlan, name: str, sources: dict[str, Any]) -> dict[str, Any]:
    """A continuation's import from a branch arm comes from whichever arm ran: both names,
    the runtime takes the one whose value arrived."""
    for planned in plan.tasks.values():
        flow = planned.task.flow
        if flow.action != "if" or flow.continuation_target != name:
            continue
        twins = {flow.if_target: flow.else_target, flow.else_target: flow.if_target}
        for variable, source in sources.items():
            if twins.get(source):
                sources[variable] = (source, twins[source])
    return sources


def _foreign_task_code(plan: JobPlan, task: Task) -> str:
    """A non-Python task runs its own code as ProActive runs it, after its language's imports."""
    wanted = task.language.lower()  # #%import(language=...) matches any case, as the runtime's
    setup = next((c for lang, c in plan.job.import_code.items() if lang.lower() == wanted), "")
    body = _task_code(task)
    return f"{setup}\n{body}" if setup else body


def _task_code(task: Task) -> str:
    if task.code or not task.path:
        return task.code
    return _read(task.path, f"task {task.name!r}")


def _script(factory: Any, script: Script) -> Any:
    code = language_code(script.language)
    sdk_script = factory(code)
    if sdk_script is None:  # outside the SDK's table: its script classes accept any engine
        from proactive.model.ProactiveScript import ProactiveScript

        sdk_script = ProactiveScript(code)
    text = script.code
    if not text and script.path:
        text = _read(script.path, "script")
    sdk_script.setImplementation(text)
    return sdk_script


def _fork_env_of(plan: JobPlan, task: Task) -> Script | None:
    if task.fork_env is not None:
        return task.fork_env
    if plan.job.runtime_env is not None:
        return Script(runtime_env_script(plan.job.runtime_env), language="Groovy")
    return plan.job.job_fork_env


def _read(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as exc:
        raise WorkflowBuildError(f"cannot read the {what} file {path!r}: {exc.strerror}") from None


# -- replication and control flow --------------------------------------------------------------


@dataclass
class _ReplicationLayout:
    """Where each ``runs=N`` replication opens and closes its block.

    ProActive replicates the children of the task holding a replicate flow script, up to the
    task closing the block. For ``runs=N`` on T: T's parent opens the block with ``runs=N`` when
    it is T's only parent and T its only child (Activeeon's rule), else an added ``T_split``
    depending on T's parents does; T's single child, if T is its only parent, closes it, else an
    added ``T_merge`` does and T's children depend on it.
    """

    deps: dict[str, list[str]]
    replicate: dict[str, int]  #: task opening a block -> N
    closes: set[str]
    replicated: set[str]
    extra_tasks: list[str]

    @classmethod
    def of(cls, plan: JobPlan) -> _ReplicationLayout:
        deps = {name: list(t.deps) for name, t in plan.tasks.items()}
        layout = cls(deps, {}, set(), set(), [])
        for planned in plan.tasks.values():
            if planned.task.flow.action == "replicate":
                layout.replicated.update(n for n, d in deps.items() if planned.name in d)
        for planned in plan.tasks.values():
            if planned.task.runs > 1:
                layout._replicate(plan, planned.task)
        return layout

    def _replicate(self, plan: JobPlan, task: Task) -> None:
        name = task.name
        parents = self.deps[name]
        if len(parents) == 1 and self._can_open(plan, parents[0]):
            opener = parents[0]
        else:  # no parent, several, or one that cannot hold the block: an empty task opens it
            opener = self._add(f"{name}_split", list(parents))
            self.deps[name] = [opener]
        self.replicate[opener] = task.runs
        self.replicated.add(name)
        children = self.children(name)
        if len(children) == 1 and self.deps[children[0]] == [name] and children[0] not in self.closes:
            self.closes.add(children[0])
            return
        merge = self._add(f"{name}_merge", [name])
        for child in children:
            self.deps[child] = [merge if d == name else d for d in self.deps[child]]
        self.closes.add(merge)

    def _can_open(self, plan: JobPlan, parent: str) -> bool:
        """A parent opens the block itself (as in Activeeon's kernel) when nothing else would be
        replicated with it and it has no control flow of its own."""
        return (parent not in self.replicate and not _has_flow(plan, parent)
                and len(self.children(parent)) == 1)

    def children(self, name: str) -> list[str]:
        return [n for n, d in self.deps.items() if name in d]

    def _add(self, name: str, deps: list[str]) -> str:
        if name in self.deps:
            raise WorkflowBuildError(f"cannot add {name!r} for a replication: a task has that name")
        self.deps[name] = deps
        self.extra_tasks.append(name)
        return name


def _has_flow(plan: JobPlan, name: str) -> bool:
    planned = plan.tasks.get(name)
    return planned is not None and (
        planned.task.flow.block is not None or planned.task.flow.action is not None
    )


def _apply_flow(gateway: Any, plan: JobPlan, layout: _ReplicationLayout, tasks: dict) -> None:
    blocks = gateway.getProactiveFlowBlockType()
    for opener, runs in layout.replicate.items():
        tasks[opener].setFlowBlock(blocks.start())
        tasks[opener].setFlowScript(
            gateway.createReplicateFlowScript(f"runs={runs}", REPLICATE_LANGUAGE)
        )
    for closer in layout.closes:
        tasks[closer].setFlowBlock(blocks.end())
    for planned in plan.tasks.values():
        flow = planned.task.flow
        sdk_task = tasks[planned.name]
        if flow.block in ("start", "end"):
            sdk_task.setFlowBlock(blocks.start() if flow.block == "start" else blocks.end())
        if flow.action is not None:
            sdk_task.setFlowScript(_flow_script(gateway, planned.task))


def _flow_script(gateway: Any, task: Task) -> Any:
    flow = task.flow
    if flow.script is None:
        raise WorkflowBuildError(f"task {task.name!r} has a {flow.action} control without a script")
    code, language = flow.script.code, language_code(flow.script.language)
    if flow.action == "replicate":
        return gateway.createReplicateFlowScript(code, language)
    if flow.action == "loop":
        _require(task, flow.target, "loop target (the #%start task)")
        return gateway.createLoopFlowScript(code, flow.target, language)
    if flow.action == "if":
        _require(task, flow.if_target, "#%if task")
        _require(task, flow.else_target, "#%else task")
        _require(task, flow.continuation_target, "#%continuation task")
        return gateway.createBranchFlowScript(
            code, flow.if_target, flow.else_target, flow.continuation_target, language
        )
    raise WorkflowBuildError(f"task {task.name!r}: unknown control flow action {flow.action!r}")


def _require(task: Task, value: str | None, what: str) -> None:
    if not value:
        raise WorkflowBuildError(f"task {task.name!r}: its branch/loop control has no {what} yet")


# -- data between tasks ------------------------------------------------------------------------


def _add_local_inputs(model: Any, plan: JobPlan) -> dict[str, bytes]:
    """Values from the kernel's namespace become job variables, or input-space files if large."""
    files: dict[str, bytes] = {}
    for name, pickled in plan.local_inputs.items():
        text = proactive_task.encode_pickled(pickled)
        if len(text) > proactive_task.INLINE_LIMIT:
            relative = f"{proactive_task.data_dir('local')}/{name}.pkl"
            files[relative] = pickled
            text = proactive_task.FILE_PREFIX + relative
        model.addVariable(proactive_task.local_key(name), text)
    return files


def _declare_dataspace(gateway: Any, java_job: Any, plan: JobPlan, local_files: dict) -> None:
    """Large values travel as files: exporters send theirs to the output space, importers fetch
    their sources' from it (and the kernel's from the input space)."""
    modes = gateway.proactive_factory
    from_input = modes.get_input_access_mode().getAccessMode("transferFromInputSpace")
    from_output = modes.get_input_access_mode().getAccessMode("transferFromOutputSpace")
    to_output = modes.get_output_access_mode().getAccessMode("transferToOutputSpace")
    for planned in plan.tasks.values():
        if not is_python(planned.task.language):
            continue
        java_task = java_job.getTask(planned.name)
        if planned.task.exports:
            java_task.addOutputFiles(f"{proactive_task.data_dir(planned.name)}/**", to_output)
        sources = {s for s in planned.import_sources.values() if s is not None}
        for source in sorted(sources):
            java_task.addInputFiles(f"{proactive_task.data_dir(source)}/**", from_output)
        local = [n for n, s in planned.import_sources.items() if s is None]
        for name in local:
            relative = f"{proactive_task.data_dir('local')}/{name}.pkl"
            if relative in local_files:
                java_task.addInputFiles(relative, from_input)


def _declare_task_files(gateway: Any, java_job: Any, plan: JobPlan) -> None:
    """The tasks' input_files and output_files as ProActive's: an input served by the
    notebook's folder comes from the input space (the backend puts the files there), one an
    ancestor writes from the output space, where every output_files goes."""
    modes = gateway.proactive_factory
    from_input = modes.get_input_access_mode().getAccessMode("transferFromInputSpace")
    from_output = modes.get_input_access_mode().getAccessMode("transferFromOutputSpace")
    to_output = modes.get_output_access_mode().getAccessMode("transferToOutputSpace")
    for planned in plan.tasks.values():
        task = planned.task
        if not task.input_files and not task.output_files:
            continue
        java_task = java_job.getTask(planned.name)
        given = plan.input_files.get(planned.name, [])
        for pattern in task.input_files:
            from_ancestors = pattern in planned.file_sources
            from_notebook = not from_ancestors or any(
                matches(pattern, ref.path) for ref in given)
            for ant in ant_patterns(pattern):
                if from_notebook:
                    java_task.addInputFiles(ant, from_input)
                if from_ancestors:
                    java_task.addInputFiles(ant, from_output)
        for pattern in task.output_files:
            for ant in ant_patterns(pattern):
                java_task.addOutputFiles(ant, to_output)


# -- runtime_env -------------------------------------------------------------------------------


def runtime_env_script(options: dict[str, Any]) -> str:
    """Groovy fork-environment script starting the task's JVM in a container (Activeeon's idea).

    Options are those of ``#%runtime_env``; values are written as Groovy string/boolean literals.
    """
    values = dict(RUNTIME_ENV_DEFAULTS)
    values.update({k: v for k, v in options.items() if k in RUNTIME_ENV_DEFAULTS and v is not None})
    header = "\n".join(
        f"def {name.upper()} = {_groovy_literal(values[name])}" for name in RUNTIME_ENV_DEFAULTS
    )
    return f"// runtime_env, generated by pragma-kernel\n{header}\n{_RUNTIME_ENV_BODY}"


def _groovy_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.lower() in ("true", "false", "on", "off"):
        return "true" if text.lower() in ("true", "on") else "false"
    return "'" + re.sub(r"(['\\$])", r"\\\1", text).replace("\n", "\\n") + "'"


_RUNTIME_ENV_BODY = r"""
def schedulerHome = variables.get("PA_SCHEDULER_HOME")
def cmd = []
if (TYPE == "singularity") {
    cmd << "singularity" << "exec"
    if (NO_HOME) { cmd << "--no-home" }
    if (NVIDIA_GPU) { cmd << "--nv" }
    if (ISOLATION) { cmd << "--containall" }
    cmd << "-B" << (schedulerHome + ":" + schedulerHome)
    cmd << "-B" << (localspace + ":" + localspace)
    if (MOUNT_HOST_PATH) { cmd << "-B" << (MOUNT_HOST_PATH + ":" + MOUNT_CONTAINER_PATH) }
    cmd << IMAGE
} else {
    cmd << TYPE << "run" << "--rm" << "--shm-size=256M"
    if (HOST_NETWORK) { cmd << "--network=host" }
    if (NVIDIA_GPU) { cmd << (TYPE == "podman" ? "--device=nvidia.com/gpu=all" : "--gpus=all") }
    if (ROOTLESS && TYPE == "docker") { cmd << "--user" << "1000:1000" }
    if (ISOLATION) { cmd << "--ipc=private" }
    if (!NO_HOME) { cmd << "--env" << "HOME=/tmp" }
    cmd << "-v" << (schedulerHome + ":" + schedulerHome)
    cmd << "-v" << (localspace + ":" + localspace) << "-w" << localspace
    if (MOUNT_HOST_PATH) { cmd << "-v" << (MOUNT_HOST_PATH + ":" + MOUNT_CONTAINER_PATH) }
    cmd << IMAGE.replaceFirst("^docker://", "")
}
if (DEBUG || VERBOSE) { println("runtime_env: " + cmd.join(" ")) }
forkEnvironment.setPreJavaCommand(cmd)
"""


def _shared_gateway() -> Any:
    from pragma_kernel.pragmas import proactive_jvm

    return proactive_jvm.gateway()
