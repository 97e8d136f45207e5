"""The task runtime, in this process: binding, variables/result, capture, errors on cell lines."""

from __future__ import annotations

import sys

import cloudpickle
import pytest
from pragma_kernel.pragmas import transfer
from pragma_kernel.pragmas.backends.base import JobPlan, PlannedTask
from pragma_kernel.pragmas.model import CodeSegment, Job, Script, SourceLocation, Task
from pragma_kernel.pragmas.runtime import RESULT_KEY, TaskSpec, gather_inputs, run_task

CELL = SourceLocation("Cell In[7]", 3)  # the body starts on line 3 of the cell


def spec(body: str, **fields) -> TaskSpec:
    return TaskSpec("job", "t", fields.pop("language", "Python"), body, CELL, **fields)


def test_result_is_the_last_expression_unless_assigned():
    assert run_task(spec("x = 2\nx * 21"), {}).result == 42
    assert run_task(spec("result = 'set'\n123"), {}).result == "set"
    assert run_task(spec("x = 1"), {}).result is None


def test_imports_bound_and_exports_returned():
    outcome = run_task(spec("y = x + 1", exports=("y",)), {"x": 41})
    assert outcome.ok and outcome.exports == {"y": 42}


def test_variables_inherited_visible_and_only_puts_travel():
    body = "seen = (variables['job_var'], variables.get('inherited'))\nvariables.put('mine', 5)"
    outcome = run_task(
        spec(body, exports=("seen",), variables={"job_var": "j"}),
        {"__variables__": {"inherited": "i"}},
    )
    assert outcome.exports["seen"] == ("j", "i")
    assert outcome.variables == {"mine": 5}


def test_replication_index_is_visible():
    outcome = run_task(spec("r = (replication, variables['PA_TASK_REPLICATION'])",
                            exports=("r",), replication=2,
                            variables={"PA_TASK_REPLICATION": 2}), {})  # fmt: skip
    assert outcome.exports["r"] == (2, 2)


def test_traceback_uses_the_cells_line_numbers_without_runtime_frames():
    outcome = run_task(spec("def f():\n    return 1/0\n\nf()"), {})
    assert not outcome.ok
    text = "\n".join(outcome.error.traceback)
    assert 'File "Cell In[7]", line 6, in <module>' in text
    assert 'File "Cell In[7]", line 4, in f' in text
    assert "return 1/0" in text
    assert "runtime.py" not in text
    assert outcome.error.traceback[-1] == "ZeroDivisionError: division by zero"


def test_syntax_error_points_at_the_cell_line():
    outcome = run_task(spec("x = 1\ny = (\n"), {})
    assert outcome.error.ename == "SyntaxError"
    assert 'File "Cell In[7]", line 4' in "\n".join(outcome.error.traceback)
    assert outcome.error.traceback[-1] == f"SyntaxError: {outcome.error.evalue}"


def test_missing_export_is_the_tasks_error():
    outcome = run_task(spec("x = 1", exports=("x", "never")), {})
    assert outcome.error.ename == "ExportError"
    assert "'never'" in outcome.error.evalue and "never assigned" in outcome.error.evalue


def test_unpicklable_export_names_the_variable_and_reason():
    outcome = run_task(spec("import threading\nlock = threading.Lock()", exports=("lock",)), {})
    assert outcome.error.ename == "SerialisationError"
    assert "export 'lock'" in outcome.error.evalue and "_thread.lock" in outcome.error.evalue


def test_unpicklable_accidental_result_becomes_its_repr():
    outcome = run_task(spec("(i for i in range(3))"), {})
    assert outcome.ok and outcome.result.startswith("<generator object")


def test_stdout_streamed_line_by_line_and_kept():
    emitted = []
    outcome = run_task(spec("print('one')\nprint('two', file=__import__('sys').stderr)"), {},
                       emit=emitted.append)  # fmt: skip
    assert [(o.name, o.text) for o in emitted] == [("stdout", "one\n"), ("stderr", "two\n")]
    assert [(o.name, o.text) for o in outcome.outputs] == [("stdout", "one\n"), ("stderr", "two\n")]
    assert sys.stdout is sys.__stdout__ or not hasattr(sys.stdout, "_capture")


def test_display_gives_rich_bundles():
    body = "class R:\n    def _repr_html_(self):\n        return '<b>r</b>'\ndisplay(R())"
    outcome = run_task(spec(body), {})
    assert outcome.outputs[0].kind == "display"
    assert outcome.outputs[0].data["text/html"] == "<b>r</b>"


