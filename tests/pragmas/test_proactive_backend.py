"""The ProActive backend: connection rules, config files, submission and monitoring, portals.

A ProActive server cannot run here. Submission is exercised up to the SDK call with
``FakeProActiveServer`` (tests/pragmas/proactive_standin.py), a stand-in for the scheduler behind
the SDK: it runs the workflow XML the real SDK exports, task by task, under ProActive's bindings.
Connecting uses the real SDK against a port where nothing listens. The tests against a real
server run only when PROACTIVE_URL, PROACTIVE_LOGIN and PROACTIVE_PASSWORD are set.
"""

from __future__ import annotations

import os
import socket
import textwrap

import pytest
from pragma_kernel.pragmas import proactive_jvm
from pragma_kernel.pragmas.backends.base import TaskState
from pragma_kernel.pragmas.backends.proactive import (
    ProActiveBackend,
    ProActiveConfigError,
    ProActiveConnectionError,
    ProActiveSubmitError,
    auto_connect,
    config_file_in,
    proactive_only_notices,
    read_config_file,
    server_url,
)
from pragma_kernel.pragmas.engine import PragmaEngine
from pragma_kernel.pragmas.errors import PragmaError

from tests.pragmas.pragma_cells import CellContext, run_cells
from tests.pragmas.proactive_standin import FakeProActiveServer

needs_java = pytest.mark.skipif(
    proactive_jvm.java_executable() is None, reason="no Java runtime: the SDK cannot start"
)


# -- connection rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "url", "expected"),
    [
        ("pa.example.org", 8443, None, "https://pa.example.org:8443"),
        ("pa.example.org", None, None, "http://pa.example.org:8080"),
        (None, None, "http://10.0.0.5:8080/", "http://10.0.0.5:8080"),
        (None, 9443, None, "https://try.activeeon.com:9443"),
    ],
)
def test_server_url_follows_activeeons_rules(host, port, url, expected):
    assert server_url(host, port, url) == expected


def write(tmp_path, text: str):
    path = tmp_path / "proactive_config.ini"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_config_file_with_protocol_host_and_port(tmp_path):
    path = write(tmp_path, """
        [proactive_server]
        protocol = http
        host = pa.example.org
        port = 8080
        [user]
        login = alice
        password = s3cret
    """)
    assert read_config_file(path) == ("http://pa.example.org:8080", "alice", "s3cret")


def test_config_file_with_url_and_no_password(tmp_path):
    path = write(tmp_path, """
        [proactive_server]
        url = https://pa.example.org:8443
        [user]
        login = alice
    """)
    assert read_config_file(path) == ("https://pa.example.org:8443", "alice", None)


def test_the_readmes_config_layout_without_protocol_works(tmp_path):
    """Activeeon's kernel crashed on it (KeyError 'protocol'); here it follows connect's rules."""
    path = write(tmp_path, """
        [proactive_server]
        host = pa.example.org
        port = 8443
        [user]
        login = alice
        password = pw
    """)
    assert read_config_file(path)[0] == "https://pa.example.org:8443"


def test_a_config_file_without_a_server_says_what_it_needs(tmp_path):
    path = write(tmp_path, "[user]\nlogin = alice\n")
    with pytest.raises(ProActiveConfigError, match=r"\[proactive_server\].*url=.*host="):
        read_config_file(path)


def test_config_file_is_found_in_the_working_directory(tmp_path):
    assert config_file_in(str(tmp_path)) is None
    path = write(tmp_path, "[proactive_server]\nurl = http://x:8080\n")
    assert config_file_in(str(tmp_path)) == path


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens


@needs_java
def test_a_failed_connect_names_the_url_and_the_reason():
    port = closed_port()
    with pytest.raises(ProActiveConnectionError) as failure:
        ProActiveBackend.connect(url=f"http://127.0.0.1:{port}", login="alice", password="pw")
    message = str(failure.value)
    assert f"http://127.0.0.1:{port}" in message
    assert "Connection refused" in message
    # the SDK's JVM is still usable afterwards (export_xml, another connect)
    assert proactive_jvm.gateway().createJob() is not None


@needs_java
def test_a_missing_login_and_password_are_asked_the_password_hidden():
    port = closed_port()
    asked = []

    def ask(prompt, password=True):
        asked.append((prompt, password))
        return "secret" if password else "alice"

    with pytest.raises(ProActiveConnectionError):
        ProActiveBackend.connect(host="127.0.0.1", port=port, ask_password=ask)
    assert [hidden for _, hidden in asked] == [False, True]
    assert "alice" in asked[1][0] and f"127.0.0.1:{port}" in asked[1][0]


