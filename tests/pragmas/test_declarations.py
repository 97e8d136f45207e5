"""The declarations: every Activeeon pragma is declared and parses with Activeeon's syntax
(ANCHORS §1.3, §1.4, §1.10, §1.12), and every declaration is complete enough to derive help,
completion and the README reference from it."""

from __future__ import annotations

import re

import pytest
from pragma_kernel.pragmas.declaration import KINDS, declarations
from pragma_kernel.pragmas.errors import LocatedError
from pragma_kernel.pragmas.parser import parse_pragma, split_cell
from pragma_kernel.pragmas.reference import (
    help_index,
    pragma_help,
    reference_markdown,
    unique_specs,
)

REGISTRY = declarations()

#: Every pragma of Activeeon's kernel: ANCHORS §1.4's table and §1.10's help list, plus the
#: legacy get_result of the example notebooks (§1.12).
ACTIVEEON_PRAGMAS = [
    "help", "connect", "configure", "import", "task", "delete_task", "pre_script",
    "post_script", "selection_script", "job_selection_script", "fork_env", "job_fork_env",
    "runtime_env", "split", "runs", "process", "merge", "start", "condition", "loop", "branch",
    "if", "else", "continuation", "job", "draw_job", "write_dot", "import_dot", "export_xml",
    "submit_job", "get_job_result", "get_task_result", "print_job_output", "print_task_output",
    "list_submitted_jobs", "list_nodesources", "list_hosts", "list_tokens", "list_resources",
    "show_resource_manager", "show_scheduling_portal", "show_workflow_execution", "get_result",
]  # fmt: skip

#: Lines that Activeeon's kernel accepts (its README, usage strings and example notebooks).
ACTIVEEON_LINES = [
    "#%help()",
    "#%help(pragma=task)",
    "#%help(pragma=get_result)",
    "#%connect(login=LOGIN,password=PASSWORD)",
    "#%connect(host=try.activeeon.com, port=8443, login=LOGIN, password=PASSWORD)",
    "#%connect(url=https://try.activeeon.com:8443, login=LOGIN)",
    "#%connect(path=./proactive_config.ini)",
    "#%configure(task=multiblock)",
    "#%configure(task=block)",
    "#%import()",
    "#%import(language=Python)",
    "#%task(name=train, dep=[prep], import=[df], export=[model])",
    "#%task(   name   =  location  , dep = [hi]  )",
    "#%  task(name=hi)",
    "#%  task(name=t2,dep=[t1,dw],language=Jython)",
    "#%task(name=T2,dep=[T1],runs=3)",
    "#%task(name=t1,generic_info=[(key1,value1),(key2,value2)],language=Python)",
    "#%task(name=x, variables=[(a,b)], path=./impl.py, precious_result=true)",
    "#%task(name=my-task, dep=[a-b])",
    "#%task(name=predict,dep=[train,split,kjhasdad])",
    "#%delete_task(name=train)",
    "#%pre_script(name=t1,language=Linux_Bash)",
    "#%post_script(name=location,language=Python)",
    "#%post_script(name=t1, language=Python, path=./post.py)",
    "#%selection_script(name=hi)",
    "#%selection_script(name=hi, path=./selection.py)",
    "#%job_selection_script(language=Groovy, path=./selection.groovy, force=on)",
    "#%fork_env(name=hi,path=./fork_env.py)",
    "#%job_fork_env(language=Python, force=off)",
    (
        "#%runtime_env(type=docker, image=docker://activeeon/dlm3, nvidia_gpu=false, "
        "mount_host_path=/data, mount_container_path=/data, rootless=false, isolation=false, "
        "no_home=false, host_network=true, debug=false, verbose=false, force=on)"
    ),
    "#%split(name=split1)",
    "#%split(name=split1, dep=[a], generic_info=[(k,v)], language=Python, path=./split.py)",
    "#%runs()",
    "#%process(name=process1)",
    "#%process()",
    "#%merge(name=merge1)",
    "#%start(name=start1)",
    "#%condition()",
    "#%loop(name=loop1)",
    "#%branch(name=branch1)",
    "#%if(name=if1)",
    "#%else(name=else1)",
    "#%continuation(name=continuation1)",
    "#%job(name=HelloWorldKernel)",
    "#%job(name=J, generic_info=[(a,b)], variables=[(c,d)])",
    "#%draw_job()",
    "#%draw_job(name=pipeline, inline=off, save=on)",
    "#%write_dot(name=pipeline)",
    "#%import_dot(path=pipeline.dot)",
    "#%export_xml()",
    "#%export_xml(name=workflow)",
    "#%submit_job()",
    "#%submit_job(name=J)",
    "#%get_job_result()",
    "#%get_job_result(job_id=12)",
    "#%get_job_result(job_name=J)",
    "#%get_task_result(task_name=t1)",
    "#%get_task_result(job_id=12, task_name=t1)",
    "#%print_job_output()",
    "#%print_job_output(job_name=J)",
    "#%print_task_output(task_name=t1)",
    "#%list_submitted_jobs()",
    "#%list_nodesources()",
    "#%list_hosts()",
    "#%list_tokens()",
    "#%list_resources()",
    "#%show_resource_manager()",
    "#%show_scheduling_portal()",
    "#%show_workflow_execution()",
    "#%get_result(id=1193)",
]

