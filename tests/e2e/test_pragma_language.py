"""The pragma language through the real kernel, with jupyter_client as the peer: errors as one Jupyter error with a caret, help, completion, inspection, is_complete,
draw_job's SVG and the dot round trip."""

from __future__ import annotations

import pytest
from pragma_kernel.pragmas.declaration import declarations
from pragma_kernel.pragmas.reference import unique_specs

from tests.conftest import execute, shell_reply
from tests.pragmas.svg_reading import svg_nodes_and_edges


def run(kc, code: str):
    """(reply content, outputs by type) of one cell."""
    reply, outputs = execute(kc, code)
    return reply["content"], outputs


def only(outputs, msg_type: str) -> list[dict]:
    return [m["content"] for m in outputs if m["msg_type"] == msg_type]


def stdout(outputs, name: str = "stdout") -> str:
    return "".join(c["text"] for c in only(outputs, "stream") if c["name"] == name)


def request(kc, method: str, *args) -> dict:
    msg_id = getattr(kc, method)(*args)
    return shell_reply(kc, msg_id)["content"]


# ------------------------------------------------------------------ errors


def test_parse_error_is_one_jupyter_error_with_a_caret(kernel):
    _, kc = kernel
    reply, outputs = run(kc, "#%task(name=e1, dep=[prep)\nprint(1)\n")
    assert reply["status"] == "error" and reply["ename"] == "PragmaSyntaxError"
    (error,) = only(outputs, "error")
    assert [m["msg_type"] for m in outputs] == ["error"]
    assert error["traceback"][1:3] == ["    #%task(name=e1, dep=[prep)",
                                       "                             ^"]  # fmt: skip
    assert error["traceback"][0].endswith(", line 1, column 26")
    assert error["traceback"][-1] == f"PragmaSyntaxError: {error['evalue']}"
    assert "parameter 'dep'" in error["evalue"]


def test_unknown_pragma_suggests_the_closest(kernel):
    _, kc = kernel
    _, outputs = run(kc, "#%submit_jbo()")
    (error,) = only(outputs, "error")
    assert "unknown pragma '#%submit_jbo'" in error["evalue"]
    assert error["traceback"][2] == "      ^"


def test_task_syntax_error_at_the_cell_line(kernel):
    _, kc = kernel
    reply, outputs = run(kc, "#%task(name=e2)\nx = 1\ny = (x +\n")
    (error,) = only(outputs, "error")
    assert error["ename"] == "TaskSyntaxError"
    assert error["traceback"][0].startswith(f"  Cell In[{reply['execution_count']}], line 3")
    assert error["traceback"][1:3] == ["    y = (x +", "        ^"]


def test_several_bad_lines_are_one_error(kernel):
    _, kc = kernel
    _, outputs = run(kc, "#%task(name=e3, runs=x)\n#%draw_job(save=maybe)\n")
    (error,) = only(outputs, "error")
    assert sum(line.strip() == "^" for line in error["traceback"]) == 2
    assert "2 problems in this cell" in error["evalue"]


def test_code_under_a_pragma_without_body_is_refused(kernel):
    _, kc = kernel
    _, outputs = run(kc, "#%draw_job()\nprint('lost')\n")
    (error,) = only(outputs, "error")
    assert "#%draw_job takes no code" in error["evalue"]
    assert not stdout(outputs)


# ------------------------------------------------------------------ local and pragma cells


def test_ordinary_cells_stay_local_and_pragma_cells_do_not_run_code(kernel):
    _, kc = kernel
    run(kc, "value = 41")
    reply, outputs = run(kc, "#%task(name=l1)\nvalue = 0\n")
    assert reply["status"] == "ok" and "Task 'l1' defined." in stdout(outputs)
    _, outputs = run(kc, "value + 1")
    assert only(outputs, "execute_result")[0]["data"]["text/plain"] == "42"
    _, outputs = run(kc, "#%% a Spyder cell marker is not a pragma\nvalue")
    assert only(outputs, "execute_result")[0]["data"]["text/plain"] == "41"


