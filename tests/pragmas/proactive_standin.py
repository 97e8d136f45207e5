"""Stand-ins for a ProActive server, which cannot run here (see the tests that use them).

:class:`ProActiveTaskHarness` runs the tasks of a workflow XML the way a ProActive node runs a
Python task: each task in its own process, with ``variables`` (job and task variables, the
``PA_*`` system variables, everything its ancestors put; only strings may be put, as through
ProActive's Java map) and ``result`` bindings, ``localspace`` as its working directory, its
pre/post scripts, the dataspace transfers the workflow declares (output files to the output
space, input files from the input/output space) and control flow: replicate (the children of
the task holding the replicate script run N times, ``PA_TASK_REPLICATION`` = 0..N-1, named
``T``, ``T*1``, ...), branch (the arm the script does not choose is skipped) and loop (the block
from the start task to the loop task runs again while the script says so, named ``T#1``, ...,
``PA_TASK_ITERATION`` counting). Flow scripts are run as Python. Tasks after a failed one are not
started.

:class:`FakeProActiveServer` is a ``SchedulerSession`` (what ``ProActiveBackend`` calls on the
SDK) that runs submitted workflows with the harness in a thread and answers state, result, kill
and resource queries like the scheduler would.
"""

from __future__ import annotations

import fnmatch
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from pragma_kernel.pragmas.backends.proactive import (
    ProActiveConnectionError,
    ProActiveSubmitError,
    TaskReport,
)

# The program of one task process: bindings in, ``result`` and variables out (pickled files).
_TASK_PROCESS = r"""
import pickle, sys, traceback

class ProActiveVariables(dict):
    '''Like the Java map ProActive binds: get/put, and only strings travel.'''
    def put(self, key, value):
        if not isinstance(value, str):
            raise TypeError(f"variables.put({key!r}, ...): a {type(value).__name__} is not a "
                            "string; ProActive variables carry strings")
        self[key] = value

with open(sys.argv[1], "rb") as file:
    job = pickle.load(file)
variables = ProActiveVariables(job["variables"])
out = {"result": None, "exception": None}
try:
    for kind in ("pre", "main", "post"):
        code = job["scripts"].get(kind)
        if code is None:
            continue
        language, text = code
        if language == "bash":
            import os, subprocess
            env = dict(os.environ, **{f"variables_{k}": str(v) for k, v in variables.items()})
            subprocess.run(["bash", "-c", text], check=True, env=env)
            continue
        bindings = {"__name__": "__main__", "variables": variables, "result": out["result"],
                    "localspace": job["localspace"]}
        exec(compile(text, f"<{kind} script of {job['name']}>", "exec"), bindings)
        if kind == "main":
            out["result"] = bindings.get("result")
except BaseException as exc:
    traceback.print_exc()
    out["exception"] = f"{type(exc).__name__}: {exc}"
out["variables"] = dict(variables)
sys.stdout.flush()
with open(sys.argv[2], "wb") as file:
    pickle.dump(out, file)
"""

NS = "{urn:proactive:jobdescriptor:3.13}"


@dataclass
class HarnessTask:
    """One task of the workflow as the harness reads it from the XML."""

    name: str
    language: str
    code: str
    deps: list[str]
    variables: dict[str, str]
    pre: tuple[str, str] | None = None
    post: tuple[str, str] | None = None
    replicate: str | None = None  #: the replicate flow script
    branch: tuple[str, str, str, str] | None = None  #: (script, if, else, continuation)
    loop: tuple[str, str] | None = None  #: (script, target)
    inputs: list[tuple[str, str]] = field(default_factory=list)  #: (pattern, mode)
    outputs: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class HarnessRun:
    """What happened to one ProActive task (one replica)."""

    status: str = "PENDING"
    result: Any = None
    exception: str | None = None
    stdout: str = ""
    stderr: str = ""
    variables: dict[str, str] = field(default_factory=dict)


