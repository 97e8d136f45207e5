"""The catalog when connected to ProActive, through the stand-in server (a ProActive server
cannot run here; ``FakeProActiveServer`` in tests/pragmas/proactive_standin.py stands for the
scheduler behind the SDK).

What the ``proactive`` SDK offers for ProActive's catalog is one call,
``ProActiveGateway.submitWorkflowFromCatalog(bucket, workflow, variables)``: it cannot save,
list, read, diff or delete catalog objects. So jobs are saved in the folder catalog on
ProActive too, the first catalog pragma says so once, and ``#%submit_from_catalog`` makes the
one call there is. A saved job reruns on ProActive with new values like anywhere else: they
become the workflow's job variables.
"""

from __future__ import annotations

import inspect

import proactive
import pytest
from pragma_kernel.pragmas import proactive_jvm
from pragma_kernel.pragmas.backends.proactive import ProActiveSubmitError, SDKSession
from pragma_kernel.pragmas.engine import PragmaEngine

from tests.pragmas.pragma_cells import CellContext, run_cells
from tests.pragmas.proactive_standin import engine_on_the_standin

needs_java = pytest.mark.skipif(
    proactive_jvm.java_executable() is None, reason="no Java runtime: the SDK cannot start"
)


def test_the_sdk_has_one_catalog_call_submitting_a_stored_workflow():
    calls = [name for name, _ in inspect.getmembers(proactive.ProActiveGateway, callable)
             if "catalog" in name.lower()]  # fmt: skip
    assert calls == ["submitWorkflowFromCatalog"]
    parameters = inspect.signature(proactive.ProActiveGateway.submitWorkflowFromCatalog).parameters
    assert list(parameters) == ["self", "bucket_name", "workflow_name", "workflow_variables"]


@pytest.fixture
def on_proactive(tmp_path):
    engine = engine_on_the_standin()
    ctx = run_cells(engine, f"#%catalog(path='{tmp_path}')")
    yield engine, ctx, engine.get_backend().session
    engine.shutdown()


def cell(engine: PragmaEngine, ctx: CellContext, code: str) -> str:
    before = len(ctx.outputs)
    run_cells(engine, code, ctx=ctx)
    return "".join(text for kind, text in ctx.outputs[before:] if kind == "stdout")


def test_on_proactive_jobs_are_saved_in_the_folder_and_the_cell_says_why(on_proactive, tmp_path):
    engine, ctx, _ = on_proactive
    said = ctx.text()
    assert f"Note: jobs are saved in the folder {tmp_path}, not in ProActive's catalog" in said
    assert "the proactive SDK cannot write, list or read that catalog" in said
    cell(engine, ctx, "#%job(name=counting, variables=[(N, 3)])")
    cell(engine, ctx, "#%task(name=count)\nresult = int(variables['N']) * 2")
    saved = cell(engine, ctx, "#%save_job(message='on proactive')")
    assert "Saved job 'counting' as version 1" in saved and "Note:" not in saved  # once
    assert (tmp_path / "counting" / "v1.toml").exists()


def test_a_workflow_of_proactives_catalog_is_submitted_with_its_variables(on_proactive):
    engine, ctx, server = on_proactive
    server.catalog[("basic-examples", "Print_File_Name")] = {"file": "default.txt"}
    said = cell(engine, ctx, "#%submit_from_catalog(bucket=basic-examples, "
                             "workflow=Print_File_Name, variables=[(file, data.csv)])")
    assert "Submitted basic-examples/Print_File_Name from ProActive's catalog as job 1" in said
    assert "https://pa.example.org:8443/scheduler" in said
    assert server.catalog_submissions == [
        ("1", "basic-examples", "Print_File_Name", {"file": "data.csv"})]
    with pytest.raises(ProActiveSubmitError, match="no such workflow in the catalog"):
        cell(engine, ctx, "#%submit_from_catalog(bucket=basic-examples, workflow=Nope)")


def test_submit_from_catalog_elsewhere_says_it_submits_nothing():
    engine = PragmaEngine()
    ctx = run_cells(engine, "#%submit_from_catalog(bucket=b, workflow=w)")
    assert "the local backend has none" in ctx.text() and "Nothing submitted" in ctx.text()
    engine.shutdown()


class FakeGateway:
    """The SDK's ``ProActiveGateway`` as ``SDKSession`` uses it for the catalog."""

    def __init__(self, error: Exception | None = None):
        self.error, self.calls = error, []

    def submitWorkflowFromCatalog(self, bucket, workflow, variables):  # the SDK's name
        self.calls.append((bucket, workflow, variables))
        if self.error is not None:
            raise self.error
        return 42


def test_the_sdk_session_makes_the_sdks_catalog_call():
    from py4j.protocol import Py4JError

    gateway = FakeGateway()
    session = SDKSession(gateway, "https://pa.example.org:8443")
    assert session.submit_from_catalog("b", "w", {"k": "v"}) == "42"
    assert gateway.calls == [("b", "w", {"k": "v"})]
    refused = SDKSession(FakeGateway(Py4JError("workflow not found")), "https://pa:8443")
    with pytest.raises(ProActiveSubmitError, match="did not submit b/w from its catalog"):
        refused.submit_from_catalog("b", "w", {})


@needs_java
def test_a_loaded_job_reruns_on_proactive_with_new_variables(on_proactive):
    engine, ctx, server = on_proactive
    cell(engine, ctx, "#%job(name=counting, variables=[(N, 3)])")
    cell(engine, ctx, "#%task(name=count, export=[doubled])\ndoubled = int(variables['N']) * 2")
    cell(engine, ctx, "#%save_job(message='template')")
    cell(engine, ctx, "#%load_job(name=counting)")
    said = cell(engine, ctx, "#%submit_job(variables=[(N, 7)])")
    assert "Job variables of this run: N=7 (default 3)." in said
    assert ctx.namespace["doubled"] == 14
    assert 'name="N" value="7"' in server.submitted_xml["1"]


@needs_java
def test_a_version_can_keep_its_proactive_workflow_beside_it(tmp_path):
    engine = PragmaEngine()
    ctx = run_cells(engine, f"#%catalog(path='{tmp_path}')",
                    "#%task(name=count)\nresult = 2",
                    "#%save_job(name=counting, message='a', xml=on)")
    assert "its workflow in v1.xml" in ctx.text()
    xml = (tmp_path / "counting" / "v1.xml").read_text()
    assert '<job name="counting"' in xml and '<task name="count"' in xml
    run_cells(engine, "#%delete_saved_job(name=counting, version=1)", ctx=ctx)
    assert not (tmp_path / "counting").exists()
    engine.shutdown()
