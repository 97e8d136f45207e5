"""The job model as pragma cells build it: idempotent redefinition, delete,
multiblock, job and import pragmas, attachments."""

from __future__ import annotations

import copy

import pytest
from pragma_kernel.pragmas.errors import PragmaStateError, PragmaUsageError
from pragma_kernel.pragmas.model import Job, Task

from tests.pragmas.engine_helpers import Notebook, text


def test_task_defined_with_every_option():
    nb = Notebook()
    nb.run("#%task(name=t, dep=[a], import=[x], export=[y, z], runs=3, language=Python, "
           "variables=[(K, 1)], generic_info=[(G, v)], precious_result=on, retries=2, "
           "timeout=1.5)\ny = z = x\n")
    task = nb.job.tasks["t"]
    assert (task.dep, task.imports, task.exports) == (["a"], ["x"], ["y", "z"])
    assert (task.runs, task.retries, task.timeout, task.precious_result) == (3, 2, 1.5, True)
    assert task.variables == {"K": "1"} and task.generic_info == {"G": "v"}
    assert task.code == "y = z = x\n"
    assert (task.source.label, task.source.first_line) == ("Cell In[1]", 2)


def test_rerunning_a_cell_changes_nothing():
    nb = Notebook()
    cells = ["#%task(name=a, export=[x])\nx = 1\n", "#%task(name=b, dep=[a], import=[x])\nx\n",
             "#%pre_script(name=b)\nprint('pre')\n", "#%import()\nimport math\n",
             "#%job(name=J, variables=[(k, v)])"]
    for cell in cells:
        nb.run(cell)
    first = copy.deepcopy(nb.job)
    for cell in cells:
        nb.run(cell)
    assert _normalised(nb.job) == _normalised(first)


def _normalised(job: Job) -> Job:
    """The job without the cell labels (they differ between runs by design)."""
    job = copy.deepcopy(job)
    for task in job.tasks.values():
        task.source.label = ""
        for script in (task.pre_script, task.post_script):
            if script is not None:
                script.source.label = ""
    for source in job.import_source.values():
        source.label = ""
    return job


def test_redefinition_replaces_options_but_keeps_attachments():
    nb = Notebook()
    nb.run("#%task(name=a, dep=[z], runs=2)\nx = 1\n")
    nb.run("#%post_script(name=a)\nprint('post')\n")
    out = nb.run("#%task(name=a)\nx = 2\n")
    task = nb.job.tasks["a"]
    assert task.dep == [] and task.runs == 1 and task.code == "x = 2\n"
    assert task.post_script.code == "print('post')\n"
    assert "Task 'a' replaced." in text(out)


def test_delete_task_removes_edges():
    nb = Notebook()
    nb.run("#%task(name=a)\n1\n")
    nb.run("#%task(name=b, dep=[a])\n2\n")
    nb.run("#%delete_task(name=a)")
    assert list(nb.job.tasks) == ["b"] and nb.job.tasks["b"].dep == []


def test_delete_unknown_task_suggests():
    nb = Notebook()
    nb.run("#%task(name=train)\n1\n")
    with pytest.raises(PragmaUsageError, match="there is no task 'trian'. Did you mean 'train'"):
        nb.run("#%delete_task(name=trian)")


def test_multiblock_appends_to_the_last_defined_task_once():
    nb = Notebook()
    nb.run("#%configure(task=multiblock)")
    nb.run("#%task(name=a)\nx = 1\n")
    nb.run("#%task(name=b)\ny = 1\n")
    nb.run("#%task(name=a)\nx = 2\n")  # redefined last: cells now go to a
    assert nb.engine.claims("x += 1\n")
    nb.run("x += 1\n")
    again = nb.run("x += 1\n")
    assert nb.job.tasks["a"].code == "x = 2\nx += 1\n"
    segments = nb.job.tasks["a"].segments
    assert [(s.code, s.source.label, s.source.first_line) for s in segments] == [
        ("x = 2\n", "Cell In[4]", 2), ("x += 1\n", "Cell In[5]", 1)]
    assert "already part of task 'a'" in text(again)
    nb.run("#%configure(task=block)")
    assert not nb.engine.claims("x += 1\n")


def test_multiblock_without_task_is_an_error():
    nb = Notebook()
    nb.run("#%configure(task=multiblock)")
    with pytest.raises(PragmaStateError, match="no task to append it to"):
        nb.run("x = 1\n")


def test_multiblock_cell_with_syntax_error_is_refused():
    nb = Notebook()
    nb.run("#%configure(task=multiblock)")
    nb.run("#%task(name=a)\nx = 1\n")
    with pytest.raises(Exception, match="never closed"):
        nb.run("x = (\n")
    assert nb.job.tasks["a"].code == "x = 1\n"


