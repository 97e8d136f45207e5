"""The job as a picture and as a dot file, drawn by the real Graphviz ``dot``."""

from __future__ import annotations

import base64

import pytest
from pragma_kernel.pragmas import graph
from pragma_kernel.pragmas.errors import GraphvizMissingError, PragmaUsageError
from pragma_kernel.pragmas.model import FlowInfo, Job, Task

from tests.pragmas.engine_helpers import Notebook, text
from tests.pragmas.svg_reading import svg_fill_of, svg_nodes_and_edges


def sample_job() -> Job:
    job = Job(name="sample")
    for task in (Task("hi"), Task("location", dep=["hi"]), Task("t-3", dep=["hi", "nope"]),
                 Task("end", dep=["location", "t-3"], runs=2)):  # fmt: skip
        job.define(task)
    return job


def test_svg_nodes_and_edges_match_the_job():
    svg = graph.render(graph.job_graph(sample_job(), "sample"), "svg").decode()
    nodes, edges = svg_nodes_and_edges(svg)
    assert nodes == {"hi", "location", "t-3", "end"}
    assert edges == {("hi", "location"), ("hi", "t-3"), ("location", "end"), ("t-3", "end")}


def test_nodes_coloured_by_state():
    states = {"hi": "done", "location": "failed", "t-3": "running"}
    svg = graph.render(graph.job_graph(sample_job(), "sample", states), "svg").decode()
    assert svg_fill_of(svg, "hi") == graph.STATE_COLOURS["done"]
    assert svg_fill_of(svg, "location") == graph.STATE_COLOURS["failed"]
    assert svg_fill_of(svg, "t-3") == graph.STATE_COLOURS["running"]
    assert svg_fill_of(svg, "end") == graph.STATE_COLOURS["pending"]
    assert "×2" in svg and "failed" in svg


def test_flow_edges_are_labelled():
    job = Job()
    job.define(Task("b", flow=FlowInfo(action="if", if_target="yes", else_target="no",
                                       continuation_target="after")))  # fmt: skip
    for name in ("yes", "no", "after"):
        job.define(Task(name))
    job.define(Task("s", flow=FlowInfo(block="start")))
    job.define(Task("l", dep=["s"], flow=FlowInfo(block="end", action="loop", target="s")))
    dot = graph.job_graph(job, "flow").to_string()
    for label in ("if", "else", "continuation", "loop"):
        assert f"label={label}" in dot
    _, edges = svg_nodes_and_edges(graph.render(graph.job_graph(job, "flow"), "svg").decode())
    assert {("b", "yes"), ("b", "no"), ("b", "after"), ("s", "l"), ("l", "s")} <= edges


def test_png_is_a_png():
    assert graph.render(graph.job_graph(sample_job(), "sample"), "png").startswith(b"\x89PNG")


def test_write_then_read_dot_round_trip(tmp_path):
    job = sample_job()
    path = graph.write_dot(job, tmp_path / "sample.dot", "sample job")
    read = graph.read_dot(path)
    assert read.nodes == ("hi", "location", "t-3", "end")
    assert set(read.edges) == {("hi", "location"), ("hi", "t-3"), ("location", "end"),
                               ("t-3", "end")}  # fmt: skip


def test_read_dot_of_a_hand_written_file(tmp_path):
    path = tmp_path / "hand.dot"
    path.write_text('digraph { node [shape=box]; a -> b -> c; "d e" -> c; subgraph s { x } }')
    read = graph.read_dot(path)
    assert set(read.nodes) == {"a", "b", "c", "d e", "x"}
    assert set(read.edges) == {("a", "b"), ("b", "c"), ("d e", "c")}


def test_read_dot_errors(tmp_path):
    with pytest.raises(graph.DotFileError, match="cannot read"):
        graph.read_dot(tmp_path / "missing.dot")
    (tmp_path / "bad.dot").write_text("this is not dot {")
    with pytest.raises(graph.DotFileError, match="not a Graphviz dot file"):
        graph.read_dot(tmp_path / "bad.dot")


def test_missing_dot_program_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GraphvizMissingError) as caught:
        graph.render(graph.job_graph(sample_job(), "sample"), "svg")
    assert "apt-get install graphviz" in caught.value.evalue
    assert "conda install graphviz" in caught.value.evalue


