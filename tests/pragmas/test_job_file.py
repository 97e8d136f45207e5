"""A job as a catalog file: every declared field comes back as written, the code stays
readable (one line of code, one line of the file), and a hand-edited file that is wrong names
the file and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from pragma_kernel.pragmas.job_file import (
    CatalogFileError,
    VersionHeader,
    parse_job_file,
    render_file,
    render_job,
)
from pragma_kernel.pragmas.model import FlowInfo, Job, OutputLimit, Script, Task

FILE = Path("/catalog/training/v2.toml")
HEADER = VersionHeader("training", 2, "more epochs", "2026-12-01T10:00:00+00:00", "0.1.0")


def full_job() -> Job:
    job = Job(name="training", variables={"EPOCHS": "10", "data file": 'a "b"'},
              generic_info={"owner": "me"}, data_flow="auto", output_limit=OutputLimit(500))
    job.import_code["Python"] = "import math\n"
    job.job_fork_env = Script("env = 1", "Groovy")
    job.runtime_env = {"type": "docker", "image": "python:3.11", "nvidia_gpu": True,
                       "mount_host_path": None, "mount_container_path": None,
                       "rootless": False, "isolation": False, "no_home": False,
                       "host_network": True, "debug": False, "verbose": False, "force": False}
    job.tasks["prep"] = Task(name="prep", code="df = [3, 1, 2]\n\nprint('''quoted''')",
                             exports=["df"], variables={"K": "v"})
    job.tasks["train"] = Task(
        name="train", code="model = sorted(df)\t# tab\n\x0c", dep=["prep"], imports=["df"],
        runs=3, retries=2, timeout=1.5, precious_result=True, output_limit=OutputLimit(None),
        data_flow="written", pre_script=Script("echo hi", "Linux_Bash"),
        post_script=Script("print('done')", path="post.py"),
        flow=FlowInfo(block="end", action="loop", target="prep", max_rounds=7,
                      script=Script("loop = False")))
    job.tasks["bash"] = Task(name="bash", code="echo $x\\n", language="Linux_Bash")
    return job


def test_every_declared_field_comes_back():
    job = full_job()
    read = parse_job_file(FILE, render_file(HEADER, job))
    assert read.header == HEADER
    assert render_job(read.job) == render_job(job)
    for name, task in job.tasks.items():
        back = read.job.tasks[name]
        for field in ("code", "language", "dep", "imports", "exports", "runs", "retries",
                      "timeout", "precious_result", "output_limit", "data_flow", "variables"):
            assert getattr(back, field) == getattr(task, field), (name, field)
    assert read.job.tasks["train"].flow.max_rounds == 7
    assert read.job.tasks["train"].flow.script.code == "loop = False"
    assert read.job.tasks["train"].post_script.path == "post.py"
    assert read.job.variables == job.variables and read.job.runtime_env == job.runtime_env
    assert read.job.output_limit == OutputLimit(500) and read.job.data_flow == "auto"


@pytest.mark.parametrize("code", ["", "x = 1", "x = 1\n", "x = 1\n\n", "'''", "a\\nb", "\r\n"])
def test_code_comes_back_exactly_with_or_without_a_final_newline(code):
    job = Job(tasks={"t": Task(name="t", code=code)})
    assert parse_job_file(FILE, render_file(HEADER, job)).job.tasks["t"].code == code


def test_code_is_written_line_for_line_and_located_at_its_lines():
    job = Job(tasks={"t": Task(name="t", code="a = 1\nb = [\n  2]")})
    text = render_file(HEADER, job)
    assert "code = '''\na = 1\nb = [\n  2]\n'''" in text
    read = parse_job_file(FILE, text)
    source = read.job.tasks["t"].source
    assert source.label == str(FILE)
    assert text.splitlines()[source.first_line - 1] == "a = 1"


def hand_edited(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(("old", "new", "said"), [
    ("runs = 3", "rnus = 3", "unknown key 'rnus' in task 'train' (did you mean 'runs'?)"),
    ("runs = 3", "runs = 'three'", "'runs' in task 'train' must be a whole number, not 'three'"),
    ("runs = 3", "runs = 0", "'runs' in task 'train' must be from 1 to 10000, not 0"),
    ('dep = ["prep"]', 'dep = ["train"]', "task 'train' depends on itself"),
    ("format = 1", "format = 9", "it has format 9"),
    ('name = "prep"', 'name = "train"', "two tasks are named 'train'"),
    ("[job]", "[job", "it is not valid TOML"),
    ('flow = "auto"', 'flow = "sometimes"', "'flow' in [job] must be"),
])
def test_a_wrong_hand_edit_names_the_file_and_the_problem(old, new, said):
    text = hand_edited(render_file(HEADER, full_job()), old, new)
    with pytest.raises(CatalogFileError) as caught:
        parse_job_file(FILE, text)
    assert said in caught.value.evalue and str(FILE) in caught.value.evalue


def test_a_hand_written_minimal_file_is_read():
    text = 'format = 1\nname = "tiny"\nversion = 1\n\n[[tasks]]\nname = "t"\ncode = "x = 1"\n'
    read = parse_job_file(FILE, text)
    assert read.job.tasks["t"].code == "x = 1" and read.job.tasks["t"].dep == []
