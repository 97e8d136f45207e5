"""The Python shell in-process, with a recording output context (no sockets): execution
semantics, tracebacks, display, magics, completion, inspection and user_expressions."""

from __future__ import annotations

import os
import re

import pytest
from pragma_kernel.kernel.shell import INLINE_BACKEND, PythonShell

from tests.kernel.recording_context import run

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain(lines: list[str]) -> str:
    return ANSI.sub("", "\n".join(lines))


@pytest.fixture
def shell(monkeypatch):
    # PythonShell sets MPLBACKEND for the process; keep it from leaking into kernels that
    # other tests start from this process (they would inherit our inline backend)
    monkeypatch.setenv("MPLBACKEND", INLINE_BACKEND)
    return PythonShell({})


# -- execution --------------------------------------------------------------------------------


def test_last_expression_is_the_result_and_sets_out_and_underscores(shell):
    run(shell, "a = 40", 1)
    outcome, ctx, _ = run(shell, "b = 2\na + b", 2)
    assert outcome.status == "ok"
    assert ctx.of_type("execute_result") == [
        {"execution_count": 2, "data": {"text/plain": "42"}, "metadata": {}}
    ]
    run(shell, "'second'", 3)
    ns = shell.namespace
    assert ns["Out"] == {2: 42, 3: "second"}
    assert (ns["_"], ns["__"], ns["_2"]) == ("second", 42, 42)
    assert ns["In"][2] == "b = 2\na + b"


@pytest.mark.parametrize("code", ["1 + 1;", "1 + 1 ;  # quiet", "x = 3", "None", "print('p')"])
def test_no_result_for_semicolon_assignment_none_or_print(shell, code):
    _, ctx, _ = run(shell, code)
    assert ctx.of_type("execute_result") == []


def test_only_the_final_statement_is_displayed(shell):
    _, ctx, out = run(shell, "1\nprint('mid')\n2")
    assert [r["data"]["text/plain"] for r in ctx.of_type("execute_result")] == ["2"]
    assert out == "mid\n"


def test_silent_run_publishes_no_result_and_leaves_out_alone(shell):
    _, ctx, _ = run(shell, "7", 0, store_history=False, silent=True)
    assert ctx.outputs == []
    assert shell.namespace["Out"] == {}


def test_top_level_await(shell):
    code = "import asyncio\nawait asyncio.sleep(0)\nawait asyncio.sleep(0, 'v')"
    outcome, ctx, _ = run(shell, code)
    assert outcome.status == "ok"
    assert ctx.of_type("execute_result")[0]["data"]["text/plain"] == "'v'"


def test_functions_defined_in_cells_have_their_source(shell):
    run(shell, "def double(x):\n    return 2 * x", 1)
    _, ctx, _ = run(shell, "import inspect\ninspect.getsource(double)", 2)
    assert "return 2 * x" in ctx.of_type("execute_result")[0]["data"]["text/plain"]


def test_exit_asks_the_frontend_and_keeps_running(shell):
    outcome, ctx, _ = run(shell, "exit()")
    assert outcome.status == "ok"
    assert ctx.payload == [{"source": "ask_exit", "keepkernel": False}]


def test_sys_exit_is_an_error_not_an_exit(shell):
    outcome, _, _ = run(shell, "import sys\nsys.exit(3)")
    assert (outcome.status, outcome.ename, outcome.evalue) == ("error", "SystemExit", "3")
    assert plain(outcome.traceback).rstrip().endswith("SystemExit: 3")


# -- tracebacks -------------------------------------------------------------------------------


def test_traceback_names_cells_and_hides_kernel_frames(shell):
    run(shell, "def f():\n    return 1 / 0", 4)
    outcome, _, _ = run(shell, "x = 1\nf()", 5)
    text = plain(outcome.traceback)
    assert (outcome.ename, outcome.evalue) == ("ZeroDivisionError", "division by zero")
    assert "Cell In[5], line 2" in text
    assert "Cell In[4], line 2, in f()" in text
    assert "----> 2     return 1 / 0" in text
    assert "kernel/shell.py" not in text and "kernel" + os.sep + "shell.py" not in text
    assert outcome.traceback[-1] == "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"