def test_without_a_way_to_ask_a_missing_password_is_an_error():
    with pytest.raises(ProActiveConnectionError, match="no password given"):
        ProActiveBackend.connect(host="pa.example.org", login="alice")


@needs_java
def test_config_file_connect_asks_for_the_missing_password(tmp_path):
    port = closed_port()
    path = write(tmp_path, f"[proactive_server]\nurl = http://127.0.0.1:{port}\n[user]\nlogin = bob\n")
    asked = []

    def ask(prompt, password=True):
        asked.append(password)
        return "pw"

    with pytest.raises(ProActiveConnectionError, match=f"127.0.0.1:{port}"):
        ProActiveBackend.from_config_file(path, ask)
    assert asked == [True]


def test_no_config_file_means_no_auto_connect(tmp_path):
    assert auto_connect(str(tmp_path)) is None


def test_a_blank_login_means_no_sign_in_attempt_and_one_notice(tmp_path):
    """Activeeon's own example folder ships ``login =`` and ``password =`` blank: its kernel
    does not sign in then, and neither does this one (nothing is asked, no JVM is started)."""
    path = write(tmp_path, "[proactive_server]\nprotocol = http\nhost = try.activeeon.com\n"
                           "port = 8080\n\n[user]\nlogin =\npassword =")
    asked = []
    outcome = auto_connect(str(tmp_path), lambda *a, **k: asked.append(a) or "x")
    assert outcome.backend is None and asked == []
    assert outcome.stream == "stdout" and "\n" not in outcome.notice
    assert path in outcome.notice and "http://try.activeeon.com:8080" in outcome.notice
    assert "not signing in" in outcome.notice and "local backend" in outcome.notice


@needs_java
def test_a_failed_auto_connect_is_one_line_with_the_file_the_url_and_the_remedy(tmp_path):
    port = closed_port()
    path = write(tmp_path, f"[proactive_server]\nurl = http://127.0.0.1:{port}\n"
                           "[user]\nlogin = bob\npassword = pw\n")
    outcome = auto_connect(str(tmp_path))
    assert outcome.backend is None and outcome.stream == "stderr"
    assert "\n" not in outcome.notice
    for part in (path, f"127.0.0.1:{port}", "local backend", "#%connect"):
        assert part in outcome.notice, part


def test_a_password_no_front_end_can_ask_for_is_one_line(tmp_path):
    """Under nbclient/papermill the kernel's input() raises StdinNotAllowed (a RuntimeError):
    the auto-connect says so in one line instead of showing the kernel's traceback."""
    write(tmp_path, "[proactive_server]\nurl = https://pa.example.org:8443\n[user]\nlogin = bob\n")

    def no_stdin(prompt, password=False):
        raise RuntimeError("input() is not available: this frontend does not support stdin")

    outcome = auto_connect(str(tmp_path), no_stdin)
    assert outcome.backend is None and "\n" not in outcome.notice
    assert "https://pa.example.org:8443" in outcome.notice
    assert "no password given" in outcome.notice and "password=" in outcome.notice


def test_a_broken_config_file_is_one_line_naming_it(tmp_path):
    path = write(tmp_path, "this is not an ini file\n")
    outcome = auto_connect(str(tmp_path))
    assert outcome.backend is None and outcome.stream == "stderr"
    assert outcome.notice.count(path) >= 1 and "\n" not in outcome.notice


# -- submission, monitoring, results (stand-in server) -------------------------------------------


def submitted(*cells: str, namespace: dict | None = None):
    engine = PragmaEngine()
    ctx = run_cells(engine, *cells, ctx=CellContext(namespace=dict(namespace or {})))
    server = FakeProActiveServer()
    backend = ProActiveBackend(server, "https://pa.example.org:8443", "alice", poll_interval=0.02)
    events = []
    run = backend.submit(engine.plan(ctx), events.append)
    assert run.wait(60), "the job did not end"
    return server, run, events


def states_of(events, task):
    return [e.state for e in events if e.task == task and e.kind == "state"]


