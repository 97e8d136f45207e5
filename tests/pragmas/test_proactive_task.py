"""The generated ProActive task scripts, run under ProActive's bindings.

A ProActive server cannot run here: ``ProActiveTaskHarness`` (tests/pragmas/proactive_standin.py)
is its stand-in. It runs each task of the exported workflow XML in its own process with the
``variables``/``result``/``localspace`` bindings of a ProActive Python task, the declared
dataspace transfers and replicate control flow. Data must then pass between tasks exactly as on
the other backends.
"""

from __future__ import annotations

import base64

import cloudpickle
import pytest
from pragma_kernel.pragmas import proactive_jvm
from pragma_kernel.pragmas.backends import proactive_task
from pragma_kernel.pragmas.backends.proactive_job import build_workflow
from pragma_kernel.pragmas.engine import PragmaEngine

from tests.pragmas.pragma_cells import CellContext, run_cells
from tests.pragmas.proactive_standin import ProActiveTaskHarness

pytestmark = pytest.mark.skipif(
    proactive_jvm.java_executable() is None, reason="no Java runtime: the SDK cannot start"
)


def run_workflow(tmp_path, *cells: str, namespace: dict | None = None):
    engine = PragmaEngine()
    ctx = run_cells(engine, *cells, ctx=CellContext(namespace=dict(namespace or {})))
    workflow = build_workflow(engine.plan(ctx))
    input_space = tmp_path / "input-space"
    workflow.write_input_files(str(input_space))
    harness = ProActiveTaskHarness(workflow.xml(), str(tmp_path), str(input_space))
    return harness, harness.run()


def payload(run) -> dict:
    found = proactive_task.payload_from_result(run.result)
    assert found is not None, (run.status, run.exception, run.stderr)
    return found


def result_of(run):
    return proactive_task.decode_value(payload(run)["result"])


def test_three_tasks_pass_values_through_proactive_variables(tmp_path):
    _, runs = run_workflow(
        tmp_path,
        "#%task(name=load, export=[rows])\nrows = [{'a': 1}, {'a': 2}, {'a': 3}]",
        "#%task(name=total, dep=[load], import=[rows], export=[s])\ns = sum(r['a'] for r in rows)",
        "#%task(name=report, dep=[total], import=[s, rows])\nresult = f'{s} over {len(rows)}'",
    )
    assert {name: run.status for name, run in runs.items()} == dict.fromkeys(
        ("load", "total", "report"), "FINISHED")
    assert result_of(runs["report"]) == "6 over 3"
    # what travelled are strings in ProActive variables, put by the exporting task
    travelled = runs["load"].variables[proactive_task.export_key("load", "rows")]
    assert travelled.startswith(proactive_task.PICKLE_PREFIX)
    assert proactive_task.decode_value(travelled) == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_activeeon_style_variables_put_get_and_result(tmp_path):
    _, runs = run_workflow(
        tmp_path,
        "#%task(name=import)\nvariables.put('dataframe_json', '{\"x\": [1, 2]}')\nresult = 'ok'",
        "#%task(name=split, dep=[import])\nimport json\n"
        "data = json.loads(variables.get('dataframe_json'))\nvariables.put('n', len(data['x']))",
        "#%task(name=predict, dep=[split])\nresult = variables.get('n') * 10",
    )
    assert result_of(runs["import"]) == "ok"
    assert runs["split"].variables["dataframe_json"] == '{"x": [1, 2]}'
    assert result_of(runs["predict"]) == 20


def test_the_last_expression_is_the_result_when_none_is_assigned(tmp_path):
    _, runs = run_workflow(tmp_path, "#%task(name=t)\nx = 41\nx + 1")
    assert result_of(runs["t"]) == 42


def test_replicas_each_see_their_index_and_a_dependent_gets_the_list(tmp_path):
    _, runs = run_workflow(
        tmp_path,
        "#%task(name=base, export=[k])\nk = 10",
        "#%task(name=rep, dep=[base], import=[k], export=[v], runs=3)\nv = k + replication",
        "#%task(name=gather, dep=[rep], import=[v])\nresult = v",
    )
    assert {"rep", "rep*1", "rep*2"} <= set(runs)
    assert result_of(runs["gather"]) == [10, 11, 12]


def test_values_from_the_notebook_travel_as_job_variables_or_input_space_files(tmp_path):
    big = bytes(range(256)) * 2000  # ~0.5 MB: larger than a variable should carry
    _, runs = run_workflow(
        tmp_path,
        "#%task(name=use, import=[small, big])\nresult = (small, len(big), big[:3])",
        namespace={"small": {"n": 1}, "big": big},
    )
    assert result_of(runs["use"]) == ({"n": 1}, len(big), big[:3])


def test_large_exports_go_through_the_dataspace(tmp_path):
    harness, runs = run_workflow(
        tmp_path,
        "#%task(name=make, export=[blob])\nblob = b'x' * 600_000",
        "#%task(name=use, dep=[make], import=[blob])\nresult = len(blob)",
    )
    reference = runs["make"].variables[proactive_task.export_key("make", "blob")]
    assert reference.startswith(proactive_task.FILE_PREFIX)
    assert len(reference) < 100
    relative = reference[len(proactive_task.FILE_PREFIX):]
    assert (tmp_path / "output-space" / relative).exists()  # sent to the output space
    assert harness.output_space == str(tmp_path / "output-space")
    assert result_of(runs["use"]) == 600_000