# ------------------------------------------------------------------ through the pragmas


def build(nb: Notebook) -> None:
    nb.run("#%task(name=hi)\nprint('Hello world')\n")
    nb.run("#%task(   name   =  location  , dep = [hi]  )\nresult = 123\n")


def test_draw_job_displays_the_job_as_svg_png_and_text():
    nb = Notebook()
    build(nb)
    out = nb.run("#%draw_job(name=demo)")
    (display,) = out.of_type("display_data")
    assert set(display["data"]) == {"image/svg+xml", "image/png", "text/plain"}
    nodes, edges = svg_nodes_and_edges(display["data"]["image/svg+xml"])
    assert nodes == {"hi", "location"} and edges == {("hi", "location")}
    # untrusted notebooks show the PNG (JupyterLab does not render their SVG)
    assert base64.b64decode(display["data"]["image/png"]).startswith(b"\x89PNG\r\n\x1a\n")
    assert display["data"]["text/plain"] == (
        "<job demo: 2 tasks>\n"
        "  hi\n"
        "  location  <- hi"
    )


def test_the_text_of_a_drawn_job_shows_the_states_of_the_last_run():
    job = sample_job()
    states = {name: "done" for name in job.tasks} | {next(iter(job.tasks)): "failed"}
    lines = graph.job_text(job, "sample", states).splitlines()
    assert lines[0] == f"<job sample: {len(job.tasks)} tasks>"
    assert "[failed]" in lines[1] and all("[done]" in line for line in lines[2:])


def test_draw_job_save_writes_png(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nb = Notebook()
    build(nb)
    out = nb.run("#%draw_job(name='my job', inline=off, save=on)")
    assert not out.of_type("display_data")
    assert (tmp_path / "my_job.png").read_bytes().startswith(b"\x89PNG")
    assert "my_job.png" in text(out)


def test_write_dot_then_import_dot_gives_the_same_graph(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nb = Notebook()
    build(nb)
    nb.run("#%task(name=third, dep=[hi, location])\nx = 1\n")
    nb.run("#%write_dot(name=pipeline)")
    other = Notebook()
    out = other.run("#%import_dot(path=pipeline.dot)")
    assert "Imported 3 tasks (3 new) and 3 dependencies" in text(out)
    assert {n: t.dep for n, t in other.job.tasks.items()} == {
        "hi": [], "location": ["hi"], "third": ["hi", "location"]}
    assert all(t.code == "" for t in other.job.tasks.values())


def test_import_dot_keeps_code_of_existing_tasks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "g.dot").write_text("digraph { a -> b }")
    nb = Notebook()
    nb.run("#%task(name=b)\nx = 1\n")
    nb.run("#%import_dot(path=g.dot)")
    assert nb.job.tasks["b"].code == "x = 1\n" and nb.job.tasks["b"].dep == ["a"]


def test_draw_empty_job_says_so():
    out = Notebook().run("#%draw_job()")
    assert not out.of_type("display_data") and "no task yet" in text(out)


def test_awkward_task_names_survive_drawing_and_the_dot_round_trip(tmp_path):
    job = Job()
    for name, dep in [("données", []), ("a-b", ["données"]), ("x.y", ["a-b"]), ("node", []),
                      ("1x", ["node"]), ("strict", ["1x"]), ('q"uote', [])]:  # fmt: skip
        job.define(Task(name, dep=dep))
    edges = {("données", "a-b"), ("a-b", "x.y"), ("node", "1x"), ("1x", "strict")}
    read = graph.read_dot(graph.write_dot(job, tmp_path / "awkward.dot", "titre é"))
    assert set(read.nodes) == set(job.tasks) and set(read.edges) == edges
    drawn = svg_nodes_and_edges(graph.job_svg(job, "titre é"))
    assert drawn == (set(job.tasks), edges)


def test_import_dot_refuses_nodes_that_cannot_be_task_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "g.dot").write_text('digraph { a -> "two words" }')
    nb = Notebook()
    with pytest.raises(PragmaUsageError, match="cannot be task names: 'two words'"):
        nb.run("#%import_dot(path=g.dot)")
    assert not nb.job.tasks
