"""%load_ext autoreload / %autoreload: an edited module is reloaded before the next cell and the
objects the user already holds follow the new code (a real module file on disk)."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest
from pragma_kernel.kernel.shell import INLINE_BACKEND, PythonShell

from tests.kernel.recording_context import run


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", INLINE_BACKEND)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("edited_")]:
        del sys.modules[name]


def write_module(path, source: str, bump: int) -> None:
    path.write_text(textwrap.dedent(source))
    # a later mtime than the first version, also when both are written within one second
    # (the bytecode cache compares whole seconds)
    stat = os.stat(path)
    os.utime(path, (stat.st_atime, stat.st_mtime + bump))


def result_of(ctx) -> str:
    return ctx.of_type("execute_result")[0]["data"]["text/plain"]


def test_edited_function_and_class_follow_the_new_code(module_dir):
    module = module_dir / "edited_mod.py"
    write_module(module, """
        def greet():
            return 'old'
        class Counter:
            def step(self):
                return 1
    """, 0)
    shell = PythonShell({})
    assert run(shell, "%load_ext autoreload\n%autoreload 2")[0].status == "ok"
    run(shell, "from edited_mod import greet, Counter\ncounter = Counter()")
    write_module(module, """
        def greet():
            return 'new'
        class Counter:
            def step(self):
                return 2
    """, 5)
    _, ctx, _ = run(shell, "greet(), counter.step()")
    assert result_of(ctx) == "('new', 2)"


def test_a_broken_edit_is_reported_and_the_cell_still_runs(module_dir, capsys):
    module = module_dir / "edited_broken.py"
    write_module(module, "value = 1\n", 0)
    shell = PythonShell({})
    run(shell, "%load_ext autoreload\n%autoreload 2\nimport edited_broken")
    write_module(module, "value = (\n", 5)
    outcome, ctx, _ = run(shell, "edited_broken.value")
    assert outcome.status == "ok" and result_of(ctx) == "1"
    assert "autoreload of edited_broken failed" in capsys.readouterr().err


def test_explicit_mode_reloads_only_aimported_modules(module_dir):
    watched, other = module_dir / "edited_watched.py", module_dir / "edited_other.py"
    write_module(watched, "x = 1\n", 0)
    write_module(other, "x = 1\n", 0)
    shell = PythonShell({})
    run(shell, "%load_ext autoreload\n%autoreload 1\n%aimport edited_watched\nimport edited_other")
    write_module(watched, "x = 2\n", 5)
    write_module(other, "x = 2\n", 5)
    _, ctx, _ = run(shell, "edited_watched.x, edited_other.x")
    assert result_of(ctx) == "(2, 1)"


def test_autoreload_needs_the_extension_and_known_modes(module_dir):
    shell = PythonShell({})
    outcome, _, _ = run(shell, "%autoreload 2")
    assert outcome.ename == "UsageError" and "%load_ext autoreload" in outcome.evalue
    outcome, _, _ = run(shell, "%load_ext something_else")
    assert outcome.ename == "UsageError" and "autoreload" in outcome.evalue
    outcome, _, _ = run(shell, "%load_ext autoreload\n%autoreload 7")
    assert outcome.ename == "UsageError" and "0/off" in outcome.evalue