def read_workflow(xml: str) -> tuple[str, dict[str, str], dict[str, HarnessTask]]:
    """(job name, job variables, tasks in document order) from a workflow XML."""
    root = ET.fromstring(xml)
    job_vars = {v.get("name"): v.get("value") for v in root.findall(f"{NS}variables/{NS}variable")}
    tasks = {}
    for node in root.iter(f"{NS}task"):
        if node.get("ref") is not None:
            continue
        code = node.find(f"{NS}scriptExecutable/{NS}script/{NS}code")
        task = HarnessTask(
            name=node.get("name"),
            language=code.get("language"),
            code=code.text or "",
            deps=[d.get("ref") for d in node.findall(f"{NS}depends/{NS}task")],
            variables={v.get("name"): v.get("value")
                       for v in node.findall(f"{NS}variables/{NS}variable")},
            pre=_script(node, "pre"),
            post=_script(node, "post"),
        )
        replicate = node.find(f"{NS}controlFlow/{NS}replicate/{NS}script/{NS}code")
        task.replicate = replicate.text if replicate is not None else None
        branch = node.find(f"{NS}controlFlow/{NS}if")
        if branch is not None:
            code = branch.find(f"{NS}script/{NS}code").text or ""
            task.branch = (code, branch.get("target"), branch.get("else"),
                           branch.get("continuation"))  # fmt: skip
        loop = node.find(f"{NS}controlFlow/{NS}loop")
        if loop is not None:
            task.loop = (loop.find(f"{NS}script/{NS}code").text or "", loop.get("target"))
        for files, target in ((f"{NS}inputFiles", task.inputs), (f"{NS}outputFiles", task.outputs)):
            for entry in node.findall(f"{files}/{NS}files"):
                target.append((entry.get("includes"), entry.get("accessMode")))
        tasks[task.name] = task
    return root.get("name"), job_vars, tasks


def _script(node: ET.Element, kind: str) -> tuple[str, str] | None:
    code = node.find(f"{NS}{kind}/{NS}script/{NS}code")
    return None if code is None else (code.get("language"), code.text or "")