@needs_java
def test_a_job_runs_and_reports_states_results_exports_and_outputs():
    server, run, events = submitted(
        "#%task(name=hi, export=[x])\nprint('Hello world')\nx = 21",
        "#%task(name=location, dep=[hi], import=[x])\nprint('I am here')\nresult = x * 2",
    )
    assert server.submitted_xml[run.job_id].count("<task name=") == 2
    assert states_of(events, "hi") == [TaskState.PENDING, TaskState.RUNNING, TaskState.DONE]
    assert states_of(events, "location")[-1] == TaskState.DONE
    assert run.results["hi"].exports == {"x": 21}
    assert run.results["location"].result == 42
    printed = [(e.task, e.output.text) for e in events if e.kind == "output"]
    assert ("hi", "Hello world\n") in printed and ("location", "I am here\n") in printed
    assert run.results["hi"].duration > 0


@needs_java
def test_pictures_a_task_displays_come_back_as_display_outputs():
    _, run, events = submitted(
        "#%task(name=draw)\nclass Pic:\n    def _repr_svg_(self):\n        return '<svg/>'\n"
        "display(Pic())",
    )
    shown = [e.output for e in events if e.kind == "output" and e.output.kind == "display"]
    assert shown and shown[0].data["image/svg+xml"] == "<svg/>"
    assert run.results["draw"].state == TaskState.DONE


@needs_java
def test_a_failure_skips_dependents_and_independent_tasks_finish():
    _, run, events = submitted(
        "#%task(name=bad)\nraise RuntimeError('broken')",
        "#%task(name=child, dep=[bad])\nresult = 1",
        "#%task(name=other)\nresult = 'fine'",
    )
    assert run.results["bad"].state == TaskState.FAILED
    assert run.results["bad"].error.traceback[-1] == "RuntimeError: broken"
    assert run.results["child"].state == TaskState.SKIPPED
    assert run.results["other"].state == TaskState.DONE
    assert run.results["other"].result == "fine"
    logged = "".join(e.output.text for e in events if e.kind == "output" and e.task == "bad")
    assert "pragma-failure" not in logged  # the node's echo of the failure is not shown


@needs_java
def test_replicated_tasks_report_lists_in_replica_order():
    _, run, _ = submitted(
        "#%task(name=base)\nresult = 0",
        "#%task(name=rep, dep=[base], export=[v], runs=3)\nv = replication * 10",
        "#%task(name=after, dep=[rep], import=[v])\nresult = sum(v)",
    )
    assert run.results["rep"].exports == {"v": [0, 10, 20]}
    assert run.results["after"].result == 30


@needs_java
def test_values_from_the_notebook_reach_the_tasks():
    _, run, _ = submitted("#%task(name=t, import=[n])\nresult = n + 1", namespace={"n": 41})
    assert run.results["t"].result == 42


@needs_java
def test_cancel_kills_the_job_and_cancels_what_did_not_finish():
    engine = PragmaEngine()
    ctx = run_cells(engine, "#%task(name=slow)\nimport time\ntime.sleep(30)",
                    "#%task(name=next, dep=[slow])\nresult = 1")
    server = FakeProActiveServer()
    backend = ProActiveBackend(server, "https://pa.example.org:8443", "alice", poll_interval=0.02)
    events = []
    run = backend.submit(engine.plan(ctx), events.append)
    while TaskState.RUNNING not in states_of(events, "slow"):
        assert not run.wait(0.05)
    run.cancel()
    assert run.wait(30)
    assert server.killed == [run.job_id]
    assert run.results["slow"].state in (TaskState.CANCELLED, TaskState.FAILED)
    assert run.results["next"].state in (TaskState.CANCELLED, TaskState.SKIPPED)


@needs_java
def test_a_refused_submission_is_an_error_for_the_user():
    engine = PragmaEngine()
    ctx = run_cells(engine, "#%task(name=t)\nresult = 1")
    server = FakeProActiveServer(refuse="JobCreationException: quota exceeded")
    backend = ProActiveBackend(server, "https://pa.example.org:8443", "alice")
    with pytest.raises(ProActiveSubmitError, match="quota exceeded") as refused:
        backend.submit(engine.plan(ctx), lambda event: None)
    assert isinstance(refused.value, PragmaError)  # shown as a plain error, not a crash


# -- portals and resources through the pragmas ---------------------------------------------------


def engine_on_proactive(resources=None):
    engine = PragmaEngine()
    server = FakeProActiveServer(resources)
    engine.set_backend(ProActiveBackend(server, "https://pa.example.org:8443", "alice"))
    return engine, server


