"""Notebooks written for Activeeon's ProActive kernel, run by nbclient on the ``pragma`` kernel.

The three example notebooks of Activeeon's repository (``scripts/``), in its syntax: ``help``,
whitespace-heavy task lines, dependencies on tasks that do not exist (a warning), selection
scripts, fork environments from a file (``fork_env.py``, missing upstream, is provided here),
post scripts, ``job``, ``draw_job``, ``submit_job``, the legacy ``get_result(id=)``, the ProActive
``variables.put/get`` API and ``result = ...``, Linux_Bash pre/post scripts. The only edit: the
connect cell selects the embedded backend (``#%connect(backend=local)``) instead of a server, and
MLExample computes its regression without scikit-learn (``load_boston`` no longer exists).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from pragma_kernel.pragmas import proactive_jvm
from pragma_kernel.pragmas.backends.proactive import proactive_only_notices
from pragma_kernel.pragmas.model import Job, Script, Task

NOTEBOOKS = Path(__file__).parent / "notebooks" / "activeeon"


def execute(name: str, workdir: Path) -> nbformat.NotebookNode:
    """Run ``name``.ipynb in a copy of the notebooks folder; every cell must succeed."""
    folder = workdir / "activeeon"
    shutil.copytree(NOTEBOOKS, folder)
    notebook = nbformat.read(folder / f"{name}.ipynb", as_version=4)
    client = NotebookClient(notebook, kernel_name="pragma", timeout=180,
                            resources={"metadata": {"path": str(folder)}})  # fmt: skip
    client.execute()
    notebook.metadata["folder"] = str(folder)  # where the notebook's files were written
    return notebook


def text_of(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif "data" in output and "text/plain" in output["data"]:
            parts.append(output["data"]["text/plain"])
    return "".join(parts)


def cell(notebook, first_line: str):
    for candidate in notebook.cells:
        if candidate.cell_type == "code" and candidate.source.splitlines()[0] == first_line:
            return candidate
    raise AssertionError(f"no cell starts with {first_line!r}")


def all_text(notebook) -> str:
    return "".join(text_of(c) for c in notebook.cells if c.cell_type == "code")


def pictures(cell_) -> list[str]:
    return [m for o in cell_.get("outputs", []) for m in o.get("data", {}) if m.startswith("image/")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return execute("DemoKernel", tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def ml(tmp_path_factory):
    return execute("MLExample", tmp_path_factory.mktemp("ml"))


@pytest.fixture(scope="module")
def prepost(tmp_path_factory):
    return execute("TestPre_postScripts", tmp_path_factory.mktemp("prepost"))


# -- DemoKernel ------------------------------------------------------------------------------------


def test_demo_help_lists_activeeons_pragmas(demo):
    shown = text_of(cell(demo, "#%help()"))
    for name in ("connect", "task", "selection_script", "fork_env", "post_script", "draw_job",
                 "submit_job", "export_xml", "show_workflow_execution", "list_resources"):
        assert f"#%{name}(" in shown, name


def test_demo_job_runs_hi_then_location_with_its_post_script(demo):
    submitted = text_of(cell(demo, "#%submit_job()"))
    assert "Hello world" in submitted
    assert "I am located here" in submitted
    assert submitted.index("I am located here") < submitted.index("But I am leaving soon.")


def test_demo_says_the_proactive_only_scripts_do_not_apply_locally(demo):
    """Said once, at submission (``proactive_only_notices``), for the selection script and the
    fork environment the notebook sets."""
    text = all_text(demo)
    for notice in proactive_only_notices(_demo_like_job(), "local"):
        assert text.count(notice) == 1, notice


def _demo_like_job() -> Job:
    job = Job()
    job.tasks["hi"] = Task("hi", selection_script=Script("selected = True"),
                           fork_env=Script("pass"))  # fmt: skip
    return job


def test_demo_draw_job_shows_a_picture(demo):
    assert pictures(cell(demo, "#%draw_job()"))


def test_demo_legacy_get_result_shows_the_result(demo):
    assert "123" in text_of(cell(demo, "#%get_result(id=1)"))


needs_java = pytest.mark.skipif(proactive_jvm.java_executable() is None,
                                reason="no Java runtime: export_xml needs one")


@needs_java
def test_demo_export_xml_writes_a_workflow_proactive_accepts(demo):
    said = text_of(cell(demo, "#%export_xml(name=HelloWorldKernel)"))
    assert "HelloWorldKernel.xml" in said
    xml = (Path(demo.metadata["folder"]) / "HelloWorldKernel.xml").read_text()
    proactive_jvm.validate_workflow_xml(xml)
    assert '<task name="location">' in xml and '<task ref="hi"/>' in xml


def test_demo_proactive_pragmas_say_plainly_they_need_a_server(demo):
    assert "does not apply to the local backend" in text_of(cell(demo, "#%list_nodesources()"))
    assert "has no portal" in text_of(cell(demo, "#%show_resource_manager()"))


# -- MLExample -------------------------------------------------------------------------------------


def test_ml_dependency_on_a_missing_task_is_a_warning(ml):
    warned = text_of(cell(ml, "#%task(name=predict,dep=[train,split,kjhasdad])"))
    assert "kjhasdad" in warned


def test_ml_tasks_pass_data_with_variables_and_a_file(ml):
    submitted = text_of(cell(ml, "#%submit_job()"))
    assert "loaded 40 rows" in submitted
    assert "train 20 test 20" in submitted
    assert "slope 3.0" in submitted
    score = submitted.split("score ", 1)[1].split()[0]
    assert 0.9 < float(score) < 1.0
    assert score in text_of(cell(ml, "#%get_result(id=1)"))


def test_ml_help_of_the_legacy_pragma(ml):
    assert "get_result" in text_of(cell(ml, "#%help(pragma=get_result)"))


# -- TestPre_postScripts ---------------------------------------------------------------------------


def test_prepost_missing_dependencies_are_warnings(prepost):
    assert "dw" in text_of(cell(prepost, "#%  task(name=t2,dep=[t1,dw],language=Jython)"))
    assert "t66" in text_of(cell(prepost, "#%  task(name=t4,dep=[t2,t1,t66])"))


def test_prepost_bash_scripts_run_around_the_task(prepost):
    submitted = text_of(cell(prepost, "#%submit_job()"))
    assert submitted.index("This is a pre-script") < submitted.index("This is a post-script")


def test_prepost_results_are_activeeons(prepost):
    results = text_of(cell(prepost, "#%get_result(id=1)"))
    assert "test" in results
    assert results.count("123") >= 3
