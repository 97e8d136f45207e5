"""#%submit_job(cache=on), #%why, #%clear_cache and #%draw_job(cache=on) through the engine and
the local backend (no kernel): what runs, what is reused, and what each says."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pragmas.engine_helpers import Notebook, text


@pytest.fixture
def notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("PRAGMA_KERNEL_RESULTS", str(tmp_path / "results"))
    monkeypatch.chdir(tmp_path)
    made: list[Notebook] = []

    def new() -> Notebook:
        nb = Notebook(base=2)
        made.append(nb)
        nb.run("#%job(name=reuse)")
        return nb

    yield new
    for nb in made:
        nb.engine.shutdown()


def define(nb: Notebook, counter: Path, double: str = "2 * x") -> None:
    """load -> double -> total, and an independent side task; each counts its runs."""
    def body(name: str, code: str) -> str:
        return f"open({str(counter)!r}, 'a').write('{name}\\n')\n{code}"

    nb.run("#%task(name=load, import=[base], export=[x])\n" + body("load", "x = base + 1"))
    nb.run("#%task(name=double, dep=[load], import=[x], export=[y])\n"
           + body("double", f"y = {double}"))
    nb.run("#%task(name=total, dep=[double], import=[y], export=[z])\n" + body("total", "z = y"))
    nb.run("#%task(name=side, export=[s])\n" + body("side", "s = 1"))


def ran(counter: Path) -> list[str]:
    runs = counter.read_text().split() if counter.exists() else []
    counter.write_text("")
    return sorted(runs)


def final_display(ctx) -> str:
    return ctx.of_type("update_display_data")[-1]["data"]["text/plain"]


def test_a_new_kernel_reuses_what_an_earlier_one_stored(notebook, tmp_path):
    counter = tmp_path / "runs.txt"
    first = notebook()
    define(first, counter)
    first.run("#%submit_job(cache=on)")
    assert ran(counter) == ["double", "load", "side", "total"]
    second = notebook()  # another kernel: nothing in memory
    define(second, counter)
    ctx = second.run("#%submit_job(cache=on)")
    assert ran(counter) == []
    assert second.namespace["z"] == 6
    summary = final_display(ctx)
    assert summary.count("(cached)") == 4
    assert "note: load, side, double, total: reused from job reuse run " in summary


def test_an_edit_runs_that_task_and_its_descendants_and_says_why(notebook, tmp_path):
    counter = tmp_path / "runs.txt"
    nb = notebook()
    define(nb, counter)
    nb.run("#%submit_job(cache=on)")
    ran(counter)
    define(nb, counter, double="x * 3  # now triple")
    assert "double: would run because: its code changed" in text(nb.run("#%why(task=double)"))
    ctx = nb.run("#%submit_job(cache=on)")
    assert ran(counter) == ["double", "total"]
    assert nb.namespace["z"] == 9
    summary = final_display(ctx)
    assert "note: load, side: reused from job reuse run " in summary
    assert "note: double: ran because: its code changed" in summary
    assert "note: total: ran because: ancestor double changed" in summary
    why = text(nb.run("#%why()"))
    assert "load: reused from job reuse run " in why
    assert "double: ran because: its code changed" in why
    assert "total: ran because: ancestor double changed" in why
    nb.namespace["base"] = 5
    assert "load: would run because: input base changed" in text(nb.run("#%why()"))


def test_comments_and_layout_do_not_make_a_task_run(notebook, tmp_path):
    counter = tmp_path / "runs.txt"
    nb = notebook()
    define(nb, counter)
    nb.run("#%submit_job(cache=on)")
    ran(counter)
    define(nb, counter, double="(  2 *\n     x)  # the same")
    nb.run("#%submit_job(cache=on)")
    assert ran(counter) == []


def test_clear_cache_of_a_task_runs_it_and_its_descendants_again(notebook, tmp_path):
    counter = tmp_path / "runs.txt"
    nb = notebook()
    define(nb, counter)
    nb.run("#%submit_job(cache=on)")
    ran(counter)
    said = text(nb.run("#%clear_cache(task=double)"))
    assert said == "Removed 2 stored results of job reuse, tasks double, total.\n"
    nb.run("#%submit_job(cache=on)")
    assert ran(counter) == ["double", "total"]
    assert "Removed 4 stored results" in text(nb.run("#%clear_cache()"))
    nb.run("#%submit_job(cache=on)")
    assert ran(counter) == ["double", "load", "side", "total"]


def test_without_cache_on_nothing_is_reused_or_stored(notebook, tmp_path):
    counter = tmp_path / "runs.txt"
    nb = notebook()
    define(nb, counter)
    nb.run("#%submit_job()")
    nb.run("#%submit_job(cache=on)")
    assert ran(counter) == ["double", "double", "load", "load", "side", "side", "total",
                            "total"]
    nb.run("#%submit_job()")
    assert "load: ran because: reuse was off" in text(nb.run("#%why(task=load)"))


def test_a_cache_off_task_always_runs_and_so_do_the_tasks_after_it(notebook, tmp_path):
    counter = tmp_path / "runs.txt"
    nb = notebook()
    define(nb, counter)
    nb.run("#%task(name=load, import=[base], export=[x], cache=off)\n"
           f"open({str(counter)!r}, 'a').write('load\\n')\nx = base + 1")
    nb.run("#%submit_job(cache=on)")
    ran(counter)
    nb.run("#%submit_job(cache=on)")
    assert ran(counter) == ["double", "load", "total"]
    why = text(nb.run("#%why()"))
    assert "load: ran because: it is marked cache=off (never reused)" in why
    assert "double: ran because: ancestor load always runs" in why


def test_draw_job_marks_what_would_run(notebook, tmp_path):
    pytest.importorskip("pydot")
    from pragma_kernel.pragmas.graph import has_dot

    if not has_dot():
        pytest.skip("Graphviz's dot is not installed")
    counter = tmp_path / "runs.txt"
    nb = notebook()
    define(nb, counter)
    nb.run("#%submit_job(cache=on)")
    define(nb, counter, double="x * 3")
    drawn = nb.run("#%draw_job(cache=on)").of_type("display_data")[-1]["data"]["text/plain"]
    lines = {line.split()[0]: line for line in drawn.splitlines()[1:]}
    assert "[reused]" in lines["load"] and "[reused]" in lines["side"]
    assert "[stale]" in lines["double"] and "[stale]" in lines["total"]


def test_pull_off_values_are_not_kept_and_the_cell_says_so(notebook, tmp_path):
    nb = notebook()
    nb.run("#%task(name=kept_away, export=[n])\nn = 1")
    said = text(nb.run("#%submit_job(cache=on, pull=off)"))
    assert "Not kept for reuse: kept_away (pull=off left its values in the workers)" in said