def test_matplotlib_figures_become_png_outputs():
    pytest.importorskip("matplotlib")
    body = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nplt.figure()\n"
    outcome = run_task(spec(body), {})
    pictures = [o for o in outcome.outputs if o.kind == "display"]
    assert len(pictures) == 2 and all("image/png" in o.data for o in pictures)


def test_pre_and_post_scripts_share_variables_and_bash_runs_with_env():
    pre = Script("variables.put('greeting', 'hello')", "Python")
    post = Script('echo "post $greeting"', "Linux_Bash")
    outcome = run_task(spec("print(variables['greeting'])\nresult = 1", pre_script=pre,
                            post_script=post), {})  # fmt: skip
    texts = "".join(o.text for o in outcome.outputs)
    assert outcome.ok and texts == "hello\npost hello\n"


def test_bash_body_failure_reports_status():
    outcome = run_task(spec("echo out\nexit 3", language="Linux_Bash"), {})
    assert outcome.error.ename == "ShellError" and "status 3" in outcome.error.evalue
    assert outcome.outputs[0].text == "out\n"


def test_other_languages_say_they_need_proactive():
    outcome = run_task(spec("println 1", language="Groovy"), {})
    assert outcome.error.ename == "LanguageError" and "ProActive" in outcome.error.evalue


def test_keep_packed_gives_out_of_band_buffers():
    np = pytest.importorskip("numpy")
    outcome = run_task(spec("import numpy as np\na = np.arange(1000)", exports=("a",)), {},
                       keep_packed=True)  # fmt: skip
    packed = outcome.packed["a"]
    assert packed.buffers and packed.buffers[0].nbytes == 8000
    fd, ref = transfer.write_memory_file(packed)
    try:
        assert np.array_equal(transfer.load(ref), np.arange(1000))
    finally:
        import os

        os.close(fd)
    assert RESULT_KEY in outcome.packed


def test_from_plan_and_gather_inputs():
    job = Job(name="J", variables={"v": "1"}, import_code={"Python": "import math"})
    job.define(Task("a", "x = 1", exports=["x"], runs=2))
    job.define(Task("b", "y = sum(x) + local + math.floor(1.5)", dep=["a"],
                    imports=["x", "local"], exports=["y"]))  # fmt: skip
    plan = JobPlan(job, "J", {
        "a": PlannedTask(job.tasks["a"], (), {}),
        "b": PlannedTask(job.tasks["b"], ("a",), {"x": "a", "local": None}),
    }, {"local": cloudpickle.dumps(10)})  # fmt: skip
    b = TaskSpec.from_plan(plan, "b")
    assert b.setup_code == "import math" and b.ancestors == ("a",)
    assert b.variables["v"] == "1" and b.variables["PA_TASK_NAME"] == "b"
    inputs = gather_inputs(b, plan.local_inputs, lambda t: [{"x": 1}, {"x": 2}],
                           lambda t: [{"p": 1}])  # fmt: skip
    assert inputs["x"] == [1, 2] and inputs["local"] == 10
    assert run_task(b, inputs).exports == {"y": 14}


def test_ipython_display_inside_a_task_is_captured():
    pytest.importorskip("IPython")
    body = "from IPython.display import HTML, display\ndisplay(HTML('<i>x</i>'), 3)"
    outcome = run_task(spec(body), {})
    assert outcome.ok, outcome.error
    assert [o.data.get("text/html", o.data["text/plain"]) for o in outcome.outputs] == [
        "<i>x</i>", "3"]


# --- multiblock segments and #%import code keep their own cells' lines ----------------------

SEGMENTS = (CodeSegment("x = 2\n", SourceLocation("Cell In[4]", 2)),
            CodeSegment("y = x * 21\ny\n", SourceLocation("Cell In[5]", 1)))  # fmt: skip


def segmented(*segments: CodeSegment, **fields) -> TaskSpec:
    body = "".join(s.code for s in segments)
    return spec(body, segments=tuple(segments), **fields)