@pytest.mark.parametrize(
    ("pragma", "path"),
    [
        ("show_resource_manager", "/rm/"),
        ("show_scheduling_portal", "/scheduler/"),
        ("show_workflow_execution", "/automation-dashboard/#/workflow-execution"),
        # Activeeon's name for the same portal up to its release 13.0.4
        ("show_workflow_automation", "/automation-dashboard/#/workflow-execution"),
    ],
)
def test_portals_embed_the_servers_pages(pragma, path):
    engine, _ = engine_on_proactive()
    ctx = run_cells(engine, f"#%{pragma}(height=400, width=800)")
    (shown,) = ctx.displays()
    assert f'src="https://pa.example.org:8443{path}"' in shown["text/html"]
    assert "height:400px" in shown["text/html"] and "width:800px" in shown["text/html"]


def test_a_portal_under_another_host_name():
    engine, _ = engine_on_proactive()
    ctx = run_cells(engine, "#%show_scheduling_portal(host=public.example.org)")
    assert "https://public.example.org:8443/scheduler/" in ctx.displays()[0]["text/plain"]


def test_on_the_local_backend_a_portal_says_there_is_none():
    ctx = run_cells(PragmaEngine(), "#%show_resource_manager()")
    assert ctx.displays() == []
    assert "has no portal" in ctx.text()


def test_resources_are_listed_as_html_tables():
    engine, _ = engine_on_proactive(
        {"nodesources": ["", "Default", "GPU"], "hosts": ["node1"], "tokens": []})
    ctx = run_cells(engine, "#%list_nodesources()", "#%list_resources()")
    first, both = ctx.displays()
    assert "<th>Node sources</th>" in first["text/html"]
    assert "<td>GPU</td>" in first["text/html"] and "<td></td>" not in first["text/html"]
    assert both["text/plain"].splitlines() == [
        "Node sources: Default, GPU", "Hosts: node1", "Tokens: (none)"]


def test_an_unreachable_resource_manager_is_a_plain_error():
    engine, server = engine_on_proactive()
    server.resources_model = None
    with pytest.raises(PragmaError, match="resource manager"):
        run_cells(engine, "#%list_hosts()")


def test_resource_lists_say_once_that_they_do_not_apply_to_the_local_backend():
    ctx = run_cells(PragmaEngine(), "#%list_hosts()", "#%list_hosts()")
    assert ctx.text().count("does not apply to the local backend") == 1


def test_proactive_only_settings_are_named_for_other_backends():
    engine = PragmaEngine()
    run_cells(engine, "#%task(name=hi)\nprint(1)", "#%selection_script(name=hi)\nselected = True",
              "#%runtime_env()")
    notices = proactive_only_notices(engine.job, "dask", {"token": "t"})
    assert len(notices) == 3
    assert notices[0].startswith("Selection scripts") and "dask backend" in notices[0]
    assert "runtime environment" in notices[1] and "token" in notices[2]
    assert proactive_only_notices(PragmaEngine().job) == []


# -- a real server, when one is configured -------------------------------------------------------

REAL = {k: os.environ.get(k) for k in ("PROACTIVE_URL", "PROACTIVE_LOGIN", "PROACTIVE_PASSWORD")}
needs_server = pytest.mark.skipif(
    not all(REAL.values()),
    reason="no ProActive server: set PROACTIVE_URL, PROACTIVE_LOGIN and PROACTIVE_PASSWORD "
    "(its nodes need pragma-kernel installed) to run the real-server tests",
)


@needs_server
@needs_java
def test_a_real_server_runs_a_job_end_to_end():
    backend = ProActiveBackend.connect(url=REAL["PROACTIVE_URL"], login=REAL["PROACTIVE_LOGIN"],
                                       password=REAL["PROACTIVE_PASSWORD"])
    try:
        engine = PragmaEngine()
        ctx = run_cells(engine, "#%task(name=a, export=[x])\nx = 20",
                        "#%task(name=b, dep=[a], import=[x])\nprint('b runs')\nresult = x + 1")
        run = backend.submit(engine.plan(ctx), lambda event: None)
        assert run.wait(600)
        assert run.results["b"].result == 21
        assert backend.resources("nodesources") is not None
    finally:
        backend.close()