def test_syntax_error_is_shown_with_a_caret_under_the_cell_line(shell):
    outcome, _, _ = run(shell, "x = 1\nif True:\n    x +", 7)
    assert outcome.ename == "SyntaxError"
    assert len(outcome.traceback) == 1
    lines = plain(outcome.traceback).splitlines()
    assert lines[0].strip() == "Cell In[7], line 3"
    assert lines[1].strip() == "x +"
    assert lines[2].strip() == "^"
    assert lines[-1] == "SyntaxError: invalid syntax"


def test_nothing_runs_when_a_later_line_has_a_syntax_error(shell):
    run(shell, "print('ran')\nx = (")
    assert "ran" not in str(shell.namespace.get("Out"))
    outcome, _, out = run(shell, "print('ran')\n)")
    assert outcome.ename == "SyntaxError" and out == ""


def test_chained_exceptions_show_both(shell):
    outcome, _, _ = run(shell, "try:\n    1/0\nexcept ZeroDivisionError as e:\n"
                               "    raise ValueError('bad') from e")
    text = plain(outcome.traceback)
    assert text.index("ZeroDivisionError") < text.index("direct cause") < text.index(
        "ValueError: bad")


def test_deep_recursion_is_collapsed(shell):
    outcome, _, _ = run(shell, "def down(n):\n    return down(n + 1)\ndown(0)")
    assert outcome.ename == "RecursionError"
    assert len(outcome.traceback) < 10
    assert "skipping similar frames: down" in plain(outcome.traceback)


def test_keyboard_interrupt_is_an_error_outcome(shell):
    outcome, _, _ = run(shell, "raise KeyboardInterrupt")
    assert outcome.ename == "KeyboardInterrupt"


# -- display ----------------------------------------------------------------------------------

RICH = """
class Rich:
    def _repr_html_(self):
        return '<b>rich</b>'
    def _repr_markdown_(self):
        return '**rich**', {'isolated': True}
    def _repr_png_(self):
        return b'\\x89PNG'
    def __repr__(self):
        return 'Rich()'
"""


def test_display_of_an_object_with_repr_methods(shell):
    run(shell, RICH, 1)
    _, ctx, _ = run(shell, "display(Rich(), metadata={'k': 1})", 2)
    [shown] = ctx.of_type("display_data")
    assert shown["data"] == {
        "text/html": "<b>rich</b>",
        "text/markdown": "**rich**",
        "image/png": "iVBORw==",
        "text/plain": "Rich()",
    }
    assert shown["metadata"] == {"text/markdown": {"isolated": True}, "k": 1}


def test_execute_result_uses_the_same_bundle(shell):
    run(shell, RICH, 1)
    _, ctx, _ = run(shell, "Rich()", 2)
    assert ctx.of_type("execute_result")[0]["data"]["text/html"] == "<b>rich</b>"


def test_repr_mimebundle_and_pretty(shell):
    code = (
        "class B:\n"
        "    def _repr_mimebundle_(self, include=None, exclude=None):\n"
        "        return {'application/json': {'a': 1}, 'text/plain': 'B!'}\n"
        "class P:\n"
        "    def _repr_pretty_(self, p, cycle):\n"
        "        with p.group(1, 'P(', ')'):\n"
        "            p.text('x'); p.breakable(); p.pretty([1])\n"
        "display(B(), P())"
    )
    _, ctx, _ = run(shell, code)
    first, second = ctx.of_type("display_data")
    assert first["data"] == {"application/json": {"a": 1}, "text/plain": "B!"}
    assert second["data"] == {"text/plain": "P(x [1])"}


def test_a_failing_repr_method_is_reported_and_skipped(shell, capsys):
    _, ctx, _ = run(shell, "class Bad:\n    def _repr_html_(self):\n        raise OSError('no')\n"
                           "display(Bad())")
    [shown] = ctx.of_type("display_data")
    assert list(shown["data"]) == ["text/plain"]
    assert "OSError: no" in capsys.readouterr().err