def test_segments_keep_the_last_expression_of_the_whole_body():
    assert run_task(segmented(*SEGMENTS), {}).result == 42
    comment_only = CodeSegment("# nothing to run\n", SourceLocation("Cell In[6]", 1))
    assert run_task(segmented(*SEGMENTS, comment_only), {}).result == 42
    statement = CodeSegment("z = 0\n", SourceLocation("Cell In[6]", 1))
    assert run_task(segmented(*SEGMENTS, statement), {}).result is None
    assignment = CodeSegment("result = 'set'\n", SourceLocation("Cell In[6]", 1))
    assert run_task(segmented(*SEGMENTS, assignment), {}).result == "set"


def test_error_in_a_later_segment_names_that_cell_and_line():
    failing_cell = CodeSegment("def f():\n    return 1 / 0\nf()\n", SourceLocation("Cell In[9]", 1))
    outcome = run_task(segmented(*SEGMENTS, failing_cell, exports=("y",)), {})
    assert not outcome.ok
    text = "\n".join(outcome.error.traceback)
    assert 'File "Cell In[9]", line 3, in <module>' in text
    assert 'File "Cell In[9]", line 2, in f' in text and "return 1 / 0" in text
    assert "Cell In[7]" not in text and "runtime.py" not in text


def test_segments_share_one_namespace_and_export():
    outcome = run_task(segmented(*SEGMENTS, exports=("x", "y")), {})
    assert outcome.ok and outcome.exports == {"x": 2, "y": 42}


def test_import_code_error_names_the_import_cell():
    outcome = run_task(spec("1", setup_code="import json\nimport nonexistent_module_q\n",
                            setup_source=SourceLocation("Cell In[2]", 2)), {})  # fmt: skip
    text = "\n".join(outcome.error.traceback)
    assert outcome.error.ename == "ModuleNotFoundError"
    assert 'File "Cell In[2]", line 3, in <module>' in text and "import nonexistent" in text


def test_from_plan_carries_segments_and_the_import_location():
    where = SourceLocation("Cell In[3]", 2)
    job = Job(name="J", import_code={"Python": "import math\n"}, import_source={"Python": where})
    task = Task("a", "x = 2\ny = x * 21\ny\n", source=SourceLocation("Cell In[4]", 2),
                segments=list(SEGMENTS))
    job.define(task)
    job.define(Task("sh", "echo hi", language="Linux_Bash"))
    plan = JobPlan(job, "J", {"a": PlannedTask(task, (), {}),
                              "sh": PlannedTask(job.tasks["sh"], (), {})}, {})  # fmt: skip
    a = TaskSpec.from_plan(plan, "a")
    assert a.segments == SEGMENTS and a.body == task.code
    assert (a.setup_code, a.setup_source) == ("import math\n", where)
    assert run_task(a, {}).result == 42
    sh = TaskSpec.from_plan(plan, "sh")
    assert sh.segments == () and sh.setup_code == ""
    assert sh.setup_source == SourceLocation("#%import", 1)


def test_the_task_runtime_needs_nothing_of_the_kernel_package():
    """What runs on workers is a leaf: with pragma_kernel.kernel and .protocol made
    unimportable, a task still runs, displays, draws and fails as usual (so a Dask cluster is
    shipped the pragmas package only)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import sys

        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[:2] in (["pragma_kernel", "kernel"],
                                           ["pragma_kernel", "protocol"]):
                    raise ImportError(f"{name} is the kernel's, not the runtime's")

        sys.meta_path.insert(0, Refuse())
        from pragma_kernel.pragmas.backends import dask_task, local_worker, proactive_task
        from pragma_kernel.pragmas.backends.base import JobPlan, PlannedTask
        from pragma_kernel.pragmas.model import Job, Task
        from pragma_kernel.pragmas.runtime import TaskSpec, run_task

        code = ("display({'a': 1})\\n"
                "import matplotlib.pyplot as plt\\nplt.plot([1, 2])\\nplt.show()\\n"
                "print('printed')\\n1 / 0")
        job = Job()
        task = Task(name="t", code=code)
        job.define(task)
        plan = JobPlan(job=job, name="j", tasks={"t": PlannedTask(task, (), {})})
        outcome = run_task(TaskSpec.from_plan(plan, "t"), {})
        print(outcome.ok, [o.kind for o in outcome.outputs], outcome.error.ename)
        print(sorted(m for m in sys.modules if m.startswith(("pragma_kernel.kernel",
                                                             "pragma_kernel.protocol"))))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-2] == "False ['display', 'display', 'stream'] ZeroDivisionError"
    assert lines[-1] == "[]"
