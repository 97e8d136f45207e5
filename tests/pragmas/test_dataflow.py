"""The data-flow analysis: what a body reads and defines, flow=auto, the checker, and how
close inference comes to what people write (Activeeon's notebooks, the demo, a corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pragma_kernel.pragmas.code_facts import code_facts

from tests.pragmas.dataflow_corpus import NOTEBOOKS
from tests.pragmas.dataflow_twins import Comparison, compare, notebook_cells
from tests.pragmas.engine_helpers import Notebook, text
from tests.pragmas.proactive_standin import engine_on_the_standin

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def notebook():
    """``notebook(**namespace)``: a new Notebook, its engine (and the workers its first pragma
    cell starts) shut down after the test."""
    made: list[Notebook] = []

    def new(**namespace) -> Notebook:
        made.append(Notebook(**namespace))
        return made[-1]

    yield new
    for each in made:
        each.engine.shutdown()
ACTIVEEON = sorted((ROOT / "tests/e2e/notebooks/activeeon").glob("*.ipynb"))


# --------------------------------------------------------------------------- code facts


def test_a_name_read_before_it_is_assigned_is_free_and_one_assigned_first_is_not():
    facts = code_facts("total = start + 1\nstart = 0\nprint(total, start)")
    assert set(facts.reads) == {"start", "print"}
    assert facts.reads["start"] == 1
    assert set(facts.defines()) == {"total", "start"}


def test_item_and_attribute_writes_and_effect_calls_write_the_object():
    facts = code_facts("df['c'] = df['a'] * 2\nmodel.fit(X, y)\nconfig.seed = 3\n"
                       "score = other.predict(X)")
    assert {"df", "model", "config"} <= set(facts.defines())
    assert "other" not in facts.defines()  # its result is used: a query, not an effect
    assert {"df", "model", "config", "other", "X", "y"} <= set(facts.reads)


def test_modules_are_not_data_even_when_called_for_an_effect():
    facts = code_facts("import random\nrandom.seed(1)\nfrom math import floor")
    assert facts.defines() == {}
    assert set(facts.modules) == {"random", "floor"}


def test_functions_read_globals_when_called_so_a_later_assignment_provides_them():
    facts = code_facts("def scale(x):\n    return x * factor + offset\nfactor = 2\n"
                       "values = [scale(v) for v in data]")
    assert set(facts.reads) == {"offset", "data"}  # factor is bound before any call
    assert facts.reads["offset"] == 2


def test_comprehension_targets_stay_inside_the_comprehension():
    facts = code_facts("pairs = [(i, j) for i in rows for j in range(i) if j != skip]")
    assert set(facts.reads) == {"rows", "range", "skip"}
    assert set(facts.defines()) == {"pairs"}


def test_proactive_variables_with_constant_keys_are_read_and_put():
    facts = code_facts("x = variables.get('IN')\nvariables.put('OUT', x)\nvariables['B'] = 1")
    assert set(facts.variables_read) == {"IN"}
    assert set(facts.variables_put) == {"OUT", "B"}


@pytest.mark.parametrize("code, what, line", [
    ("x = 1\nexec('y = 2')", "exec()", 2),
    ("globals()['z'] = 1", "globals()", 1),
    ("a = 1\ndel a", "del a", 2),
    ("from os.path import *", "from os.path import *", 1),
    ("key = 'k'\nvariables.get(key)", "a variable read with a key built at run time", 2),
])  # fmt: skip
def test_what_cannot_be_seen_through_is_a_limit_with_its_line(code, what, line):
    assert [(limit.what, limit.line) for limit in code_facts(code).limits] == [(what, line)]


# --------------------------------------------------------------------------- flow=auto


def test_bare_tasks_get_import_dep_and_export_from_their_code(notebook):
    nb = notebook()
    nb.run_python("seed = 3")
    nb.run("#%job(flow=auto)")
    defined = text(nb.run("#%task(name=prep)\ndata = [seed, seed + 1]\nscratch = 0"))
    assert "flow=auto: import=[seed]" in defined
    train = text(nb.run("#%task(name=train)\nmodel = sorted(data)\nmodel.append(seed)"))
    assert "import=[data, seed], dep=[prep] (inferred)" in train
    nb.run("#%task(name=report)\nprint(model)")
    flow = nb.engine.data_flow(nb.namespace)
    assert flow.tasks["prep"].exports == ["data"]  # scratch is read by no one
    assert flow.tasks["train"].exports == ["model"]
    assert flow.tasks["report"].dep == ["train"]
    assert flow.edge_variables[("prep", "train")] == ["data"]
    assert flow.inferred_edges() == {("prep", "train"), ("train", "report")}


def test_an_ancestor_is_preferred_to_a_later_defined_task_and_mutation_makes_a_provider(notebook):
    nb = notebook()
    nb.run("#%task(name=a, flow=auto)\nrows = [1]")
    nb.run("#%task(name=b, flow=auto)\nrows = [2]")
    nb.run("#%task(name=c, dep=[a], flow=auto)\nrows.append(3)")
    nb.run("#%task(name=d, flow=auto)\nprint(rows)")
    flow = nb.engine.data_flow(nb.namespace)
    assert flow.tasks["c"].dep == ["a"] and flow.tasks["c"].inferred_dep == []
    assert flow.tasks["d"].dep == ["c"]  # the latest task writing rows (c mutates it)
    assert flow.tasks["b"].exports == []


def test_a_name_an_ordinary_cell_reads_after_the_task_is_exported(notebook):
    nb = notebook()
    nb.run("#%task(name=fit, flow=auto)\nweights = [1, 2]\nloss = 0.5")
    assert nb.engine.data_flow(nb.namespace).tasks["fit"].exports == []
    with pytest.raises(NameError):  # the job has not run: the cell fails, but it was seen
        nb.run_python("print(loss)")
    assert nb.engine.data_flow(nb.namespace).tasks["fit"].exports == ["loss"]


def test_a_variable_put_by_an_earlier_task_makes_an_inferred_dependency(notebook):
    nb = notebook()
    nb.run("#%job(flow=auto)")
    nb.run("#%task(name=put)\nvariables.put('path', '/tmp/x')")
    nb.run("#%task(name=get)\nprint(variables.get('path'), variables.get('PA_JOB_ID'))")
    flow = nb.engine.data_flow(nb.namespace)
    assert flow.tasks["get"].dep == ["put"]
    assert flow.edge_variables[("put", "get")] == ["variables['path']"]


def test_a_job_of_bare_tasks_runs_with_the_inferred_flow(notebook):
    nb = notebook()
    nb.run_python("base = 10")
    for cell in ("#%job(flow=auto)", "#%task(name=one)\nvalues = [base, base + 1]",
                 "#%task(name=two)\ntotal = sum(values)"):
        nb.run(cell)
    with pytest.raises(NameError):  # seen by the kernel: what it reads is exported
        nb.run_python("print(total)")
    submitted = text(nb.run("#%submit_job()"))
    assert "Pulled into the notebook: values, total" in submitted
    assert nb.namespace["total"] == 21


# --------------------------------------------------------------------------- the checker


def test_written_lists_are_checked_at_definition_with_the_line(notebook):
    nb = notebook()
    out = text(nb.run("#%task(name=t, import=[a, unused], export=[b, never])\n"
                      "b = a + 1\nprint(b, missing)"), "stderr")
    assert ("Cell In[1], line 3: task 't' reads 'missing', which no import, ancestor or "
            "builtin provides; add import=[missing]: on a worker it would be a NameError") in out
    assert "Cell In[1], line 1: task 't' imports 'unused' but never reads it" in out
    assert "task 't' exports 'never' but never assigns it" in out
    assert "'b'" not in out


def test_a_flow_auto_task_says_what_it_cannot_infer_with_the_line(notebook):
    nb = notebook()
    out = text(nb.run("#%task(name=t, flow=auto)\nx = 1\nexec('y = x')\nprint(y)"), "stderr")
    assert "Cell In[1], line 3: task 't': cannot infer the data flow through exec()" in out
    assert "Cell In[1], line 4: task 't' reads 'y'" in out


def test_at_submission_unread_exports_and_dataless_dependencies_are_noted(notebook):
    nb = notebook()
    nb.run("#%task(name=a, export=[x])\nx = 1")
    nb.run("#%task(name=b, dep=[a])\nprint('after a')")
    first = text(nb.run("#%submit_job()"), "stdout")
    assert "exports 'x'" not in first  # nothing after the tasks seen yet: no opinion
    nb.run_python("y = 2")
    out = text(nb.run("#%submit_job()"), "stdout")
    assert ("Note: Cell In[1], line 1: task 'a' exports 'x', which no later task imports and no "
            "cell run after it reads") in out
    assert "Note: Cell In[2], line 1: task 'b' depends on 'a' but takes no variable" in first
    assert "Note: Cell In[2], line 1: task 'b' depends on 'a' but takes no variable from it" in out


# --------------------------------------------------------------------------- the corpus


def test_inference_reproduces_95_percent_of_written_flow_and_the_checker_the_rest(notebook):
    total = Comparison()
    for path in ACTIVEEON:  # written for ProActive: some tasks are Jython
        written, twin = notebook(), notebook()
        written.engine, twin.engine = engine_on_the_standin(), engine_on_the_standin()
        compare(notebook_cells(path), written, twin, total)
    compare(notebook_cells(ROOT / "notebooks/demo.ipynb"), notebook(), notebook(), total)
    for cells in NOTEBOOKS.values():
        compare(cells, notebook(), notebook(), total)
    ratio = total.matched / total.entries
    print(f"inferred {total.matched} of {total.entries} written entries ({ratio:.0%}); "
          f"misses: {total.misses}")
    assert total.entries >= 100
    assert ratio >= 0.95
    assert total.unreported() == []


# --------------------------------------------------------------------------- drawing, completion


def test_draw_job_shows_inferred_edges_dashed_and_labelled_with_their_variables(notebook):
    nb = notebook()
    nb.run("#%task(name=measure, flow=auto)\nlengths = [1, 2]")
    nb.run("#%task(name=average, flow=auto)\nmean_length = sum(lengths) / len(lengths)")
    data = nb.run("#%draw_job()").of_type("display_data")[0]["data"]
    assert "average  <- measure (inferred)" in data["text/plain"]
    assert "inferred: lengths" in data["image/svg+xml"]
    assert "stroke-dasharray" in data["image/svg+xml"]


def test_completion_inside_import_and_export_offers_the_inferred_names_first(notebook):
    nb = notebook(zeta=1, data=2)
    cell = "#%task(name=t, import=[], export=[])\nmodel = fit(data)\nscore = len(model)"
    imports = nb.engine.complete(cell, cell.index("import=[") + 8, nb.namespace)["matches"]
    assert imports[:2] == ["fit", "data"] and "zeta" in imports[2:]
    exports = nb.engine.complete(cell, cell.index("export=[") + 8, nb.namespace)["matches"]
    assert exports == ["model", "score"]