def test_unknown_dep_warning_is_visible(kernel):
    _, kc = kernel
    _, outputs = run(kc, "#%task(name=predict, dep=[kjhasdad])\nresult = 1\n")
    assert "depends on 'kjhasdad', which is not defined" in stdout(outputs, "stderr")


def test_multiblock_through_the_kernel(kernel):
    _, kc = kernel
    run(kc, "#%configure(task=multiblock)")
    try:
        run(kc, "#%task(name=mb)\na = 1\n")
        reply, outputs = run(kc, "b = 2\n")
        assert reply["status"] == "ok" and "Appended to task 'mb'" in stdout(outputs)
        _, outputs = run(kc, "#%help(pragma=task)")  # pragma cells still work
        assert "#%task():" in stdout(outputs)
    finally:
        run(kc, "#%configure(task=block)")
    _, outputs = run(kc, "'local again'")
    assert only(outputs, "execute_result")[0]["data"]["text/plain"] == "'local again'"


# ------------------------------------------------------------------ help and editor support


def test_help_lists_every_declared_pragma(kernel):
    _, kc = kernel
    _, outputs = run(kc, "#%help()")
    text = stdout(outputs)
    for spec in unique_specs(declarations()):
        assert f"#%{spec.name}()" in text


def test_help_of_one_pragma(kernel):
    _, kc = kernel
    _, outputs = run(kc, "#%help(pragma=draw_job)")
    text = stdout(outputs)
    assert text.startswith("#%draw_job(): ")
    assert ("#%draw_job([name=NAME], [inline=on/off], [save=on/off], [variables=on/off],\n"
            "              [cache=on/off])") in text