#: Lines Activeeon's kernel refuses that we deliberately accept (ANCHORS §1.3, §2.3-5).
NOW_ACCEPTED = {
    "#%task(name='quoted')": ("name", "quoted"),
    '#%task(name="quoted")': ("name", "quoted"),
    "#%task(name=x, variables=[(a,1),(b,2)])": ("variables", {"a": "1", "b": "2"}),
    "#%job(name=J, variables=[(a,1)])": ("variables", {"a": "1"}),
    "#%task(name=x, variables=[(a,'hello world')])": ("variables", {"a": "hello world"}),
    "#%task(name=x, path='/some dir/impl.py')": ("path", "/some dir/impl.py"),
    "#%task(name=x) # trailing comment": ("name", "x"),
    "#%task(name=x, dep=[])": ("dep", []),
    "#%delete_task(name=my-task)": ("name", "my-task"),
    "#%task(name=x, precious_result=on)": ("precious_result", True),
}

#: Lines Activeeon's kernel accepted silently that we refuse, with the reason.
NOW_REFUSED = {
    "#%task(name=x, unknownparam=3)": "unknown parameter 'unknownparam'",
    "#%task": "missing required parameter 'name'",
    "#%task(name=T2,dep=[T1],runs=3+1)": "whole number",
}


@pytest.mark.parametrize("name", ACTIVEEON_PRAGMAS)
def test_every_activeeon_pragma_is_declared(name):
    assert name in REGISTRY, f"#%{name} is not declared"


@pytest.mark.parametrize("line", ACTIVEEON_LINES)
def test_activeeon_lines_parse(line):
    call = parse_pragma(line, 1, REGISTRY)
    assert line.split("(")[0].lstrip("#% ") in (call.spec.name, *call.spec.aliases)


@pytest.mark.parametrize(("line", "expected"), NOW_ACCEPTED.items())
def test_lines_activeeon_refused_are_accepted(line, expected):
    param, value = expected
    assert parse_pragma(line, 1, REGISTRY).args[param] == value


@pytest.mark.parametrize(("line", "reason"), NOW_REFUSED.items())
def test_lines_activeeon_ignored_are_refused_with_a_reason(line, reason):
    with pytest.raises(LocatedError, match=reason.replace("(", r"\(")):
        parse_pragma(line, 1, REGISTRY)


@pytest.mark.parametrize("spec", unique_specs(REGISTRY), ids=lambda s: s.name)
def test_declaration_is_complete(spec):
    assert spec.summary and "\n" not in spec.summary
    assert spec.family
    assert spec.handler is not None
    assert spec.body in ("none", "optional", "required")
    assert any(cell.startswith(f"#%{spec.name}") for cell in example_cells(spec))
    for param in spec.params:
        assert param.kind in KINDS
        assert param.help, f"#%{spec.name}: parameter {param.name} has no help"
        if param.kind == "choice":
            assert param.choices


@pytest.mark.parametrize("spec", unique_specs(REGISTRY), ids=lambda s: s.name)
def test_example_parses(spec):
    """One cell of an example shows its pragma; the others, what it needs or what comes next."""
    cells = example_cells(spec)
    own = next(cell for cell in cells if cell.startswith(f"#%{spec.name}"))
    for cell in cells:
        for lineno, line in split_cell(cell).pragma_lines:
            parse_pragma(line, lineno, REGISTRY)
    parts = split_cell(own)
    for lineno, line in parts.pragma_lines:
        assert parse_pragma(line, lineno, REGISTRY).spec is spec
    if spec.body == "none":
        assert not parts.body.strip()


def example_cells(spec) -> list[str]:
    """The cells of an example (as the README test splits them: a blank line, then #%)."""
    return re.split(r"\n\n(?=#%)", spec.example)


def test_help_index_has_one_line_per_pragma():
    text = help_index(REGISTRY)
    for spec in unique_specs(REGISTRY):
        lines = [line for line in text.splitlines() if line.startswith(f"#%{spec.name}() ")]
        assert len(lines) == 1 and spec.summary in lines[0]
    assert "#%help(pragma=NAME)" in text


def test_pragma_help_has_usage_parameters_example_and_backends():
    text = pragma_help(REGISTRY["task"])
    assert "#%task(name=NAME, [dep=[A, B, ...]]" in text
    assert "runs (int: a whole number from 1 to 10000, default 1)" in text
    assert "Backends: every backend" in text
    assert "Example:\n   #%task(name=prep" in text
    assert "proactive only" in pragma_help(REGISTRY["selection_script"])


def test_reference_covers_every_pragma():
    markdown = reference_markdown(REGISTRY)
    for spec in unique_specs(REGISTRY):
        assert f"#### `#%{spec.name}`" in markdown
    assert "| `name` | name | **required** |" in markdown


def test_reference_is_printed_by_the_module():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "pragma_kernel.pragmas.reference"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out.startswith("## Pragma reference")