class ProActiveTaskHarness:
    """Runs a workflow's tasks like ProActive nodes would (see the module docstring)."""

    def __init__(self, xml: str, workdir: str, input_space: str | None = None,
                 output_space: str | None = None, job_id: str = "1"):
        self.job_name, self.job_variables, self.tasks = read_workflow(xml)
        self.workdir = workdir
        self.input_space = input_space or os.path.join(workdir, "input-space")
        self.output_space = output_space or os.path.join(workdir, "output-space")
        os.makedirs(self.input_space, exist_ok=True)
        os.makedirs(self.output_space, exist_ok=True)
        self.job_id = job_id
        self.runs: dict[str, HarnessRun] = {}  #: ProActive task name (T, T*1...) -> its run
        self.killed = threading.Event()
        self._process: subprocess.Popen | None = None
        for task in self.tasks.values():
            for replica in self._replica_names(task, 1):
                self.runs[replica] = HarnessRun()

    def run(self) -> dict[str, HarnessRun]:
        """Run every task in dependency order; return the run of each (replica) task."""
        self._latest: dict[str, list[str]] = {}  # task -> ProActive names of its last run
        self._not_chosen: set[str] = set()  # branch arms the branch script did not choose
        for task in self._order():
            self._step(task)
        return self.runs

    def _step(self, task: HarnessTask) -> None:
        names = self._execute(task, 0)
        if names and task.branch:
            script, if_task, else_task, _ = task.branch
            chosen = self._decide(script, names[-1], "branch")
            if chosen is None:  # the script failed: neither arm runs
                self._not_chosen.update((if_task, else_task))
            else:
                self._not_chosen.add(else_task if chosen == "if" else if_task)
        if names and task.loop:
            script, target = task.loop
            block = self._block(target, task.name)
            iteration = 0
            while iteration < 50 and self._decide(script, names[-1], "loop"):
                iteration += 1
                for member in block:
                    back = [self._latest[task.name][-1]] if member.name == target else None
                    names = self._execute(member, iteration, back)
                    if not names:
                        return

    def _execute(self, task: HarnessTask, iteration: int,
                 parents: list[str] | None = None) -> list[str] | None:
        """Run ``task`` (all its replicas) for one iteration; its ProActive names, or None."""
        if self.killed.is_set():
            self._mark(task, "ABORTED")
            return None
        if task.name in self._not_chosen:
            self._mark(task, "SKIPPED")
            self._latest[task.name] = []
            return None
        deps = task.deps + self._control_deps(task)
        if parents is None:
            parents = [n for d in deps for n in self._latest.get(d, [])]
            missing = [d for d in deps if d not in self._latest and d not in self._not_chosen]
            if missing or any(self.runs[p].status != "FINISHED" for p in parents):
                self._mark(task, "NOT_STARTED")
                return None
        names = self._replica_names(task, self._replicas_of(task), iteration)
        for index, name in enumerate(names):
            self._run_one(task, name, index, parents, iteration)
        self._latest[task.name] = names
        return names

    def _control_deps(self, task: HarnessTask) -> list[str]:
        """Branch arms come after their branch task, the continuation after the arms."""
        deps = []
        for other in self.tasks.values():
            if other.branch is None:
                continue
            _, if_task, else_task, continuation = other.branch
            if task.name in (if_task, else_task):
                deps.append(other.name)
            elif task.name == continuation:
                deps.extend([if_task, else_task])
        return deps

    def _block(self, start: str, end: str) -> list[HarnessTask]:
        """The tasks of a loop, from its start task to its loop task, in order."""
        order = [t.name for t in self._order()]
        inside = order[order.index(start): order.index(end) + 1]
        return [self.tasks[n] for n in inside]

    def _decide(self, script: str, name: str, variable: str) -> Any:
        """A branch or loop flow script, run with the task's variables and result. A script
        that raises makes its task faulty, as on a server (its decision: none)."""
        run = self.runs[name]
        scope: dict[str, Any] = {"variables": dict(run.variables), "result": run.result}
        try:
            exec(script, scope)  # noqa: S102 - the flow scripts of these tests are Python
        except Exception as exc:  # noqa: BLE001 - the user's script: its task's failure
            run.status, run.exception = "FAULTY", f"the flow script failed: {exc!r}"
            return None
        return scope[variable]

    # -- one task ------------------------------------------------------------------------------

    def _run_one(self, task: HarnessTask, name: str, replica: int, parents: list[str],
                 iteration: int = 0) -> None:
        run = self.runs.setdefault(name, HarnessRun())
        localspace = tempfile.mkdtemp(prefix=f"localspace-{re.sub('[*#]', '_', name)}-",
                                      dir=self.workdir)
        self._transfer_in(task, localspace)
        variables = dict(self.job_variables)
        for parent in parents:  # what ancestors put reaches their descendants
            variables.update(self.runs[parent].variables)
        variables.update(task.variables)
        variables.update(PA_JOB_ID=self.job_id, PA_JOB_NAME=self.job_name, PA_TASK_NAME=name,
                         PA_TASK_ID=str(len(self.runs)), PA_TASK_REPLICATION=str(replica),
                         PA_TASK_ITERATION=str(iteration))  # fmt: skip
        scripts = {"main": (_engine(task.language), task.code)}
        if task.pre:
            scripts["pre"] = (_engine(task.pre[0]), task.pre[1])
        if task.post:
            scripts["post"] = (_engine(task.post[0]), task.post[1])
        run.status = "RUNNING"
        outcome = self._process_task(name, scripts, variables, localspace, run)
        run.result, run.exception = outcome["result"], outcome["exception"]
        run.variables = outcome["variables"]
        if run.exception is None:
            self._transfer_out(task, localspace)
        run.status = "ABORTED" if self.killed.is_set() else (
            "FAULTY" if run.exception else "FINISHED")

    def _process_task(self, name: str, scripts: dict, variables: dict, localspace: str,
                      run: HarnessRun) -> dict:
        job_file = os.path.join(localspace, ".harness-job.pkl")
        out_file = os.path.join(localspace, ".harness-out.pkl")
        with open(job_file, "wb") as file:
            pickle.dump({"name": name, "scripts": scripts, "variables": variables,
                         "localspace": localspace}, file)  # fmt: skip
        # a node with pragma-kernel installed: the task imports pragma_kernel, as installed
        self._process = subprocess.Popen(
            [sys.executable, "-c", _TASK_PROCESS, job_file, out_file], cwd=localspace,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        run.stdout, run.stderr = self._process.communicate()
        if not os.path.exists(out_file):
            return {"result": None, "exception": f"the task process ended with code "
                    f"{self._process.returncode}", "variables": variables}  # fmt: skip
        with open(out_file, "rb") as file:
            return pickle.load(file)

    def kill(self) -> None:
        self.killed.set()
        if self._process is not None and self._process.poll() is None:
            self._process.kill()

    # -- control flow and dataspaces -----------------------------------------------------------

    def _replicas_of(self, task: HarnessTask) -> int:
        """N when a parent of ``task`` holds a replicate script ``runs=N``, else 1."""
        for dep in task.deps:
            script = self.tasks[dep].replicate
            if script:
                scope: dict[str, Any] = {}
                # the replicate scripts of these tests are "runs=N", as valid in Python as in JS
                exec(script, scope)  # noqa: S102
                return int(scope["runs"])
        return 1

    @staticmethod
    def _replica_names(task: HarnessTask, count: int, iteration: int = 0) -> list[str]:
        """ProActive's names: ``T``, ``T*1``... and ``T#1``, ``T#1*1``... for later iterations."""
        base = f"{task.name}#{iteration}" if iteration else task.name
        return [base] + [f"{base}*{i}" for i in range(1, count)]

    def _order(self) -> list[HarnessTask]:
        order, seen = [], set()

        def visit(name: str) -> None:
            if name not in seen:
                seen.add(name)
                for dep in self.tasks[name].deps + self._control_deps(self.tasks[name]):
                    visit(dep)
                order.append(self.tasks[name])

        for name in self.tasks:
            visit(name)
        return order

    def _mark(self, task: HarnessTask, status: str) -> None:
        for name, run in self.runs.items():
            if re.split("[*#]", name, maxsplit=1)[0] == task.name:
                run.status = status

    def _transfer_in(self, task: HarnessTask, localspace: str) -> None:
        spaces = {"transferFromInputSpace": self.input_space,
                  "transferFromOutputSpace": self.output_space}
        for pattern, mode in task.inputs:
            _copy_matching(spaces[mode], localspace, pattern)

    def _transfer_out(self, task: HarnessTask, localspace: str) -> None:
        for pattern, mode in task.outputs:
            assert mode == "transferToOutputSpace", mode
            _copy_matching(localspace, self.output_space, pattern)


def _engine(language: str) -> str:
    if language == "cpython":
        return "cpython"
    if language == "bash":
        return "bash"
    raise NotImplementedError(f"the stand-in runs cpython and bash scripts, not {language}")


def _copy_matching(source: str, target: str, pattern: str) -> None:
    for folder, _, files in os.walk(source):
        for name in files:
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, source)
            if fnmatch.fnmatch(relative, pattern.replace("**", "*")):
                os.makedirs(os.path.dirname(os.path.join(target, relative)), exist_ok=True)
                shutil.copy2(path, os.path.join(target, relative))