def test_block_mode_does_not_claim_plain_cells():
    assert not Notebook().engine.claims("x = 1")


def test_job_sets_name_variables_and_generic_info():
    nb = Notebook()
    nb.run("#%job(name=J, variables=[(a, 1)], generic_info=[(g, h)])")
    nb.run("#%job(name=J, variables=[(b, 2)])")
    assert nb.job.name == "J"
    assert nb.job.variables == {"b": "2"}  # given again: replaced, never ignored
    assert nb.job.generic_info == {"g": "h"}


def test_job_name_may_be_quoted_with_spaces():
    nb = Notebook()
    nb.run("#%job(name='Complete test from kernel')")
    assert nb.job.name == "Complete test from kernel"


def test_import_code_per_language_replaced():
    nb = Notebook()
    nb.run("#%import()\nimport math\n")
    nb.run("#%import(language=Linux_Bash)\nset -e\n")
    nb.run("#%import()\nimport json\n")
    assert nb.job.import_code == {"Python": "import json\n", "Linux_Bash": "set -e\n"}
    assert nb.job.import_source["Python"].first_line == 2


def test_task_body_from_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "impl.py").write_text("x = 40 + 2\n")
    nb = Notebook()
    out = nb.run("#%task(name=t, path=impl.py)\nignored = 1\n")
    assert "reads its code from impl.py; the code in this cell is ignored" in text(out, "stderr")
    task = nb.job.tasks["t"]
    assert task.code == "x = 40 + 2\n" and task.path == "impl.py"
    assert (task.source.label, task.source.first_line) == ("impl.py", 1)


def test_task_path_missing_points_at_the_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PragmaUsageError) as caught:
        Notebook().run("#%task(name=t, path=nothing.py)")
    assert caught.value.column == 20 and "cannot read 'nothing.py'" in caught.value.message


def test_scripts_attach_to_existing_tasks():
    nb = Notebook()
    nb.run("#%task(name=t1)\nresult = 'test'\n")
    nb.run('#%pre_script(name=t1,language=Linux_Bash)\necho "This is a pre-script";\n')
    nb.run("#%selection_script(name=t1)\nselected = True\n")
    task = nb.job.tasks["t1"]
    assert task.pre_script.language == "Linux_Bash"
    assert task.selection_script.code == "selected = True\n"
    with pytest.raises(PragmaUsageError, match="there is no task 't2'"):
        nb.run("#%fork_env(name=t2)\nx = 1\n")


def test_job_scripts_default_and_force():
    nb = Notebook()
    nb.run("#%task(name=a)\n1\n")
    nb.run("#%selection_script(name=a)\nselected = False\n")
    out = nb.run("#%job_selection_script()\nselected = True\n")
    nb.run("#%task(name=b)\n2\n")
    assert "(1 task(s) have their own)" in text(out)
    assert nb.job.job_selection_script.code == "selected = True\n"
    assert nb.job.tasks["a"].selection_script.code == "selected = False\n"
    assert nb.job.tasks["b"].selection_script is None  # the job default applies when it runs
    nb.run("#%fork_env(name=b)\nenv = 0\n")
    nb.run("#%job_fork_env(force=on)\nenv = 1\n")
    assert all(t.fork_env is None for t in nb.job.tasks.values())
    assert nb.job.job_fork_env.code == "env = 1\n"


def test_runtime_env_stored_with_defaults():
    nb = Notebook()
    nb.run("#%runtime_env(image=docker://python:3.11, nvidia_gpu=on)")
    env = nb.job.runtime_env
    assert env["image"] == "docker://python:3.11" and env["nvidia_gpu"] is True
    assert env["type"] == "docker" and env["host_network"] is True


def test_model_define_and_delete_directly():
    job = Job()
    assert job.define(Task("a")) is None
    old = job.define(Task("a", code="x"))
    assert old is not None and job.tasks["a"].code == "x"
    job.define(Task("b", dep=["a"]))
    job.delete("a")
    assert job.tasks["b"].dep == [] and job.last_task().name == "b"
    with pytest.raises(KeyError):
        job.delete("a")


def test_task_path_that_is_not_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blob.bin").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "folder").mkdir()
    with pytest.raises(PragmaUsageError, match="'blob.bin' is not UTF-8 text"):
        Notebook().run("#%task(name=t, path=blob.bin)")
    with pytest.raises(PragmaUsageError, match="cannot read 'folder' \\(Is a directory\\)"):
        Notebook().run("#%task(name=t, path=folder)")