@needs_java
def test_submit_jobs_placement_options_reach_the_workflow(tmp_path):
    engine = PragmaEngine()
    ctx = run_cells(engine, "#%task(name=t, import=[big])\nresult = len(big)",
                    ctx=CellContext(namespace={"big": b"z" * 400_000}))
    plan = engine.plan(ctx)
    plan.placement = {"nodesource": "GPU", "token": "tok", "input_path": str(tmp_path / "in")}
    server = FakeProActiveServer()
    backend = ProActiveBackend(server, "https://pa.example.org:8443", "alice", poll_interval=0.02)
    run = backend.submit(plan, lambda event: None)
    assert run.wait(60)
    xml = server.submitted_xml[run.job_id]
    assert "proactive.node.nodesource" in xml and "'GPU'" in xml
    assert '<info name="NODE_ACCESS_TOKEN" value="tok"/>' in xml
    # the large notebook value went through the given input folder
    assert (tmp_path / "in" / "pragma-data" / "local" / "big.pkl").exists()
    assert run.results["t"].result == 400_000


def test_on_dask_the_portals_show_the_dask_dashboard():
    from pragma_kernel.pragmas.backends.dask import DaskBackend

    from tests.e2e.dask_cluster import shared_cluster

    engine = PragmaEngine()
    backend = DaskBackend.connect(url=shared_cluster().address)
    engine.set_backend(backend)
    try:
        ctx = run_cells(engine, "#%show_workflow_execution()", "#%list_tokens()")
        dashboard = backend.dashboard_url()
        assert dashboard
        (shown,) = ctx.displays()
        assert f'src="{dashboard}"' in shown["text/html"]
        assert "does not apply to the dask backend" in ctx.text()
    finally:
        backend.close()


@needs_java
def test_an_explicit_replicate_control_runs_its_process_task_per_replica():
    _, run, _ = submitted(
        "#%split(name=split1)\nprint('splitting')",
        "#%runs()\nruns = 2",
        "#%process(name=process1, export=[part])\npart = replication + 100",
        "#%merge(name=merge1, import=[part])\nresult = sorted(part)",
    )
    assert run.results["process1"].exports == {"part": [100, 101]}
    assert run.results["merge1"].result == [100, 101]


@needs_java
def test_large_exports_are_fetched_from_the_output_space_of_their_task():
    server, run, _ = submitted(
        "#%task(name=make, export=[blob])\nblob = b'q' * 700_000",
        "#%task(name=use, dep=[make], import=[blob])\nresult = len(blob)",
    )
    assert server.pulled == [(run.job_id, "make")]
    assert run.results["make"].exports["blob"] == b"q" * 700_000
    assert run.results["use"].result == 700_000


@needs_java
def test_a_value_the_kernel_cannot_load_fails_only_its_task():
    _, run, _ = submitted(
        "#%task(name=odd, export=[thing])\n"
        "import sys, types\n"
        "module = types.ModuleType('only_on_the_node')\n"
        "exec('class Thing: pass', module.__dict__)\n"
        "sys.modules['only_on_the_node'] = module\n"
        "module.Thing.__module__ = 'only_on_the_node'\n"
        "thing = module.Thing()",
        "#%task(name=fine)\nresult = 'ok'",
    )
    assert run.results["odd"].state == TaskState.FAILED
    assert "could not be loaded here" in run.results["odd"].error.evalue
    assert run.results["fine"].result == "ok"


@needs_java
def test_a_loop_reports_the_last_rounds_values_and_every_rounds_output():
    _, run, events = submitted(
        "#%start(name=start1)\nprint('round', variables.get('PA_TASK_ITERATION'))",
        "#%condition()\nloop = int(variables.get('PA_TASK_ITERATION')) < 2",
        "#%loop(name=loop1, export=[seen])\nseen = int(variables.get('PA_TASK_ITERATION'))",
    )
    assert run.results["loop1"].state == TaskState.DONE
    assert run.results["loop1"].exports == {"seen": 2}
    rounds = [e.output.text for e in events if e.kind == "output" and e.task == "start1"]
    assert rounds == ["round 0\n", "round 1\n", "round 2\n"]


@needs_java
def test_a_branch_runs_the_chosen_arm_and_skips_the_other():
    _, run, _ = submitted(
        "#%branch(name=branch1)\nvariables.put('way', 'else')",
        "#%condition()\nbranch = variables.get('way')",
        "#%if(name=if1)\nresult = 'if ran'",
        "#%else(name=else1)\nresult = 'else ran'",
        "#%continuation(name=continuation1)\nresult = 'after'",
    )
    assert run.results["else1"].result == "else ran"
    assert run.results["if1"].state == TaskState.SKIPPED
    assert run.results["continuation1"].result == "after"