def test_a_failed_task_fails_in_proactive_with_its_error_and_skips_dependents(tmp_path):
    _, runs = run_workflow(
        tmp_path,
        "#%task(name=bad)\nx = 1\nraise ValueError('no good')",
        "#%task(name=after, dep=[bad])\nresult = 1",
    )
    assert runs["bad"].status == "FAULTY"
    assert runs["after"].status == "NOT_STARTED"
    failure = proactive_task.payload_from_failure(runs["bad"].exception)
    assert failure["ok"] is False
    error = failure["error"]
    assert error["ename"] == "ValueError"
    assert error["traceback"][-1] == "ValueError: no good"
    assert any("line 3" in line for line in error["traceback"])  # the cell's own line


def test_proactive_pre_and_post_scripts_run_around_the_task(tmp_path):
    _, runs = run_workflow(
        tmp_path,
        "#%task(name=t1, generic_info=[(key1, value1)], language=Python)\nresult = 'test'",
        '#%pre_script(name=t1, language=Linux_Bash)\necho "This is a pre-script";',
        "#%post_script(name=t1, language=Python)\nprint('post sees', variables.get('PA_TASK_NAME'))",
    )
    out = runs["t1"].stdout
    assert out.index("This is a pre-script") < out.index("post sees t1")
    assert result_of(runs["t1"]) == "test"


def test_task_output_reaches_the_task_log(tmp_path):
    _, runs = run_workflow(tmp_path, "#%task(name=hi)\nprint('Hello world')")
    assert runs["hi"].stdout == "Hello world\n"


def test_import_code_is_prepended_to_python_tasks(tmp_path):
    _, runs = run_workflow(tmp_path, "#%import()\nimport math", "#%task(name=t)\nresult = math.pi")
    assert result_of(runs["t"]) == pytest.approx(3.14159, abs=1e-4)


def test_the_harness_refuses_non_string_variables_like_proactive(tmp_path):
    """Sanity check of the stand-in: a raw put of a non-string fails, as through Java's map."""
    engine = PragmaEngine()
    ctx = run_cells(engine, "#%task(name=t, language=Python)\nresult = 1")
    xml = build_workflow(engine.plan(ctx)).xml()
    call = "result = run_proactive_task("
    raw = xml.replace(call, "variables.put('n', 1)\n" + call)
    runs = ProActiveTaskHarness(raw, str(tmp_path)).run()
    assert runs["t"].status == "FAULTY"
    assert "not a string" in runs["t"].exception


def test_an_import_whose_value_never_arrived_is_a_clear_failure(tmp_path):
    from pragma_kernel.pragmas.backends.proactive_task import ProActiveTaskFailed, read_inputs

    variables = {"PA_TASK_NAME": "b"}
    with pytest.raises(ProActiveTaskFailed, match="import 'x': no value arrived from task 'a'"):
        read_inputs({"x": "a"}, variables, str(tmp_path))
    with pytest.raises(ProActiveTaskFailed, match="from the notebook"):
        read_inputs({"y": None}, variables, str(tmp_path))


def test_the_local_space_binding_may_be_a_path_or_a_file_uri(tmp_path, monkeypatch):
    from pragma_kernel.pragmas.backends.proactive_task import local_space_path

    monkeypatch.chdir(tmp_path)
    assert local_space_path(str(tmp_path)) == str(tmp_path)
    assert local_space_path(tmp_path.as_uri()) == str(tmp_path)
    assert local_space_path(None) == str(tmp_path)


def test_large_exports_of_replicas_each_have_their_file(tmp_path):
    _, runs = run_workflow(
        tmp_path,
        "#%task(name=base)\nresult = 0",
        "#%task(name=rep, dep=[base], export=[blob], runs=2)\nblob = bytes([replication]) * 500_000",
        "#%task(name=after, dep=[rep], import=[blob])\nresult = [b[:2] for b in blob]",
    )
    files = sorted(p.name for p in (tmp_path / "output-space" / "pragma-data" / "rep").iterdir())
    assert files == ["blob.0.pkl", "blob.1.pkl"]
    assert result_of(runs["after"]) == [b"\x00\x00", b"\x01\x01"]


def test_control_flow_scripts_are_left_to_proactive_not_run_by_the_runtime(tmp_path):
    engine = PragmaEngine()
    ctx = run_cells(engine, "#%split(name=split1)\nprint('split')", "#%runs()\nruns = 2",
                    "#%process(name=process1)\nprint('p')", "#%merge(name=merge1)\nprint('m')")
    xml = build_workflow(engine.plan(ctx)).xml()
    spec_text = xml.split("SPEC = '", 1)[1].split("'", 1)[0]
    spec = cloudpickle.loads(base64.b64decode(spec_text))
    assert spec.task_name == "split1"
    assert spec.flow_script is None and spec.pre_script is None
    assert "<replicate>" in xml
