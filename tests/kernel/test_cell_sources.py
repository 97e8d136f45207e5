"""Each cell's source in linecache: what inspect, obj??, tracebacks, warnings and pdb read, and
the bound on the memory it takes. Unit tests of the registry first, then a real kernel."""

from __future__ import annotations

import linecache
import re

import pytest
from pragma_kernel.kernel.cell_sources import CellSources

from tests.conftest import collect_iopub, execute, shell_reply

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def cells():
    registry = CellSources(recent=3, max_defining=2, max_defining_chars=1000)
    yield registry
    for name in registry.kept():
        linecache.cache.pop(name, None)


def test_a_cell_is_in_linecache_under_its_label(cells):
    name = cells.register("x = 1\ny = 2", "Cell In[7]")
    assert name == "<Cell In[7]>" and cells.label(name) == "Cell In[7]"
    assert linecache.getline(name, 2) == "y = 2\n"
    linecache.checkcache()  # what the traceback module calls: entries without mtime stay
    assert linecache.getline(name, 1) == "x = 1\n"
    assert cells.register("x = 3", "Cell In[7]") == "<Cell In[7]#2>"  # a non-history rerun


def test_only_the_recent_cells_and_the_ones_defining_code_are_kept(cells):
    names = [cells.register(code, f"Cell In[{n}]") for n, code in enumerate(
        ["def f(): pass", "x = 1", "class C: pass", "y = 2", "z = 3", "w = 4"], start=1)]
    # the last three whatever they hold, older ones only if they define functions or classes
    assert cells.kept() == [names[0], names[2], names[3], names[4], names[5]]
    assert linecache.getlines(names[1]) == []
    assert cells.label(names[1]) == "Cell In[2]"  # tracebacks still name the cell


def test_defining_cells_are_bounded_by_count_and_size(cells):
    names = [cells.register(f"def f{n}(): pass", f"Cell In[{n}]") for n in range(1, 8)]
    # the three recent ones, and the two newest of the older ones
    assert cells.kept() == names[2:]
    big = cells.register("def big(): pass\n" + "#" * 2000, "Cell In[8]")
    for n in range(9, 12):
        cells.register(f"v = {n}", f"Cell In[{n}]")
    assert big not in cells.kept()  # more than max_defining_chars, once no longer recent
    assert linecache.getlines(big) == []


def test_the_cell_of_a_class_is_found_by_its_methods_or_its_statement(cells):
    code = "class WithMethod:\n    def m(self):\n        return 1\nclass Bare:\n    x = 1\n"
    name = cells.register(code, "Cell In[1]")
    namespace: dict = {"__name__": "__main__"}
    exec(compile(code, name, "exec"), namespace)  # noqa: S102 - what the shell does
    assert cells.class_file(namespace["WithMethod"]) == name
    assert cells.class_file(namespace["Bare"]) == name
    assert cells.class_file(type("Elsewhere", (), {})) is None


# -- through a kernel ------------------------------------------------------------------------------

DEFINITIONS = (
    "import inspect\n"
    "class Shape:\n"
    "    'A shape.'\n"
    "    sides = 0\n"
    "class Square(Shape):\n"
    "    def area(self, side):\n"
    "        return side / 0\n"
)


def test_inspect_getsource_of_functions_and_classes_defined_in_cells(kernel):
    _, kc = kernel
    execute(kc, DEFINITIONS)
    _, outputs = execute(kc, "print(inspect.getsource(Square.area))\n"
                             "print(inspect.getsource(Shape))\nprint(inspect.getsourcefile(Shape))")
    text = "".join(m["content"]["text"] for m in outputs)
    assert text.startswith("    def area(self, side):\n        return side / 0\n")
    assert "class Shape:\n    'A shape.'\n    sides = 0\n" in text
    assert re.search(r"<Cell In\[\d+\]>\n$", text)


def test_double_question_mark_and_shift_tab_show_the_source_of_a_class(kernel):
    _, kc = kernel
    execute(kc, DEFINITIONS)
    reply, _ = execute(kc, "Square??")
    (page,) = reply["content"]["payload"]
    assert "def area(self, side):" in ANSI.sub("", page["data"]["text/plain"])
    for detail, expected in ((0, "A shape."), (1, "class Shape:")):
        inspected = shell_reply(kc, kc.inspect("Shape", 3, detail))["content"]
        assert inspected["found"] and expected in ANSI.sub("", inspected["data"]["text/plain"])
        assert "<Cell In[" in ANSI.sub("", inspected["data"]["text/plain"])


def test_a_traceback_through_a_function_of_an_earlier_cell_shows_that_cell(kernel):
    _, kc = kernel
    reply, _ = execute(kc, DEFINITIONS)
    defined_in = reply["content"]["execution_count"]
    reply, outputs = execute(kc, "Square().area(2)")
    text = ANSI.sub("", "\n".join(outputs[-1]["content"]["traceback"]))
    assert f"Cell In[{defined_in}], line 7, in Square.area(self, side)" in text
    assert "----> 7     return side / 0" in text


def test_warnings_name_the_cell_and_show_its_line(kernel):
    _, kc = kernel
    reply, outputs = execute(kc, "import warnings\ndef careful():\n"
                                 "    warnings.warn('mind the step')\ncareful()")
    count = reply["content"]["execution_count"]
    assert outputs[0]["content"] == {
        "name": "stderr",
        "text": f"<Cell In[{count}]>:3: UserWarning: mind the step\n"
                "  warnings.warn('mind the step')\n",
    }


def test_pdb_lists_the_cell(kernel):
    _, kc = kernel
    msg_id = kc.execute("def halves(n):\n    half = n / 2\n    breakpoint()\n    return half\n"
                        "halves(8)", allow_stdin=True)
    for answer in ("l", "p half", "c"):
        request = kc.get_stdin_msg(timeout=30)
        assert request["content"]["prompt"] == "(Pdb) "
        kc.input(answer)
    reply = shell_reply(kc, msg_id)
    assert reply["content"]["status"] == "ok"
    text = "".join(m["content"]["text"] for m in collect_iopub(kc, msg_id)
                   if m["msg_type"] == "stream")
    assert re.search(r"> <Cell In\[\d+\]>\(4\)halves\(\)", text)
    assert "  2  \t    half = n / 2" in text and "  4  ->\t    return half" in text
    assert "4.0" in text