def test_completion_of_pragma_and_parameter_names(kernel):
    _, kc = kernel
    reply = request(kc, "complete", "#%dra", 5)
    assert reply["status"] == "ok" and reply["matches"] == ["draw_job"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (2, 5)
    code = "#%draw_job(sa"
    reply = request(kc, "complete", code, len(code))
    assert reply["matches"] == ["save="] and reply["cursor_start"] == len(code) - 2


def test_inspection_shows_the_pragma_help(kernel):
    _, kc = kernel
    reply = request(kc, "inspect", "#%task(name=a)", 4)
    assert reply["status"] == "ok" and reply["found"]
    assert reply["data"]["text/plain"].startswith("#%task(): ")


@pytest.mark.parametrize(
    ("code", "status"),
    [("#%draw_job()", "complete"), ("#%task(name=a", "invalid"), ("#%task(name=a)", "incomplete"),
     ("#%task(name=a)\nx = 1\n", "complete")],
)  # fmt: skip
def test_is_complete(kernel, code, status):
    _, kc = kernel
    assert request(kc, "is_complete", code)["status"] == status


# ------------------------------------------------------------------ the picture and dot files

DEMO = [
    "#%  task(name=hi)\nprint('Hello world')\n",
    "#%task(   name   =  location  , dep = [hi]  )\nresult = 123\n",
    "#%task(name=t-3, dep=[hi, location, kjhasdad])\nresult = 3\n",
]


def test_draw_job_svg_matches_the_job(fresh_kernel):
    _, kc = fresh_kernel
    for cell in DEMO:
        assert run(kc, cell)[0]["status"] == "ok"
    _, outputs = run(kc, "#%draw_job()")
    (display,) = only(outputs, "display_data")
    nodes, edges = svg_nodes_and_edges(display["data"]["image/svg+xml"])
    assert nodes == {"hi", "location", "t-3"}
    assert edges == {("hi", "location"), ("hi", "t-3"), ("location", "t-3")}


def test_write_dot_then_import_dot_gives_the_same_graph(fresh_kernel, tmp_path):
    _, kc = fresh_kernel
    for cell in DEMO:
        run(kc, cell)
    _, before = run(kc, "#%draw_job()")
    reply, outputs = run(kc, f"#%write_dot(name='{tmp_path / 'demo'}')")
    assert reply["status"] == "ok" and (tmp_path / "demo.dot").exists()
    for name in ("hi", "location", "t-3"):
        run(kc, f"#%delete_task(name={name})")
    reply, outputs = run(kc, f"#%import_dot(path='{tmp_path / 'demo.dot'}')")
    assert reply["status"] == "ok", outputs
    _, after = run(kc, "#%draw_job()")
    picture = [svg_nodes_and_edges(only(o, "display_data")[0]["data"]["image/svg+xml"])
               for o in (before, after)]  # fmt: skip
    assert picture[0] == picture[1]


# ------------------------------------------------------------------ Activeeon's example notebooks

#: The pragma cells of TestPre_postScripts.ipynb and DemoKernel.ipynb up to submission
#: (ANCHORS §1.12), exactly as written there.
TEST_PRE_POST_SCRIPTS = [
    '#%task(name=t1,generic_info=[(key1,value1),(key2,value2)],language=Python)\nresult = "test"',
    '#%pre_script(name=t1,language=Linux_Bash)\necho "This is a pre-script";',
    '#%post_script(name=t1,language=Linux_Bash)\necho "This is a post-script";',
    "#%  task(name=t2,dep=[t1,dw],language=Jython)\nresult = 123",
    "#%  task(name=t3,dep=[t1])",
    "#%  task(name=t4,dep=[t2,t1,t66])",
    "#%job(name=CompleteTestFromKernel)",
]
DEMO_KERNEL = [
    "#%  task(name=hi)\nprint('Hello world')",
    "#%selection_script(name=hi)\nselected = True",
    "#%fork_env(name=hi,path=./fork_env.py)",
    "#%task(   name   =  location  , dep = [hi]  )\nprint('I am located at...')\nresult = 123",
    "#%post_script(name=location,language=Python)\nprint('But I am leaving soon.')",
    "#%job(name=HelloWorldKernel)",
]


def test_activeeon_example_cells_build_the_job(fresh_kernel, tmp_path):
    _, kc = fresh_kernel
    (tmp_path / "fork_env.py").write_text("# the example's missing file, as a fixture\n")
    run(kc, f"import os\nos.chdir({str(tmp_path)!r})")
    warnings = ""
    for cell in TEST_PRE_POST_SCRIPTS:
        reply, outputs = run(kc, cell)
        if "language=Jython" in cell:  # only ProActive runs Jython: refused on the local backend
            assert reply["status"] == "error" and "Jython" in reply["evalue"], outputs
            continue
        assert reply["status"] == "ok", (cell, outputs)
        warnings += stdout(outputs, "stderr")
    assert "'t4' depends on 't2'" in warnings and "'t4' depends on 't66'" in warnings
    _, outputs = run(kc, "#%draw_job()")
    nodes, edges = svg_nodes_and_edges(only(outputs, "display_data")[0]["data"]["image/svg+xml"])
    assert nodes == {"t1", "t3", "t4"}
    assert edges == {("t1", "t3"), ("t1", "t4")}
    for name in ("t1", "t3", "t4"):
        run(kc, f"#%delete_task(name={name})")
    for cell in DEMO_KERNEL:
        reply, outputs = run(kc, cell)
        assert reply["status"] == "ok", (cell, outputs)
    _, outputs = run(kc, "#%draw_job()")
    nodes, edges = svg_nodes_and_edges(only(outputs, "display_data")[0]["data"]["image/svg+xml"])
    assert (nodes, edges) == ({"hi", "location"}, {("hi", "location")})


def test_draw_job_after_a_run_colours_nodes_by_state(fresh_kernel):
    from pragma_kernel.pragmas.graph import STATE_COLOURS

    from tests.pragmas.svg_reading import svg_fill_of

    _, kc = fresh_kernel
    for cell in ("#%task(name=ok)\nx = 1\n", "#%task(name=boom)\nraise ValueError('no')\n",
                 "#%task(name=after, dep=[boom])\ny = 2\n"):  # fmt: skip
        run(kc, cell)
    run(kc, "#%submit_job()")
    _, outputs = run(kc, "#%draw_job()")
    svg = only(outputs, "display_data")[0]["data"]["image/svg+xml"]
    assert svg_fill_of(svg, "ok") == STATE_COLOURS["done"]
    assert svg_fill_of(svg, "boom") == STATE_COLOURS["failed"]
    assert svg_fill_of(svg, "after") == STATE_COLOURS["skipped"]
