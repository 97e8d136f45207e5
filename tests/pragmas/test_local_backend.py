"""The embedded local scheduler with real worker processes: data flow, parallelism, faults."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import cloudpickle
import pytest
from pragma_kernel.pragmas.backends.base import JobPlan, PlannedTask, TaskState
from pragma_kernel.pragmas.backends.local import LocalBackend
from pragma_kernel.pragmas.model import Job, OutputLimit, SourceLocation, Task
from pragma_kernel.pragmas.task_output import read_omitted


def task(name: str, code: str, line: int = 2, **options) -> Task:
    return Task(name, code, source=SourceLocation(f"Cell In[{line}]", 2), **options)


def plan_of(*tasks: Task, local: dict | None = None) -> JobPlan:
    """A plan as the engine makes one: imports from the nearest exporting ancestor."""
    job = Job(name="test")
    for t in tasks:
        job.define(t)
    planned = {}
    for t in tasks:
        sources = {}
        for name in t.imports:
            exporters = [d for d in t.dep if name in job.tasks[d].exports]
            sources[name] = exporters[0] if exporters else None
        planned[t.name] = PlannedTask(t, tuple(t.dep), sources)
    pickled = {k: cloudpickle.dumps(v) for k, v in (local or {}).items()}
    return JobPlan(job, "test", planned, pickled)


@pytest.fixture(scope="module")
def backend():
    backend = LocalBackend(workers=2)
    yield backend
    backend.close()


def run(backend: LocalBackend, plan: JobPlan, events: list | None = None):
    listener = events.append if events is not None else (lambda event: None)
    job = backend.submit(plan, listener)
    assert job.wait(timeout=60), "the job did not finish"
    return job


def test_diamond_passes_data_and_replicas_give_lists(backend):
    plan = plan_of(
        task("a", "x = base + 1", imports=["base"], exports=["x"]),
        task("b", "y = x * 10 + replication", dep=["a"], imports=["x"], exports=["y"], runs=3),
        task("c", "w = -x\nvariables.put('from_c', w)", dep=["a"], imports=["x"], exports=["w"]),
        task("d", "z = sum(y) + w\nresult = variables['from_c']", dep=["b", "c"],
             imports=["y", "w"], exports=["z"]),
        local={"base": 1},
    )  # fmt: skip
    job = run(backend, plan)
    assert {n: r.state for n, r in job.results.items()} == dict.fromkeys("abcd", TaskState.DONE)
    assert job.results["b"].exports == {"y": [20, 21, 22]}
    assert job.results["d"].exports == {"z": 61} and job.results["d"].result == -2


def test_output_is_streamed_with_task_and_replica(backend):
    events = []
    run(backend, plan_of(task("p", "print('hi', replication)", runs=2)), events)
    outputs = sorted((e.replica, e.output.text) for e in events if e.kind == "output")
    assert outputs == [(0, "hi 0\n"), (1, "hi 1\n")]


def test_failure_skips_dependents_and_keeps_other_branches(backend):
    plan = plan_of(
        task("bad", "1/0"),
        task("after", "pass", dep=["bad"]),
        task("good", "g = 5", exports=["g"]),
    )
    job = run(backend, plan)
    states = {n: r.state for n, r in job.results.items()}
    assert states == {"bad": TaskState.FAILED, "after": TaskState.SKIPPED, "good": TaskState.DONE}
    assert job.results["good"].exports == {"g": 5}
    assert job.results["bad"].error.traceback[-1] == "ZeroDivisionError: division by zero"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import os\nos._exit(1)", "exited with status 1"),
        ("import ctypes\nctypes.string_at(0)", "SIGSEGV (segmentation fault)"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "SIGKILL"),
    ],
)
def test_crashed_worker_fails_the_task_and_is_replaced(backend, code, expected):
    job = run(backend, plan_of(task("crash", code), task("fine", "v = 1", exports=["v"])))
    error = job.results["crash"].error
    assert error.platform and error.ename == "WorkerCrashed" and expected in error.evalue
    assert job.results["fine"].exports == {"v": 1}
    again = run(backend, plan_of(task("next", "n = 2", exports=["n"])))
    assert again.results["next"].exports == {"n": 2}  # the pool still works


def test_timeout_kills_the_task(backend):
    job = run(backend, plan_of(task("slow", "import time\ntime.sleep(30)", timeout=0.5)))
    error = job.results["slow"].error
    assert error.ename == "TimeoutError" and "0.5 s" in error.evalue


def test_retries_rerun_a_failed_task(backend, tmp_path):
    marker = tmp_path / "first"
    code = (f"import os\nif not os.path.exists({str(marker)!r}):\n"
            f"    open({str(marker)!r}, 'w').close()\n    raise RuntimeError('first try')\nok = 1")  # fmt: skip
    job = run(backend, plan_of(task("flaky", code, exports=["ok"], retries=1)))
    assert job.results["flaky"].state is TaskState.DONE and job.results["flaky"].attempts == 2


def test_unpicklable_export_fails_with_its_name(backend):
    job = run(backend, plan_of(task("t", "import threading\nlock = threading.Lock()",
                                    exports=["lock"])))  # fmt: skip
    assert "export 'lock'" in job.results["t"].error.evalue


def test_cancel_kills_running_and_cancels_queued(backend):
    plan = plan_of(
        task("s1", "import time\ntime.sleep(30)"),
        task("s2", "import time\ntime.sleep(30)"),
        task("later", "pass", dep=["s1"]),
    )
    started = threading.Event()
    job = backend.submit(plan, lambda e: e.state is TaskState.RUNNING and started.set())
    assert started.wait(10)
    job.cancel()
    assert job.done
    assert {r.state for r in job.results.values()} == {TaskState.CANCELLED}
    again = run(backend, plan_of(task("next", "n = 3", exports=["n"])))
    assert again.results["next"].exports == {"n": 3}


def test_large_array_reaches_dependent_and_kernel_as_a_mapping(backend):
    np = pytest.importorskip("numpy")
    plan = plan_of(
        task("make", "import numpy as np\na = np.arange(4_000_000, dtype=np.float64)",
             exports=["a"]),
        task("use", "a[0] = -1.0\ns = float(a.sum())", dep=["make"], imports=["a"],
             exports=["s"]),
    )  # fmt: skip
    job = run(backend, plan)
    a = job.results["make"].exports["a"]
    assert a[0] == 0.0  # the dependent's write stayed private (copy-on-write)
    assert job.results["use"].exports["s"] == float(np.arange(4_000_000).sum()) - 1.0
    assert not a.flags.owndata  # a view of the memory file, not a copy


def test_reuse_marks_tasks_done_and_feeds_dependents(backend):
    first = run(backend, plan_of(task("a", "x = 7", exports=["x"])))
    plan = plan_of(task("a", "raise RuntimeError('must not run')", exports=["x"]),
                   task("b", "y = x + 1", dep=["a"], imports=["x"], exports=["y"]))  # fmt: skip
    plan.reuse = {"a": first.results["a"]}
    job = run(backend, plan)
    assert job.results["a"].state is TaskState.DONE and job.results["b"].exports == {"y": 8}


def test_a_task_after_a_reused_parent_runs_once(backend, tmp_path):
    """Its parent's reuse released it; the submission must not queue it a second time (its
    body ran in both workers)."""
    runs = tmp_path / "runs.txt"
    first = run(backend, plan_of(task("a", "x = 7", exports=["x"])))
    body = f"with open({str(runs)!r}, 'a') as f:\n    f.write('ran\\n')\ny = x + 1"
    plan = plan_of(task("a", "x = 7", exports=["x"]),
                   task("b", body, dep=["a"], imports=["x"], exports=["y"]))  # fmt: skip
    plan.reuse = {"a": first.results["a"]}
    job = run(backend, plan)
    time.sleep(0.3)  # a second copy, if queued, would run on the other worker meanwhile
    assert job.results["b"].exports == {"y": 8}
    assert runs.read_text() == "ran\n"


def test_unfetched_values_stay_in_the_worker_until_fetched(backend):
    np = pytest.importorskip("numpy")
    plan = plan_of(
        task("make", "import numpy as np\na = np.ones(2_000_000)", exports=["a"]),
        task("use", "s = float(a.sum())", dep=["make"], imports=["a"], exports=["s"]),
    )
    plan.fetch_exports = False
    job = run(backend, plan)
    assert job.results["make"].state is TaskState.DONE and job.results["make"].exports == {}
    job.fetch()
    assert np.array_equal(job.results["make"].exports["a"], np.ones(2_000_000))
    assert job.results["use"].exports == {"s": 2_000_000.0}
    job.fetch()  # a second fetch changes nothing
    assert job.results["use"].exports == {"s": 2_000_000.0}


def test_subprocess_output_reaches_the_task(backend):
    events = []
    code = "import subprocess\nsubprocess.run(['echo', 'from a child'], check=True)\nprint('after')"
    job = run(backend, plan_of(task("child", code)), events)
    assert job.results["child"].state is TaskState.DONE
    text = "".join(o.text for o in job.results["child"].outputs)
    assert "from a child\n" in text and "after\n" in text


def test_a_child_writing_one_endless_line_is_relayed_whole(backend):
    code = ("import subprocess\n"
            "subprocess.run(['bash', '-c', 'head -c 300000 /dev/zero | tr \"\\\\0\" x'], "
            "check=True)")
    job = run(backend, plan_of(task("child", code, output_limit=OutputLimit(None))))
    assert "".join(o.text for o in job.results["child"].outputs) == "x" * 300_000


def test_large_value_from_the_notebook_reaches_tasks(backend):
    np = pytest.importorskip("numpy")
    big = np.arange(2_000_000, dtype=np.int64)  # 16 MB: read from the kernel's memory
    plan = plan_of(task("reader", "total = int(big.sum())", imports=["big"], exports=["total"]),
                   local={"big": big})  # fmt: skip
    job = run(backend, plan)
    assert job.results["reader"].exports == {"total": int(big.sum())}


def test_timeout_also_kills_what_the_task_started(backend):
    marker = "61.4321"  # a sleep no other process runs
    code = f"import subprocess\nsubprocess.run(['sleep', '{marker}'])"
    job = run(backend, plan_of(task("spawner", code, timeout=1)))
    assert job.results["spawner"].error.ename == "TimeoutError"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True,
                               check=False)  # fmt: skip
        if found.returncode != 0:
            break
        time.sleep(0.1)
    assert found.returncode != 0, "the task's child process survived the timeout"


def test_a_loud_task_shows_its_head_one_line_and_its_tail_and_loses_nothing(backend):
    loop = ("import sys\nfor i in range(5000):\n    print(f'line {i}')\n"
            "    if i % 1000 == 999:\n        print(f'warning {i}', file=sys.stderr)")
    events = []
    job = run(backend, plan_of(task("loud", loop, output_limit=OutputLimit(200))), events)
    shown = "".join(e.output.text for e in events if e.kind == "output")
    everything = [f"line {i}\n" + (f"warning {i}\n" if i % 1000 == 999 else "")
                  for i in range(5000)]
    assert shown.startswith("".join(f"line {i}\n" for i in range(200)) + "… output limit")
    left_out = next(line for line in shown.splitlines() if "left out" in line)
    assert left_out.startswith("… 4,785 lines")  # 5,005 lines, 200 shown first, 20 last
    assert shown.endswith("".join("".join(everything).splitlines(keepends=True)[-20:]))
    log = Path(left_out.rsplit(" or ", 1)[1])
    assert log.read_text() == "".join(everything)
    replayed = "".join(o.text if o.kind == "stream" else "".join(read_omitted(o))
                       for o in job.results["loud"].outputs)
    assert replayed == "".join(everything)


def test_many_printed_lines_reach_the_kernel_in_few_messages(backend):
    events = []
    run(backend, plan_of(task("loud", "for i in range(20000):\n    print(i)",
                              output_limit=OutputLimit(None))), events)  # fmt: skip
    outputs = [e.output.text for e in events if e.kind == "output"]
    assert "".join(outputs) == "".join(f"{i}\n" for i in range(20000))
    assert len(outputs) < 50, len(outputs)  # batched on the worker, not one per line
