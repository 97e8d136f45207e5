"""Pure unit tests of the cell rewriting (magics, shell escapes, help) and of is_complete."""

from __future__ import annotations

import ast

import pytest
from pragma_kernel.kernel.cell_syntax import CALLS_NAME, transform_cell
from pragma_kernel.kernel.completion import is_complete
from pragma_kernel.kernel.magics import expand_variables, format_time


def test_plain_python_is_returned_unchanged():
    code = "x = 1\nif x != 2:\n    y = '%d' % x\n"
    assert transform_cell(code) == code


def test_shell_line_becomes_a_system_call_keeping_indentation():
    code = "for i in range(2):\n    !echo $i\n"
    assert transform_cell(code) == f"for i in range(2):\n    {CALLS_NAME}.system('echo $i')\n"


def test_line_magic_becomes_a_call_with_its_arguments():
    assert transform_cell("%time sum(range(3))") == (
        f"{CALLS_NAME}.line('time', 'sum(range(3))')\n"
    )


def test_assignment_from_shell_and_from_magic():
    out = transform_cell("files = !ls -1\nhome = %env HOME\n")
    assert out == (
        f"files = {CALLS_NAME}.getoutput('ls -1')\nhome = {CALLS_NAME}.line('env', 'HOME')\n"
    )


@pytest.mark.parametrize(
    ("line", "detail"), [("len?", 0), ("os.path.join??", 1), ("?len", 0), ("??len", 1)]
)
def test_help_lines_become_page_calls(line, detail):
    name = line.strip("?")
    assert transform_cell(line) == f"{CALLS_NAME}.page({name!r}, {detail})\n"


@pytest.mark.parametrize(
    "code",
    [
        's = """\n!not a command\n%not a magic\n"""\n',  # inside a triple-quoted string
        "x = [\n    1,\n%notmagic\n]\n",  # inside brackets
        "y = 1 + \\\n!notshell\n",  # after a backslash continuation
        "z = 'it is' # comment with ! and %\n",
    ],
)
def test_lines_inside_strings_brackets_or_continuations_are_not_rewritten(code):
    assert transform_cell(code) == code


def test_rewritten_cell_keeps_line_numbers():
    code = "a = 1\n!echo one \\\n  two\nb = 2\n"
    out = transform_cell(code)
    assert out.count("\n") == code.count("\n")
    tree = ast.parse(out)
    assert tree.body[-1].lineno == 4


def test_cell_magic_takes_the_whole_cell():
    out = transform_cell("%%time\nx = 1\nx\n")
    assert out == f"{CALLS_NAME}.cell('time', '', 'x = 1\\nx\\n')\n"


def test_variable_expansion_like_ipython():
    ns = {"name": "world", "n": 2}
    assert expand_variables("echo $name {n * 3} $$HOME", ns) == "echo world 6 $HOME"
    # shell braces that are not Python stay as typed
    assert expand_variables("awk '{print $1}'", ns) == "awk '{print $1}'"
    assert expand_variables("echo $undefined", ns) == "echo $undefined"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1.5, "1.5 s"), (0.0123, "12.3 ms"), (2.5e-6, "2.5 µs"), (3e-9, "3 ns"), (75, "1min 15s")],
)
def test_time_format(seconds, text):
    assert format_time(seconds) == text


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("", {"status": "complete"}),
        ("1+1", {"status": "complete"}),
        ("if True:", {"status": "incomplete", "indent": "    "}),
        ("if True:\n    x = 1", {"status": "incomplete", "indent": "    "}),
        ("if True:\n    x = 1\n", {"status": "complete"}),
        ("for i in range(3):\n    if i:", {"status": "incomplete", "indent": "        "}),
        ("x = (1,", {"status": "incomplete", "indent": ""}),
        ("x = '''abc", {"status": "incomplete", "indent": ""}),
        ("a = 1 \\", {"status": "incomplete", "indent": ""}),
        ("@dec", {"status": "incomplete", "indent": ""}),
        ("raise = 2", {"status": "invalid"}),
        ("x = 1\n  y = 2", {"status": "invalid"}),
        ("%time 1", {"status": "complete"}),
        ("!ls", {"status": "complete"}),
        ("len?", {"status": "complete"}),
    ],
)
def test_is_complete_answers_like_ipykernel(code, expected):
    # the expected values were read from ipykernel 7.4 for the same inputs
    assert is_complete(code) == expected