class FakeProActiveServer:
    """A stand-in for a ProActive scheduler behind the SDK (a ``SchedulerSession``).

    Submitted workflows are exported to XML by the real SDK and run by
    :class:`ProActiveTaskHarness` in a thread; nothing else is simulated.
    """

    def __init__(self, resources: dict[str, list[str]] | None = None, refuse: str | None = None):
        self.resources_model = {} if resources is None else resources
        self.refuse = refuse  #: when set, submissions fail with this reason, as a server may
        self.jobs: dict[str, ProActiveTaskHarness] = {}
        self.status: dict[str, str] = {}
        self.submitted_xml: dict[str, str] = {}
        self.killed: list[str] = []
        self.pulled: list[tuple[str, str]] = []  #: (job id, task) whose files were fetched
        self.closed = False
        self._threads: dict[str, threading.Thread] = {}
        #: ProActive's catalog as the SDK sees it: (bucket, workflow) -> its variables; what
        #: was submitted from it: (job id, bucket, workflow, variables given)
        self.catalog: dict[tuple[str, str], dict[str, str]] = {}
        self.catalog_submissions: list[tuple[str, str, str, dict[str, str]]] = []

    def submit(self, workflow: Any, input_folder: str, output_folder: str) -> str:
        if self.refuse:
            raise ProActiveSubmitError(f"the ProActive server did not take job "
                                       f"'{workflow.name}': {self.refuse}")
        job_id = str(len(self.jobs) + 1)
        xml = workflow.xml()
        self.submitted_xml[job_id] = xml
        workdir = tempfile.mkdtemp(prefix=f"fake-proactive-{job_id}-")
        harness = ProActiveTaskHarness(xml, workdir, input_folder, output_folder, job_id)
        self.jobs[job_id] = harness
        self.status[job_id] = "PENDING"
        thread = threading.Thread(target=self._run, args=(job_id,), daemon=True)
        self._threads[job_id] = thread
        thread.start()
        return job_id

    def _run(self, job_id: str) -> None:
        self.status[job_id] = "RUNNING"
        runs = self.jobs[job_id].run()
        if self.jobs[job_id].killed.is_set():
            self.status[job_id] = "KILLED"
        elif any(r.status == "FAULTY" for r in runs.values()):
            self.status[job_id] = "FAILED"
        else:
            self.status[job_id] = "FINISHED"

    def wait(self, job_id: str, timeout: float = 60) -> None:
        self._threads[job_id].join(timeout)

    def job_state(self, job_id: str) -> tuple[str, dict[str, str]]:
        status = self.status[job_id]  # read first: the tasks are then at least that far
        return status, {name: run.status for name, run in list(self.jobs[job_id].runs.items())}

    def task_report(self, job_id: str, task_name: str) -> TaskReport:
        run = self.jobs[job_id].runs[task_name]
        message = None
        if run.exception is not None:  # ProActive's message: the task's exception and its log
            message = f"{run.exception}\n{run.stderr}"
        return TaskReport(value=run.result, exception=message, stdout=run.stdout,
                          stderr=run.stderr)

    def pull_files(self, job_id: str, task_name: str, folder: str) -> None:
        # the harness's output space is the backend's output folder: the files are there
        assert folder == self.jobs[job_id].output_space
        self.pulled.append((job_id, task_name))

    def kill(self, job_id: str) -> None:
        self.killed.append(job_id)
        self.jobs[job_id].kill()

    def resources(self, kind: str) -> list[str]:
        if self.resources_model is None:  # the server went away
            raise ProActiveConnectionError("could not read the resource manager: it is gone")
        return list(self.resources_model.get(kind, []))

    def submit_from_catalog(self, bucket: str, workflow: str, variables: dict[str, str]) -> str:
        if (bucket, workflow) not in self.catalog:  # the server's answer, through the SDK
            raise ProActiveSubmitError(f"the ProActive server did not submit {bucket}/{workflow} "
                                       "from its catalog: no such workflow in the catalog")
        job_id = str(len(self.jobs) + len(self.catalog_submissions) + 1)
        self.catalog_submissions.append((job_id, bucket, workflow, dict(variables)))
        return job_id

    def close(self) -> None:
        self.closed = True


def engine_on_the_standin() -> Any:
    """A ``PragmaEngine`` connected to ProActive through :class:`FakeProActiveServer`, as a
    notebook is after ``#%connect(host=...)``: it accepts tasks in languages only ProActive
    runs (Jython, Groovy...), which the local and Dask backends refuse."""
    from pragma_kernel.pragmas.backends.proactive import ProActiveBackend
    from pragma_kernel.pragmas.engine import PragmaEngine

    engine = PragmaEngine()
    engine.set_backend(ProActiveBackend(FakeProActiveServer(), "https://pa.example.org:8443",
                                        "alice", poll_interval=0.02))
    return engine
