"""The ProActive workflow XML: built with the real SDK, checked by ProActive's own validator.

The validator is ``ValidationUtil.validate`` with the schema ``Schemas.getSchemaByNamespace``
names, in the SDK's JVM (Java 17 here). No server is involved: the engines are connected to the
stand-in server (``engine_on_the_standin``), as a notebook is connected to ProActive, because
tasks in languages only ProActive runs are refused on the local backend.
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET

import pytest
from pragma_kernel.pragmas import proactive_jvm
from pragma_kernel.pragmas.backends.proactive_job import (
    Placement,
    WorkflowBuildError,
    build_workflow,
    export_workflow_xml,
    runtime_env_script,
)
from pragma_kernel.pragmas.errors import PragmaError

from tests.pragmas.pragma_cells import run_cells
from tests.pragmas.proactive_standin import engine_on_the_standin

NS = {"pa": "urn:proactive:jobdescriptor:3.13"}

pytestmark = pytest.mark.skipif(
    proactive_jvm.java_executable() is None, reason="no Java runtime: the SDK cannot start"
)

EVERY_OPTION = (
    "#%import()\nimport math",
    ("#%job(name=EveryOption, variables=[(alpha, 1), (beta, 'two words')], "
     "generic_info=[(owner, me)])"),
    ("#%task(name=prep, export=[data], variables=[(size, 3)], generic_info=[(queue, fast)], "
     "precious_result=on)\ndata = list(range(int(variables.get('size'))))"),
    '#%pre_script(name=prep, language=Linux_Bash)\necho "pre of prep ]]> with a CDATA end"',
    "#%post_script(name=prep, language=Python)\nprint('post of prep')",
    "#%selection_script(name=prep, language=Groovy)\nselected = true",
    "#%fork_env(name=prep, language=Groovy)\nforkEnvironment.setJavaHome('/usr')",
    ("#%task(name=square, dep=[prep], import=[data], export=[squares], runs=3)\n"
     "squares = [x * x + replication for x in data]"),
    "#%task(name=total, dep=[square], import=[squares])\nresult = sum(map(sum, squares))",
    "#%task(name=shout, dep=[prep], language=Linux_Bash)\necho hello from bash",
    "#%task(name=jy, dep=[prep], language=Jython)\nresult = 123",
    "#%runtime_env(type=podman, image=docker://python:3.11, nvidia_gpu=on)",
    "#%split(name=split1)\nprint('split')",
    "#%runs()\nruns = 2",
    "#%process(name=process1)\nprint('process', variables.get('PA_TASK_REPLICATION'))",
    "#%merge(name=merge1)\nprint('merge')",
    "#%start(name=start1)\ni = 0",
    "#%condition()\nloop = false",
    "#%loop(name=loop1)\nprint('loop')",
    "#%branch(name=branch1)\nx = 1",
    "#%condition()\nbranch = 'if'",
    "#%if(name=if1)\nprint('if')",
    "#%else(name=else1)\nprint('else')",
    "#%continuation(name=continuation1)\nprint('after')",
)


@pytest.fixture(scope="module")
def every_option_xml() -> str:
    engine = engine_on_the_standin()
    ctx = run_cells(engine, *EVERY_OPTION)
    return export_workflow_xml(engine.plan(ctx))


def tasks_of(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml)
    return {t.get("name"): t for t in root.findall("pa:taskFlow/pa:task", NS)}


def deps_of(task: ET.Element) -> list[str]:
    return [d.get("ref") for d in task.findall("pa:depends/pa:task", NS)]


def code_of(task: ET.Element, where: str = "pa:scriptExecutable") -> tuple[str, str]:
    code = task.find(f"{where}/pa:script/pa:code", NS)
    return code.get("language"), code.text or ""


def test_the_every_option_job_passes_proactives_own_validation(every_option_xml):
    proactive_jvm.validate_workflow_xml(every_option_xml)


def test_job_name_variables_and_generic_info_are_carried(every_option_xml):
    root = ET.fromstring(every_option_xml)
    assert root.get("name") == "EveryOption"
    variables = {v.get("name"): v.get("value") for v in root.findall("pa:variables/pa:variable", NS)}
    assert variables == {"alpha": "1", "beta": "two words"}
    info = {i.get("name"): i.get("value") for i in root.findall("pa:genericInformation/pa:info", NS)}
    assert info == {"owner": "me"}


def test_tasks_and_dependencies(every_option_xml):
    tasks = tasks_of(every_option_xml)
    assert {"prep", "square", "total", "shout", "split1", "process1", "merge1", "start1",
            "loop1", "branch1", "if1", "else1", "continuation1"} <= set(tasks)
    # runs=3 on square, whose parent prep has another child: an added task opens the block
    assert deps_of(tasks["square"]) == ["square_split"]
    assert deps_of(tasks["square_split"]) == ["prep"]
    assert deps_of(tasks["shout"]) == ["prep"]
    assert deps_of(tasks["process1"]) == ["split1"]
    assert deps_of(tasks["loop1"]) == ["start1"]
    # square's only child, total, closes the block
    assert deps_of(tasks["total"]) == ["square"]


def test_task_options_variables_generic_info_precious_result(every_option_xml):
    prep = tasks_of(every_option_xml)["prep"]
    variables = {v.get("name"): v.get("value") for v in prep.findall("pa:variables/pa:variable", NS)}
    assert variables == {"size": "3"}
    info = {i.get("name"): i.get("value") for i in prep.findall("pa:genericInformation/pa:info", NS)}
    assert info == {"queue": "fast", "PYTHON_COMMAND": "python3"}
    assert prep.get("preciousResult") == "true"


def test_pre_post_selection_and_fork_scripts(every_option_xml):
    tasks = tasks_of(every_option_xml)
    prep = tasks["prep"]
    assert code_of(prep, "pa:pre") == ("bash", 'echo "pre of prep ]]> with a CDATA end"')
    assert code_of(prep, "pa:post") == ("cpython", "print('post of prep')")
    assert code_of(prep, "pa:selection") == ("groovy", "selected = true")
    assert code_of(prep, "pa:forkEnvironment/pa:envScript") == (
        "groovy", "forkEnvironment.setJavaHome('/usr')")
    # the job's runtime_env is the fork environment of the tasks without their own
    language, script = code_of(tasks["total"], "pa:forkEnvironment/pa:envScript")
    assert language == "groovy"
    assert "def TYPE = 'podman'" in script and "def NVIDIA_GPU = true" in script
    assert "forkEnvironment.setPreJavaCommand(cmd)" in script


def test_python_tasks_run_the_shared_runtime_with_their_code_embedded_safely(every_option_xml):
    square = tasks_of(every_option_xml)["square"]
    language, script = code_of(square)
    assert language == "cpython"
    assert "run_proactive_task(SPEC, SOURCES, variables" in script
    # the node imports the installed package (the repository's folders are not on its path)
    assert "from pragma_kernel.pragmas.backends.proactive_task import" in script
    assert "SOURCES = {'data': 'prep'}" in script
    assert "#   squares = [x * x + replication for x in data]" in script
    compile(script, "square", "exec")  # the generated script itself is valid Python


def test_languages_of_non_python_tasks(every_option_xml):
    tasks = tasks_of(every_option_xml)
    assert code_of(tasks["shout"]) == ("bash", "echo hello from bash")
    assert code_of(tasks["jy"]) == ("python", "result = 123")  # ProActive's name for Jython


def test_runs_becomes_a_replicate_flow_script_with_flow_blocks(every_option_xml):
    tasks = tasks_of(every_option_xml)
    opener, total = tasks["square_split"], tasks["total"]
    control = opener.find("pa:controlFlow", NS)
    assert control.get("block") == "start"
    assert code_of(control, "pa:replicate") == ("javascript", "runs=3")
    assert total.find("pa:controlFlow", NS).get("block") == "end"


def test_flow_pragmas_become_replicate_loop_and_branch_controls(every_option_xml):
    tasks = tasks_of(every_option_xml)
    split = tasks["split1"].find("pa:controlFlow", NS)
    assert split.get("block") == "start"
    language, script = code_of(split, "pa:replicate")
    # the flow pragmas keep valid Python as Python (cpython), else Javascript as Activeeon's
    assert (language, script) == ("cpython", "runs = 2")
    assert tasks["merge1"].find("pa:controlFlow", NS).get("block") == "end"
    loop = tasks["loop1"].find("pa:controlFlow", NS)
    assert loop.get("block") == "end"
    assert loop.find("pa:loop", NS).get("target") == "start1"
    branch = tasks["branch1"].find("pa:controlFlow/pa:if", NS)
    assert (branch.get("target"), branch.get("else"), branch.get("continuation")) == (
        "if1", "else1", "continuation1")


def test_large_values_are_declared_as_dataspace_transfers(every_option_xml):
    tasks = tasks_of(every_option_xml)
    out = tasks["prep"].find("pa:outputFiles/pa:files", NS)
    assert (out.get("includes"), out.get("accessMode")) == ("pragma-data/prep/**",
                                                             "transferToOutputSpace")
    into = tasks["square"].find("pa:inputFiles/pa:files", NS)
    assert (into.get("includes"), into.get("accessMode")) == ("pragma-data/prep/**",
                                                              "transferFromOutputSpace")


def test_a_broken_workflow_is_rejected_with_the_validators_message(every_option_xml):
    broken = every_option_xml.replace('<task name="total"', '<task bogus="1" name="total"', 1)
    with pytest.raises(proactive_jvm.WorkflowXMLInvalid, match=r'unexpected attribute "bogus"'):
        proactive_jvm.validate_workflow_xml(broken)


def test_a_task_without_a_name_is_rejected_by_the_validator(every_option_xml):
    broken = every_option_xml.replace('<task name="total"', "<task", 1)
    with pytest.raises(proactive_jvm.WorkflowXMLInvalid, match="name"):
        proactive_jvm.validate_workflow_xml(broken)


def test_placement_forces_a_selection_script_and_the_token(every_option_xml):
    engine = engine_on_the_standin()
    ctx = run_cells(engine, "#%task(name=a)\nprint(1)")
    workflow = build_workflow(engine.plan(ctx), placement=Placement("GPU", "node7", "tok"))
    xml = workflow.xml()
    proactive_jvm.validate_workflow_xml(xml)
    task = tasks_of(xml)["a"]
    language, script = code_of(task, "pa:selection")
    assert language == "groovy"
    assert "'GPU'" in script and "'node7'" in script
    info = {i.get("name"): i.get("value")
            for i in ET.fromstring(xml).findall("pa:genericInformation/pa:info", NS)}
    assert info["NODE_ACCESS_TOKEN"] == "tok"


def test_runs_on_a_task_with_two_parents_gets_an_added_split_depending_on_both():
    engine = engine_on_the_standin()
    ctx = run_cells(engine, "#%task(name=a)\n1", "#%task(name=b)\n2",
                    "#%task(name=c, dep=[a, b], runs=2)\n3")
    xml = export_workflow_xml(engine.plan(ctx))
    proactive_jvm.validate_workflow_xml(xml)
    tasks = tasks_of(xml)
    assert deps_of(tasks["c_split"]) == ["a", "b"]
    assert deps_of(tasks["c"]) == ["c_split"]
    assert tasks["c_split"].find("pa:controlFlow", NS).get("block") == "start"


def test_runs_on_a_root_task_gets_an_added_split_and_merge():
    engine = engine_on_the_standin()
    ctx = run_cells(engine, "#%task(name=a, runs=2)\n1", "#%task(name=b, dep=[a])\n2",
                    "#%task(name=c, dep=[a])\n3")
    xml = export_workflow_xml(engine.plan(ctx))
    proactive_jvm.validate_workflow_xml(xml)
    tasks = tasks_of(xml)
    assert deps_of(tasks["a"]) == ["a_split"]
    assert deps_of(tasks["a_merge"]) == ["a"]
    assert deps_of(tasks["b"]) == ["a_merge"] and deps_of(tasks["c"]) == ["a_merge"]


@pytest.mark.parametrize("force", [False, True])
def test_runtime_env_force_replaces_the_fork_environment_a_task_has_of_its_own(force):
    engine = engine_on_the_standin()
    flag = "on" if force else "off"
    ctx = run_cells(engine, "#%task(name=own)\nx = 1",
                    "#%fork_env(name=own, language=Groovy)\nforkEnvironment.setJavaHome('/own')",
                    "#%task(name=plain)\ny = 2",
                    f"#%runtime_env(image=docker://python:3.11, force={flag})")
    xml = export_workflow_xml(engine.plan(ctx))
    proactive_jvm.validate_workflow_xml(xml)
    tasks = tasks_of(xml)
    own = code_of(tasks["own"], "pa:forkEnvironment/pa:envScript")[1]
    plain = code_of(tasks["plain"], "pa:forkEnvironment/pa:envScript")[1]
    assert "def IMAGE = 'docker://python:3.11'" in plain
    if force:
        assert own == plain and "It replaces the fork environment of 'own'" in ctx.text()
    else:
        assert own == "forkEnvironment.setJavaHome('/own')" and "replaces" not in ctx.text()


def test_runtime_env_values_are_groovy_literals_not_code():
    script = runtime_env_script({"image": "evil'; System.exit(1); '", "type": "docker"})
    assert "def IMAGE = 'evil\\'; System.exit(1); \\''" in script


def test_export_xml_pragma_writes_a_valid_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    engine = engine_on_the_standin()
    ctx = run_cells(engine, "#%task(name=hi)\nprint('hello')",
                    "#%task(name=there, dep=[hi])\nresult = 123", "#%export_xml(name=hello)")
    written = tmp_path / "hello.xml"
    assert written.exists()
    proactive_jvm.validate_workflow_xml(written.read_text())
    assert set(tasks_of(written.read_text())) == {"hi", "there"}
    assert "exported to" in ctx.text()


def test_export_xml_without_a_name_uses_the_jobs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    engine = engine_on_the_standin()
    run_cells(engine, "#%job(name=Named)", "#%task(name=hi)\nprint('hello')", "#%export_xml()")
    assert (tmp_path / "Named.xml").exists()


def test_export_xml_of_an_empty_job_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PragmaError, match="no task"):
        run_cells(engine_on_the_standin(), "#%export_xml()")


def test_a_missing_java_is_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert proactive_jvm.java_executable() is None
    with pytest.raises(proactive_jvm.JavaMissingError, match="apt-get install default-jre-headless"):
        proactive_jvm._start_gateway()


def test_the_jvm_is_shared_and_can_be_stopped_and_restarted():
    first = proactive_jvm.gateway()
    assert proactive_jvm.gateway() is first
    proactive_jvm.shutdown()
    assert not proactive_jvm.is_running()
    again = proactive_jvm.gateway()
    assert again is not first
    assert shutil.which("java") or os.environ.get("JAVA_HOME")


def test_runs_under_a_single_parent_uses_activeeons_layout():
    engine = engine_on_the_standin()
    ctx = run_cells(engine, "#%task(name=T1)\n1", "#%task(name=T2, dep=[T1], runs=3)\n2")
    xml = export_workflow_xml(engine.plan(ctx))
    proactive_jvm.validate_workflow_xml(xml)
    tasks = tasks_of(xml)
    assert set(tasks) == {"T1", "T2", "T2_merge"}  # T2 has no child: a merge closes the block
    assert code_of(tasks["T1"].find("pa:controlFlow", NS), "pa:replicate") == (
        "javascript", "runs=3")
    assert tasks["T2_merge"].find("pa:controlFlow", NS).get("block") == "end"


def test_an_added_task_never_replaces_a_users_task():
    engine = engine_on_the_standin()
    ctx = run_cells(engine, "#%task(name=a_split)\n1", "#%task(name=a, runs=2)\n2")
    with pytest.raises(WorkflowBuildError, match="a_split"):
        build_workflow(engine.plan(ctx))


def test_values_cannot_be_imported_into_a_non_python_task():
    engine = engine_on_the_standin()
    ctx = run_cells(engine, "#%task(name=a, export=[x])\nx = 1",
                    "#%task(name=b, dep=[a], import=[x], language=Groovy)\nprintln(x)")
    with pytest.raises(WorkflowBuildError, match="Python tasks only"):
        build_workflow(engine.plan(ctx))
