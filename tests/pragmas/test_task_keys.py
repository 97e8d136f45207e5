"""Task keys: what changes a task's key, what does not, and how a change is named."""

from __future__ import annotations

import cloudpickle
from pragma_kernel.pragmas.backends.base import JobPlan, PlannedTask
from pragma_kernel.pragmas.model import FlowInfo, Job, Script, Task
from pragma_kernel.pragmas.task_keys import explain, imported_modules, task_keys


def plan_of(*tasks: Task, local: dict | None = None, import_code: str = "") -> JobPlan:
    job = Job(name="keys")
    for task in tasks:
        job.define(task)
    if import_code:
        job.import_code["Python"] = import_code
    planned = {}
    for task in tasks:
        sources = {}
        for name in task.imports:
            exporters = [d for d in task.dep if name in job.tasks[d].exports]
            sources[name] = exporters[0] if exporters else None
        planned[task.name] = PlannedTask(task, tuple(task.dep), sources)
    pickled = {k: cloudpickle.dumps(v) for k, v in (local or {}).items()}
    return JobPlan(job, "keys", planned, pickled)


def prep(code: str = "x = base + 1", **options) -> Task:
    return Task("prep", code, imports=["base"], exports=["x"], **options)


def train(code: str = "y = x * 2") -> Task:
    return Task("train", code, dep=["prep"], imports=["x"], exports=["y"])


def keys_of(*tasks: Task, folder=None, **plan_options):
    return task_keys(plan_of(*tasks, **plan_options), folder=folder)


def test_comments_blank_lines_and_layout_do_not_change_the_key(tmp_path):
    plain = keys_of(prep("x = base + 1"), train(), local={"base": 1}, folder=tmp_path)
    edited = keys_of(prep("# add one\n\nx = (base\n     + 1)   # here\n"), train(),
                     local={"base": 1}, folder=tmp_path)
    assert edited["prep"].key == plain["prep"].key
    assert edited["train"].key == plain["train"].key


def test_a_code_change_changes_the_key_and_the_descendants_and_is_named(tmp_path):
    before = keys_of(prep(), train(), local={"base": 1}, folder=tmp_path)
    after = keys_of(prep("x = base + 2"), train(), local={"base": 1}, folder=tmp_path)
    assert after["prep"].key != before["prep"].key
    assert after["train"].key != before["train"].key
    assert explain(after["prep"], before["prep"]) == ["its code changed"]
    assert explain(after["train"], before["train"]) == ["ancestor prep changed"]


def test_an_input_value_change_is_named(tmp_path):
    before = keys_of(prep(), train(), local={"base": 1}, folder=tmp_path)
    after = keys_of(prep(), train(), local={"base": 2}, folder=tmp_path)
    assert after["prep"].key != before["prep"].key
    assert explain(after["prep"], before["prep"]) == ["input base changed"]


def test_options_and_the_jobs_import_code_count(tmp_path):
    before = keys_of(prep(), local={"base": 1}, folder=tmp_path)
    replicated = keys_of(prep(runs=2), local={"base": 1}, folder=tmp_path)
    imported = keys_of(prep(), local={"base": 1}, import_code="import math", folder=tmp_path)
    scripted = keys_of(prep(pre_script=Script("print(1)")), local={"base": 1}, folder=tmp_path)
    for changed in (replicated, imported, scripted):
        assert explain(changed["prep"], before["prep"]) == ["its options changed"]


def test_shell_code_ignores_trailing_spaces_only():
    def shell(code):
        return keys_of(Task("sh", code, language="Linux_Bash"))["sh"].key

    assert shell("echo hi\n") == shell("\necho hi   \n\n")
    assert shell("echo hi") != shell("echo  hi")


def test_a_folder_module_the_task_imports_counts_also_through_another(tmp_path):
    (tmp_path / "helper.py").write_text("import mathstuff\nSCALE = 2\n")
    (tmp_path / "mathstuff.py").write_text("def double(v):\n    return 2 * v\n")
    (tmp_path / "unrelated.py").write_text("A = 1\n")
    task = Task("t", "import helper\nfrom os import path\nv = helper.SCALE")
    before = keys_of(task, folder=tmp_path)
    assert set(before["t"].modules) == {"helper.py", "mathstuff.py"}
    (tmp_path / "unrelated.py").write_text("A = 2\n")
    assert keys_of(task, folder=tmp_path)["t"].key == before["t"].key
    (tmp_path / "mathstuff.py").write_text("def double(v):\n    return v + v\n")
    after = keys_of(task, folder=tmp_path)
    assert after["t"].key != before["t"].key
    assert explain(after["t"], before["t"]) == ["module file mathstuff.py changed"]


def test_a_package_counts_with_all_its_files(tmp_path):
    package = tmp_path / "tools"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "inner.py").write_text("X = 1\n")
    task = Task("t", "from tools.inner import X")
    assert set(keys_of(task, folder=tmp_path)["t"].modules) == {"tools/__init__.py",
                                                                "tools/inner.py"}


def test_imports_anywhere_in_the_code_are_found():
    code = "def f():\n    import a.b\n    from c import d\nfrom . import e\nimport f as g"
    assert sorted(imported_modules(code)) == ["a", "c", "f"]


def test_control_flow_and_cache_off_tasks_are_volatile_with_their_descendants(tmp_path):
    branch = Task("decide", "v = 1", flow=FlowInfo(action="if", script=Script("branch = 'if'"),
                                                     if_target="yes", else_target="no"))
    yes, no = Task("yes", "a = 1", dep=["decide"]), Task("no", "b = 1", dep=["decide"])
    random = Task("random", "import random\nr = random.random()", cache=False)
    after = Task("after", "s = 1", dep=["random"])
    first = keys_of(branch, yes, no, random, after, folder=tmp_path)
    second = keys_of(branch, yes, no, random, after, folder=tmp_path)
    for name in ("decide", "yes", "no", "random", "after"):
        assert not first[name].reusable and first[name].key != second[name].key
        assert first[name].stable == second[name].stable  # what "changed since" compares
    assert explain(first["decide"], None) == ["it decides control flow (never reused)"]
    assert explain(first["random"], None) == ["it is marked cache=off (never reused)"]
    assert explain(first["after"], None) == ["ancestor random always runs"]


def test_a_miss_with_an_unchanged_key_says_the_result_went(tmp_path):
    key = keys_of(prep(), local={"base": 1}, folder=tmp_path)["prep"]
    assert explain(key, None) == ["no earlier result"]
    assert explain(key, key) == ["no earlier result (it was evicted or cleared)"]