def test_display_handle_update_and_clear_output(shell):
    outcome, ctx, _ = run(shell, "from IPython.display import clear_output\n"
                                 "h = display('a', display_id='d1')\nh.update('b')\n"
                                 "clear_output(wait=True)\nh.display('c')")
    assert outcome.status == "ok"
    assert [kind for kind, _ in ctx.outputs] == [
        "display_data", "update_display_data", "clear_output", "display_data"]
    assert all(c["transient"] == {"display_id": "d1"} for k, c in ctx.outputs if "display" in k)
    assert ctx.outputs[2][1] == {"wait": True}


def test_raw_display_and_display_id_true(shell):
    _, ctx, _ = run(shell, "h = display({'text/html': '<i>r</i>'}, raw=True, display_id=True)\nh")
    [shown] = ctx.of_type("display_data")
    assert shown["data"] == {"text/html": "<i>r</i>"}
    handle_text = ctx.of_type("execute_result")[0]["data"]["text/plain"]
    assert handle_text == f"<DisplayHandle display_id={shown['transient']['display_id']}>"


def test_classes_are_not_asked_for_their_repr_methods(shell):
    run(shell, RICH, 1)
    _, ctx, _ = run(shell, "Rich", 2)
    assert ctx.of_type("execute_result")[0]["data"] == {"text/plain": "__main__.Rich"}  # IPython's


def test_ipython_display_routes_to_the_kernel(shell):
    code = (
        "from IPython.display import HTML, Markdown, display, clear_output, update_display\n"
        "display(HTML('<p>h</p>'), Markdown('*m*'))\n"
        "update_display(HTML('<p>u</p>'), display_id='x')\n"
        "clear_output()"
    )
    _, ctx, _ = run(shell, code)
    html, markdown = ctx.of_type("display_data")
    assert html["data"]["text/html"] == "<p>h</p>"
    assert markdown["data"]["text/markdown"] == "*m*"
    assert ctx.of_type("update_display_data")[0]["transient"] == {"display_id": "x"}
    assert ctx.of_type("clear_output") == [{"wait": False}]


def test_matplotlib_figures_are_shown_as_png_at_the_end_of_the_cell(shell):
    _, ctx, _ = run(shell, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\n"
                           "plt.figure()\nplt.plot([3, 2]);")
    figures = ctx.of_type("display_data")
    assert len(figures) == 2
    assert all(f["data"]["image/png"].startswith("iVBORw0KGgo") for f in figures)
    assert figures[0]["data"]["text/plain"].startswith("<Figure size")
    _, ctx, _ = run(shell, "plt.get_fignums()")  # closed after being shown
    assert ctx.of_type("execute_result")[0]["data"]["text/plain"] == "[]"


def test_plt_show_displays_at_once(shell):
    _, ctx, out = run(shell, "import matplotlib.pyplot as plt\nplt.plot([1])\nplt.show()\n"
                             "print('after')")
    assert len(ctx.of_type("display_data")) == 1
    assert out == "after\n"


# -- magics -----------------------------------------------------------------------------------


def test_unknown_magic_is_a_usage_error_naming_it(shell):
    outcome, _, _ = run(shell, "%nosuchmagic 1")
    assert outcome.ename == "UsageError"
    assert "`%nosuchmagic` not found" in outcome.evalue and "%time" in outcome.evalue
    assert plain(outcome.traceback).strip() == f"UsageError: {outcome.evalue}"


def test_unknown_cell_magic(shell):
    outcome, _, _ = run(shell, "%%nosuch\nbody")
    assert outcome.ename == "UsageError" and "`%%nosuch` not found" in outcome.evalue


def test_shell_command_output_and_exit_code(shell):
    outcome, _, out = run(shell, "word = 'there'\n!echo hello $word; exit 3")
    assert outcome.status == "ok"
    assert out == "hello there\n"
    assert shell.namespace["_exit_code"] == 3


def test_shell_command_captured_into_a_variable(shell):
    run(shell, "lines = !printf 'a\\nb\\n'")
    lines = shell.namespace["lines"]
    assert lines == ["a", "b"]
    assert (lines.s, lines.n, lines.grep("b"), lines.grep("b", prune=True)) == (
        "a b", "a\nb", ["b"], ["a"])


