"""Validation of a job before it runs: every problem found in one pass."""

from __future__ import annotations

from pragma_kernel.pragmas.model import FlowInfo, Job, SourceLocation, Task
from pragma_kernel.pragmas.validation import check_python_syntax, nearest_exporter, validate


def job_of(*tasks: Task) -> Job:
    job = Job()
    for task in tasks:
        job.define(task)
    return job


def test_valid_job_has_a_topological_order():
    job = job_of(Task("c", dep=["b"]), Task("b", dep=["a"]), Task("a"), Task("d"))
    report = validate(job)
    assert report.ok and not report.warnings
    assert report.order == ["a", "d", "b", "c"]
    assert report.deps == {"c": ("b",), "b": ("a",), "a": (), "d": ()}


def test_cycle_names_the_tasks_of_the_cycle():
    job = job_of(Task("a", dep=["c"]), Task("b", dep=["a"]), Task("c", dep=["b"]),
                 Task("d", dep=["c"]), Task("e"))  # fmt: skip
    report = validate(job)
    assert len(report.errors) == 1
    error = report.errors[0]
    assert "the tasks a, b, c depend on each other in a cycle" in error
    assert "a needs c, c needs b, b needs a" in error
    assert error.startswith("the tasks a, b, c depend")  # d only depends on the cycle
    assert set(report.order) == {"a", "b", "c", "d", "e"}


def test_two_separate_cycles_and_a_self_loop_each_reported():
    job = job_of(Task("a", dep=["b"]), Task("b", dep=["a"]), Task("x", dep=["y"]),
                 Task("y", dep=["x"]), Task("s", dep=["s"]))  # fmt: skip
    errors = validate(job).errors
    assert len(errors) == 3
    assert any("s needs s" in e for e in errors)


def test_unknown_dep_is_a_warning_and_the_edge_is_dropped():
    job = job_of(Task("train"), Task("predict", dep=["train", "kjhasdad"]))
    report = validate(job)
    assert report.ok
    assert report.deps["predict"] == ("train",)
    assert report.warnings == [
        "task 'predict' depends on 'kjhasdad', which is not defined; that dependency is ignored"
    ]


def test_import_from_the_nearest_exporting_ancestor():
    job = job_of(Task("a", exports=["x"]), Task("b", dep=["a"], exports=["x"]),
                 Task("c", dep=["b"], imports=["x"]), Task("d", dep=["a", "c"], imports=["x"]))
    report = validate(job, {})
    assert report.ok
    assert report.import_sources["c"] == {"x": "b"}
    assert report.import_sources["d"] == {"x": "a"}


def test_import_from_the_local_namespace_when_no_ancestor_exports():
    job = job_of(Task("a", imports=["df"]))
    report = validate(job, {"df": 1})
    assert report.ok and report.import_sources["a"] == {"df": None}


def test_import_from_a_task_that_is_not_an_ancestor_is_refused():
    job = job_of(Task("a", exports=["x"]), Task("b", imports=["x"]))
    report = validate(job, {})
    assert report.errors == [
        ("task 'b' imports 'x', but no task it depends on (directly or not) exports 'x' and "
        "the notebook has no variable 'x'")
    ]


def test_import_check_skipped_without_namespace():
    assert validate(job_of(Task("b", imports=["x"]))).ok


def test_runs_must_be_a_positive_integer():
    report = validate(job_of(Task("a", runs=0), Task("b", runs=2), Task("c", runs="3")))
    assert report.errors == [
        "task 'a': runs must be a positive whole number, not 0",
        "task 'c': runs must be a positive whole number, not '3'",
    ]


def test_syntax_error_in_a_python_body_with_its_cell_line():
    bad = Task("bad", code="x = 1\nif x\n    pass\n", source=SourceLocation("Cell In[4]", 2))
    bash = Task("sh", code="if [ x ]; then", language="Linux_Bash")
    report = validate(job_of(bad, bash))
    assert len(report.errors) == 1
    assert report.errors[0].startswith("task 'bad': SyntaxError: expected ':' (Cell In[4], line 3")


def test_syntax_error_in_import_code():
    job = Job(import_code={"Python": "import (\n"})
    assert validate(job).errors[0].startswith("the #%import code: SyntaxError")


def test_all_problems_in_one_pass():
    job = job_of(Task("a", dep=["b"], runs=0), Task("b", dep=["a"]), Task("c", imports=["q"]),
                 Task("d", code="def (", dep=["zz"]))  # fmt: skip
    report = validate(job, {})
    assert len(report.errors) == 4 and len(report.warnings) == 1


def test_flow_target_must_exist():
    job = job_of(Task("b", flow=FlowInfo(action="if", if_target="yes", else_target="no",
                                         continuation_target="yes")),
                 Task("yes"))  # fmt: skip
    assert validate(job).errors == ["task 'b': its else task 'no' is not defined"]


def test_unfinished_controls_are_refused():
    job = job_of(Task("split0", flow=FlowInfo(block="start")),
                 Task("b", flow=FlowInfo(action="if", if_target="b")),
                 Task("start0", flow=FlowInfo(block="start")),
                 Task("loop0", dep=["start0"], flow=FlowInfo(block="end", action="loop",
                                                             target="start0")))  # fmt: skip
    assert validate(job).errors == [
        ("task 'split0' opens a replicate or loop control that is not finished (#%split needs "
        "#%runs, #%process and #%merge; #%start needs #%condition and #%loop)"),
        "the branch control of task 'b' is not finished: #%else, #%continuation missing",
    ]


def test_check_python_syntax_locates_line_and_column():
    error = check_python_syntax("x = 1\ny = (1 +\n", SourceLocation("Cell In[2]", 3))
    assert error.location.lineno == 4 and error.location.line == "y = (1 +"
    assert error.column == 4 and error.label == "Cell In[2]"
    assert check_python_syntax("x = 1", SourceLocation()) is None


def test_nearest_exporter_survives_cycles():
    job = job_of(Task("a", dep=["b"]), Task("b", dep=["a"]))
    assert nearest_exporter(job, {"a": ("b",), "b": ("a",)}, "a", "x") is None


def test_a_thousand_tasks_validate():
    job = job_of(*(Task(f"t{i}", dep=[f"t{i - 1}"] if i else [], code="x = 1",
                        exports=["x"], imports=["x"] if i else []) for i in range(1000)))
    report = validate(job, {})
    assert report.ok and report.order[0] == "t0" and report.order[-1] == "t999"
