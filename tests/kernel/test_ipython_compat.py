"""get_ipython() and IPython's display protocol as libraries use them: the stand-in shell's
attributes, its events around cells, and the mime-bundle calls ipywidgets and ipympl depend on.
The libraries themselves are in test_library_compat.py; here each promise is tested alone."""

from __future__ import annotations

import pytest
from pragma_kernel.kernel.shell import INLINE_BACKEND, PythonShell

from tests.conftest import collect_iopub, execute
from tests.kernel.recording_context import run


@pytest.fixture
def shell(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", INLINE_BACKEND)  # PythonShell sets it for the process
    return PythonShell({})


def printed(outputs: list[dict]) -> str:
    return "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")


# -- the display protocol ----------------------------------------------------------------------


def test_repr_mimebundle_gets_include_and_exclude_as_keywords(shell):
    run(shell, "class Widgetish:\n"
               "    def _repr_mimebundle_(self, **kwargs):\n"
               "        return {'text/plain': 'w', 'application/x-seen+json': sorted(kwargs)}", 1)
    _, ctx, _ = run(shell, "Widgetish()", 2)
    (result,) = ctx.of_type("execute_result")
    assert result["data"] == {"text/plain": "w", "application/x-seen+json": ["exclude", "include"]}


def test_an_object_displaying_itself_gives_no_execute_result(shell):
    run(shell, "class Self:\n    def _ipython_display_(self):\n"
               "        display({'text/plain': 'by itself'}, raw=True)", 1)
    _, ctx, _ = run(shell, "s = Self()\ns", 2)
    assert [kind for kind, _ in ctx.outputs] == ["display_data"]
    assert shell.namespace["_"] is shell.namespace["s"]  # Out and _ are still set, as in IPython


def test_declining_ipython_display_falls_back_on_the_mime_bundle(shell):
    run(shell, "class Canvas:\n    def _ipython_display_(self):\n        raise NotImplementedError\n"
               "    def _repr_html_(self):\n        return '<canvas/>'", 1)
    _, ctx, _ = run(shell, "Canvas()", 2)
    (result,) = ctx.of_type("execute_result")
    assert result["data"]["text/html"] == "<canvas/>"


# -- get_ipython() in a kernel -----------------------------------------------------------------


def test_get_ipython_knows_the_request_now_running(kernel):
    _, kc = kernel
    msg_id = kc.execute("print(get_ipython().get_parent()['header']['msg_id'])\n"
                        "print(get_ipython().kernel.get_parent()['msg_type'])")
    text = printed(collect_iopub(kc, msg_id))
    assert text == f"{msg_id}\nexecute_request\n"


def test_run_cell_events_receive_ipythons_objects(kernel):
    _, kc = kernel
    execute(kc, "seen = []\nip = get_ipython()\n"
                "ip.events.register('pre_run_cell', lambda info: seen.append(info.raw_cell))\n"
                "ip.events.register('post_run_cell', lambda r: seen.append((r.success, r.result)))")
    execute(kc, "40 + 2")
    execute(kc, "1/0")
    _, outputs = execute(kc, "ip.events.callbacks['pre_run_cell'].clear()\n"
                             "ip.events.callbacks['post_run_cell'].clear()\nprint(seen)")
    # the registering cell's own post_run_cell first, then two cells, then this one's pre_run_cell
    assert printed(outputs).startswith("[(True, None), '40 + 2', (True, 42), '1/0', (False, None), "
                                       '"ip.events')


def test_a_failing_callback_is_reported_and_the_cell_still_runs(kernel):
    _, kc = kernel
    execute(kc, "def broken():\n    raise RuntimeError('in a callback')\n"
                "get_ipython().events.register('post_execute', broken)")
    reply, outputs = execute(kc, "'the cell'")
    execute(kc, "get_ipython().events.unregister('post_execute', broken)")
    assert reply["content"]["status"] == "ok"
    kinds = [m["msg_type"] for m in outputs]
    assert kinds == ["execute_result", "stream", "error"]
    assert printed(outputs).startswith("Error in callback <function broken")
    assert outputs[-1]["content"]["ename"] == "RuntimeError"


def test_unknown_events_and_gui_loops_are_refused_clearly(kernel):
    _, kc = kernel
    reply, _ = execute(kc, "get_ipython().events.register('post_everything', print)")
    assert reply["content"]["ename"] == "KeyError"
    assert "post_execute" in reply["content"]["evalue"]  # the known ones are listed
    reply, _ = execute(kc, "get_ipython().enable_gui('qt')")
    assert reply["content"]["ename"] == "NotImplementedError"


def test_showtraceback_and_the_display_publisher(kernel):
    _, kc = kernel
    reply, outputs = execute(kc, "try:\n    {}['missing']\nexcept KeyError:\n"
                                 "    get_ipython().showtraceback()\n"
                                 "get_ipython().display_pub.publish({'text/plain': 'published'})")
    assert reply["content"]["status"] == "ok"
    assert [m["msg_type"] for m in outputs] == ["error", "display_data"]
    assert outputs[0]["content"]["ename"] == "KeyError"
    assert outputs[1]["content"]["data"] == {"text/plain": "published"}


def test_magics_through_get_ipython_as_exported_scripts_call_them(kernel):
    _, kc = kernel
    _, outputs = execute(kc, "import os\n"
                             "print(get_ipython().run_line_magic('pwd', '') == os.getcwd())\n"
                             "get_ipython().system('echo from system')\n"
                             "print(get_ipython().getoutput('echo a; echo b'))")
    assert printed(outputs) == "True\nfrom system\n['a', 'b']\n"