def test_cd_and_pwd(shell, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    _, _, out = run(shell, "%cd sub")
    assert out.strip() == str(tmp_path / "sub")
    _, ctx, _ = run(shell, "%pwd")
    assert ctx.of_type("execute_result")[0]["data"]["text/plain"] == repr(str(tmp_path / "sub"))
    run(shell, "%cd -")
    assert os.getcwd() == str(tmp_path)
    outcome, _, _ = run(shell, "%cd /no/such/dir")
    assert outcome.ename == "UsageError" and "/no/such/dir" in outcome.evalue


def test_env_get_set_and_list(shell, monkeypatch):
    monkeypatch.delenv("PRAGMA_TEST_VAR", raising=False)
    _, _, out = run(shell, "%env PRAGMA_TEST_VAR=one")
    assert out == "env: PRAGMA_TEST_VAR=one\n" and os.environ["PRAGMA_TEST_VAR"] == "one"
    _, ctx, _ = run(shell, "%env PRAGMA_TEST_VAR")
    assert ctx.of_type("execute_result")[0]["data"]["text/plain"] == "'one'"
    run(shell, "everything = %env")
    assert shell.namespace["everything"]["PRAGMA_TEST_VAR"] == "one"


def test_time_line_and_cell(shell):
    _, ctx, out = run(shell, "%time sum(range(10))")
    assert ctx.of_type("execute_result")[0]["data"]["text/plain"] == "45"
    assert out.startswith("CPU times: user ") and "Wall time: " in out
    _, ctx, out = run(shell, "%%time\nx = 20\nx + 1")
    assert ctx.of_type("execute_result")[0]["data"]["text/plain"] == "21"
    assert "Wall time" in out


def test_error_inside_time_cell_points_at_the_cell_line(shell):
    outcome, _, _ = run(shell, "%%time\nx = 1\n1 / 0", 9)
    assert "Cell In[9], line 3" in plain(outcome.traceback)


def test_timeit_prints_a_summary(shell):
    _, _, out = run(shell, "%timeit -n 10 -r 2 sum(range(5))")
    assert "per loop (mean ± std. dev. of 2 runs, 10 loops each)" in out


def test_writefile_and_bash(shell, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, _, out = run(shell, "%%writefile hello.py\nprint('hi from file')")
    assert out == "Writing hello.py\n"
    _, _, out = run(shell, "%%bash\ncat hello.py\necho done")
    assert out == "print('hi from file')\ndone\n"
    _, _, out = run(shell, "%run hello.py")
    assert out == "hi from file\n"


def test_matplotlib_magic_accepts_inline_only(shell):
    assert run(shell, "%matplotlib inline")[0].status == "ok"
    outcome, _, _ = run(shell, "%matplotlib qt")
    assert outcome.ename == "UsageError" and "inline" in outcome.evalue


def test_who_lists_user_names(shell):
    run(shell, "alpha = 1\nbeta = 'b'")
    _, _, out = run(shell, "%who")
    assert out.split() == ["alpha", "beta"]


def test_help_pages_the_object(shell):
    outcome, ctx, _ = run(shell, "len?")
    assert outcome.status == "ok"
    [page] = ctx.payload
    assert page["source"] == "page" and page["start"] == 0
    text = ANSI.sub("", page["data"]["text/plain"])
    assert "Signature: len(obj, /)" in text and "Return the number of items" in text


def test_double_question_mark_shows_source(shell):
    run(shell, "def shout(word):\n    'Say it loud.'\n    return word.upper()", 1)
    _, ctx, _ = run(shell, "shout??", 2)
    text = ANSI.sub("", ctx.payload[0]["data"]["text/plain"])
    assert "return word.upper()" in text and "Cell In[1]" in text


def test_help_on_an_unknown_name(shell):
    _, ctx, out = run(shell, "nothing_here?")
    assert ctx.payload == [] and out == "Object `nothing_here` not found.\n"


# -- completion, inspection, user_expressions --------------------------------------------------


def test_completion_of_builtins_attributes_and_namespace(shell):
    assert shell.complete("zi", 2)["matches"] == ["zip"]
    run(shell, "my_long_variable = 'text'")
    reply = shell.complete("my_lo", 5)
    assert reply["matches"] == ["my_long_variable"] and reply["cursor_start"] == 0
    reply = shell.complete("my_long_variable.upp", 20)
    assert reply["matches"] == ["upper"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (17, 20)
    assert reply["metadata"]["_jupyter_types_experimental"][0]["type"] == "function"


def test_completion_positions_count_code_points(shell):
    run(shell, "données = 1")
    code = "x = 'é'\ndonn"
    reply = shell.complete(code, len(code))
    assert "données" in reply["matches"] and reply["cursor_start"] == len(code) - 4


def test_completion_of_magics(shell):
    assert shell.complete("%ti", 3)["matches"] == ["%%time", "%%timeit", "%time", "%timeit"]


def test_inspect_finds_names_and_calls(shell):
    reply = shell.inspect("print(1, ", 9, 0)
    assert reply["found"] is True and "Prints the values" in reply["data"]["text/plain"]
    assert shell.inspect("no_such_name", 5, 0) == {
        "status": "ok", "found": False, "data": {}, "metadata": {}}


def test_user_expressions_ok_and_error(shell):
    run(shell, "value = 6")
    result = shell.user_expressions({"double": "value * 2", "bad": "1/0"})
    assert result["double"] == {"status": "ok", "data": {"text/plain": "12"}, "metadata": {}}
    assert result["bad"]["status"] == "error" and result["bad"]["ename"] == "ZeroDivisionError"


def test_timeit_options_result_and_cell_form(shell):
    _, ctx, out = run(shell, "result = %timeit -o -q -n 3 -r 2 sum(range(5))\nresult.loops")
    assert out == "" and ctx.of_type("execute_result")[0]["data"]["text/plain"] == "3"
    assert len(shell.namespace["result"].all_runs) == 2
    _, _, out = run(shell, "%%timeit -n 2 -r 1 data = list(range(10))\nsorted(data)")
    assert "(mean ± std. dev. of 1 run, 2 loops each)" in out
    outcome, _, _ = run(shell, "%timeit -x 1")
    assert outcome.ename == "UsageError" and "-x" in outcome.evalue


def test_figure_format_config(shell):
    from pragma_kernel.kernel import mpl_backend

    try:
        run(shell, "%config InlineBackend.figure_format = 'retina'")
        _, ctx, _ = run(shell, "import matplotlib.pyplot as plt\nplt.plot([1]);")
        [figure] = ctx.of_type("display_data")
        size = figure["metadata"]["image/png"]
        assert size["width"] > 100 and size["height"] > 100
        run(shell, "%config InlineBackend.figure_format = 'svg'")
        _, ctx, _ = run(shell, "plt.plot([1]);")
        assert "<svg" in ctx.of_type("display_data")[0]["data"]["image/svg+xml"]
        outcome, _, _ = run(shell, "%config Completer.use_jedi = False")
        assert outcome.ename == "UsageError" and "figure_format" in outcome.evalue
    finally:
        mpl_backend.figure_format = "png"


def test_empty_cell_does_nothing(shell):
    outcome, ctx, _ = run(shell, "  \n", 0, store_history=False, silent=True)
    assert outcome.status == "ok" and ctx.outputs == []


def test_cells_run_under_the_same_label_keep_their_own_source(shell):
    import inspect

    run(shell, "def first():\n    return 'one'", 3, store_history=False)
    run(shell, "def second():\n    return 'two'", 3, store_history=False)
    assert "'one'" in inspect.getsource(shell.namespace["first"])
    assert "'two'" in inspect.getsource(shell.namespace["second"])
    outcome, _, _ = run(shell, "first(1)", 3, store_history=False)
    assert "Cell In[3], line 1" in plain(outcome.traceback)


def test_capture_keeps_the_cells_output(shell):
    outcome, ctx, out = run(shell, "%%capture kept\nprint('hidden')\ndisplay('shown later')\n"
                                   "import sys; print('err', file=sys.stderr)")
    assert outcome.status == "ok" and out == "" and ctx.outputs == []
    kept = shell.namespace["kept"]
    assert (kept.stdout, kept.stderr) == ("hidden\n", "err\n")
    _, ctx, out = run(shell, "kept.show()")
    assert out == "hidden\n"
    assert ctx.of_type("display_data")[0]["data"] == {"text/plain": "'shown later'"}


def test_capture_of_a_failing_cell_still_keeps_what_was_printed(shell):
    outcome, _, out = run(shell, "%%capture kept\nprint('before')\n1/0", 4)
    assert outcome.ename == "ZeroDivisionError" and out == ""
    assert "Cell In[4], line 3" in plain(outcome.traceback)
    assert shell.namespace["kept"].stdout == "before\n"


def test_magic_help_pages_its_usage(shell):
    _, ctx, _ = run(shell, "%timeit?")
    text = ctx.payload[0]["data"]["text/plain"]
    assert "%timeit [-n N]" in text and "%%timeit" in text
    outcome, _, _ = run(shell, "%nosuch?")
    assert outcome.ename == "UsageError" and "%nosuch" in outcome.evalue


def test_tb_shows_the_full_traceback_of_the_last_error(shell):
    _, _, out = run(shell, "%tb")
    assert out == "No traceback available to show.\n"
    run(shell, "import sys\nsys.exit(4)", 6)
    _, _, out = run(shell, "%tb", 7)
    text = ANSI.sub("", out)
    assert "Cell In[6], line 2" in text and text.rstrip().endswith("SystemExit: 4")


def test_reset_history_and_shell_aliases(shell, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(shell, "doomed = 1", 1)
    run(shell, "%reset -f", 2)
    assert "doomed" not in shell.namespace and "In" in shell.namespace
    _, _, out = run(shell, "%history -n", 3)
    assert out == "   1: doomed = 1\n   2: %reset -f\n   3: %history -n\n"
    _, _, out = run(shell, "%mkdir made\n%ls", 4)
    assert out == "made\n"
    _, _, out = run(shell, "%%file notes.txt\nline", 5)
    assert out == "Writing notes.txt\n" and (tmp_path / "notes.txt").read_text() == "line\n"


def test_malformed_representations_are_dropped_with_a_warning(shell, capsys):
    code = (
        "class Odd:\n"
        "    def _repr_html_(self):\n"
        "        return 42\n"
        "    def _repr_mimebundle_(self, include=None, exclude=None):\n"
        "        return {'not a mime': 'x', 'image/gif': b'GIF89a', 'application/json': 'str'}\n"
        "    def __repr__(self):\n"
        "        return 'Odd()'\n"
        "Odd()"
    )
    outcome, ctx, _ = run(shell, code)
    assert outcome.status == "ok"
    assert ctx.of_type("execute_result")[0]["data"] == {
        "text/plain": "Odd()", "image/gif": "R0lGODlh"}
    warnings = capsys.readouterr().err
    assert "'not a mime'" in warnings and "text/html" in warnings and "application/json" in warnings


def test_a_failing_repr_is_the_cells_error(shell):
    code = "class Bad:\n    def __repr__(self):\n        raise ValueError('no repr')\nBad()"
    outcome, _, _ = run(shell, code, 3)
    assert outcome.ename == "ValueError"
    assert "in Bad.__repr__(self)" in plain(outcome.traceback)


def test_exception_groups_show_each_exception_and_end_with_the_group(shell):
    code = (
        "def fail(n):\n"
        "    raise ValueError(f'bad {n}')\n"
        "errors = []\n"
        "for n in (1, 2):\n"
        "    try:\n"
        "        fail(n)\n"
        "    except ValueError as e:\n"
        "        errors.append(e)\n"
        "try:\n"
        "    ExceptionGroup\n"
        "except NameError:  # Python 3.10: the backport (anyio, trio and pytest use it)\n"
        "    from exceptiongroup import ExceptionGroup\n"
        "raise ExceptionGroup('two failures', errors)"
    )
    outcome, _, _ = run(shell, code, 8)
    text = plain(outcome.traceback)
    assert outcome.ename == "ExceptionGroup"
    assert "1 of 2" in text and "ValueError: bad 1" in text and "ValueError: bad 2" in text
    assert "Cell In[8], line 2, in fail(n)" in text
    assert text.endswith("ExceptionGroup: two failures (2 sub-exceptions)")


def test_python_argument_of_time_is_not_expanded(shell):
    outcome, ctx, _ = run(shell, "y = [1, 2]\n%time {v for v in y}")
    assert outcome.status == "ok"
    assert ctx.of_type("execute_result")[0]["data"]["text/plain"] == "{1, 2}"
    _, _, out = run(shell, "!echo {len(y)} $y")
    assert out == "2 [1, 2]\n"
