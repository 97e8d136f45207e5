"""The job catalog through a real kernel: a job is saved, listed, diffed, loaded and run again
with other values of its variables, on the local backend and on a Dask cluster; the headless
runner's ``-p``. Bad input is one clear error that leaves the job and the catalog as they were:
an unknown job or version, a hand-edited file, a name clash, an undeclared variable, a load that
would drop unsaved work."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel

from tests.conftest import KERNEL_NAME, stop_kernel
from tests.e2e.run_helpers import failing, ok, plain, streams

COUNT = ("#%task(name=count, export=[total])\n"
         "total = sum(range(int(variables['N'])))\nprint('summing', variables['N'])")  # fmt: skip
DOUBLE = "#%task(name=double, dep=[count], import=[total], export=[twice])\ntwice = 2 * total"


@pytest.fixture
def notebook_kernel():
    """A kernel whose working directory, the notebook's folder, is a fresh one."""
    folder = Path(tempfile.mkdtemp(prefix="catalog-notebook-"))
    km, kc = start_new_kernel(kernel_name=KERNEL_NAME, cwd=str(folder))
    yield kc, folder
    stop_kernel(km, kc)


def value(kc, expression: str) -> str:
    return streams(ok(kc, f"print(repr({expression}))")).strip()


def define_template(kc) -> None:
    ok(kc, "#%job(name=counting, variables=[(N, 3)])")
    ok(kc, COUNT)


def test_a_template_is_saved_listed_diffed_loaded_and_rerun_with_new_values(notebook_kernel):
    kc, folder = notebook_kernel
    define_template(kc)
    saved = streams(ok(kc, "#%save_job(message='count to N')"))
    first = folder / ".pragma-catalog" / "counting" / "v1.toml"
    assert f"as version 1 (1 task: count) in {first}" in saved
    assert "total = sum(range(int(variables['N'])))\n" in first.read_text()
    ok(kc, DOUBLE)
    ok(kc, "#%save_job(message='and double it')")
    assert "unchanged since version 2: nothing saved" in streams(ok(kc, "#%save_job(message='x')"))
    listed = plain(ok(kc, "#%list_saved_jobs()"))[-1]
    assert "counting  2" in listed and "and double it" in listed
    versions = plain(ok(kc, "#%list_saved_jobs(name=counting)"))[-1]
    assert "1 task: count" in versions and "2 tasks: count, double" in versions
    diff = streams(ok(kc, "#%diff_job(name=counting)"))
    assert diff.startswith("--- counting v1 (count to N)\n+++ counting v2 (and double it)\n")
    assert "+twice = 2 * total\n" in diff

    ran = ok(kc, "#%submit_job(variables=[(N, 5)])", timeout=120)
    assert "Job variables of this run: N=5 (default 3)." in streams(ran)
    assert value(kc, "(total, twice)") == "(10, 20)"
    ok(kc, "#%submit_job()", timeout=120)  # the defaults again: the override was for one run
    assert value(kc, "(total, twice)") == "(3, 6)"

    loaded = streams(ok(kc, "#%load_job(name=counting, version=1)"))
    assert "Loaded job 'counting' version 1 ('count to N'" in loaded
    assert "It replaces job 'counting' (2 tasks: count, double), saved as 'counting' v2." in loaded
    ok(kc, "del twice")
    ok(kc, "#%submit_job(variables=[(N, 4)])", timeout=120)
    assert value(kc, "total") == "6" and value(kc, "'twice' in dir()") == "False"
    assert "No difference" in streams(ok(kc, "#%diff_job()"))
    against = streams(ok(kc, "#%diff_job(name=counting, new=current)"))  # from v1, loaded
    assert against.startswith("No difference between counting v1 (count to N) and the job")


def test_loading_never_drops_unsaved_work(notebook_kernel):
    kc, _ = notebook_kernel
    define_template(kc)
    ok(kc, "#%save_job(message='v1')")
    ok(kc, DOUBLE)
    ename, traceback = failing(kc, "#%load_job(name=counting)")
    assert ename == "UnsavedJobError"
    assert ("would replace job 'counting' (2 tasks: count, double), changed since 'counting' v1"
            in traceback and "replace=on" in traceback)
    assert "+twice = 2 * total" in streams(ok(kc, "#%diff_job()"))  # the job is still there
    dropped = streams(ok(kc, "#%load_job(name=counting, replace=on)"))
    assert "(dropped: replace=on)" in dropped
    assert "No difference" in streams(ok(kc, "#%diff_job()"))
    started = streams(ok(kc, "#%new_job(name=cleaning)"))  # the job is saved: told, not refused
    assert started == ("New job 'cleaning', empty. It replaces job 'counting' (1 task: count), "
                       "saved as 'counting' v1.\n")
    ok(kc, "#%task(name=clean)\nprint('cleaning')")
    assert failing(kc, "#%new_job()")[0] == "UnsavedJobError"


def test_a_hand_edited_file_is_refused_with_its_name_and_nothing_changes(notebook_kernel):
    kc, folder = notebook_kernel
    define_template(kc)
    ok(kc, "#%save_job(message='v1')")
    path = folder / ".pragma-catalog" / "counting" / "v1.toml"
    original = path.read_text()
    path.write_text(original.replace('name = "count"', 'name = "count"\nrnus = 2'))
    ok(kc, DOUBLE)
    ok(kc, "#%save_job(name=other, message='the job being written')")
    ename, traceback = failing(kc, "#%load_job(name=counting)")
    assert ename == "CatalogFileError"
    assert f"the catalog file {path} cannot be loaded: unknown key 'rnus' in task 'count' " \
           "(did you mean 'runs'?)" in traceback
    # broken code is found at its line in the file, before anything is replaced
    lines = original.splitlines()
    code_line = lines.index("total = sum(range(int(variables['N'])))") + 1
    path.write_text(original.replace("total = sum(", "total = sum(("))
    ename, traceback = failing(kc, "#%load_job(name=counting)")
    assert ename == "TaskSyntaxError" and f"{path}, line {code_line}" in traceback
    assert "2 tasks: count, double" in plain(ok(kc, "#%list_saved_jobs(name=other)"))[-1]
    assert "No difference" in streams(ok(kc, "#%diff_job(name=other, old=1, new=current)"))
    assert path.read_text() != original  # nothing rewrote the user's file


def test_a_loaded_tasks_traceback_points_at_the_catalog_file(notebook_kernel):
    kc, folder = notebook_kernel
    ok(kc, "#%task(name=broken)\nx = 1\nraise ValueError('from the catalog')")
    ok(kc, "#%save_job(name=fails, message='raises')")
    ok(kc, "#%load_job(name=fails)")
    ename, traceback = failing(kc, "#%submit_job()", timeout=120)
    path = folder / ".pragma-catalog" / "fails" / "v1.toml"
    line = path.read_text().splitlines().index("raise ValueError('from the catalog')") + 1
    assert ename == "JobFailedError" and f'{path}", line {line}' in traceback


def test_unknown_jobs_versions_and_variables_are_one_clear_error(notebook_kernel):
    kc, folder = notebook_kernel
    define_template(kc)
    ename, traceback = failing(kc, "#%submit_job(variables=[(M, 5)])")
    assert ename == "PragmaUsageError"
    assert ("job counting declares no variable 'M' (its variables: N; #%job(variables=...) "
            "declares them).") in traceback
    assert "No job submitted yet" in streams(ok(kc, "#%list_submitted_jobs()"))
    ok(kc, "#%save_job(message='v1')")
    assert failing(kc, "#%load_job(name=countnig)")[1].endswith(
        f"NoSuchSavedJobError: there is no job 'countnig' in the folder {folder}/.pragma-catalog."
        " Did you mean 'counting'?")
    assert "no version 3" in failing(kc, "#%load_job(name=counting, version=3)")[1]
    assert "no version 3" in failing(kc, "#%delete_saved_job(name=counting, version=3)")[1]


def test_a_name_clash_is_refused_unless_forced(notebook_kernel):
    kc, folder = notebook_kernel
    define_template(kc)
    ok(kc, "#%save_job(message='mine')")
    ok(kc, "#%load_job(name=counting)")
    ok(kc, "#%delete_task(name=count)")
    ok(kc, "#%task(name=other)\nprint('another job')")
    ok(kc, "#%save_job(name=elsewhere, message='another job')")
    ename, traceback = failing(kc, "#%save_job(name=counting, message='same name')")
    assert ename == "NameClashError"
    assert "the catalog already has a job 'counting' (1 version; v1, 'mine'" in traceback
    assert sorted(p.name for p in (folder / ".pragma-catalog" / "counting").iterdir()) == [
        "v1.toml"]
    assert "as version 2" in streams(ok(kc, "#%save_job(name=counting, message='x', force=on)"))
    deleted = streams(ok(kc, "#%delete_saved_job(name=counting, version=all)"))
    assert "Deleted every version of job 'counting': v1, v2." in deleted


def test_a_chosen_catalog_folder(notebook_kernel, tmp_path):
    kc, folder = notebook_kernel
    define_template(kc)
    chosen = tmp_path / "team catalog"
    assert f"Catalog: {chosen} (empty)" in streams(ok(kc, f"#%catalog(path='{chosen}')"))
    ok(kc, "#%save_job(message='shared')")
    assert (chosen / "counting" / "v1.toml").exists()
    assert not (folder / ".pragma-catalog").exists()
    assert "counting  1" in plain(ok(kc, "#%catalog()"))[-1]


def test_a_saved_job_reruns_on_dask_with_new_values(notebook_kernel):
    kc, _ = notebook_kernel
    define_template(kc)
    ok(kc, DOUBLE)
    ok(kc, "#%save_job(message='two steps')")
    ok(kc, "#%connect(backend=dask, workers=2)", timeout=120)
    ok(kc, "#%task(name=scratch)\nprint('unsaved')")
    ok(kc, "#%load_job(name=counting, replace=on)")
    ran = ok(kc, "#%submit_job(variables=[(N, 6)])", timeout=120)
    assert "N=6 (default 3)" in streams(ran) and "[count] summing 6" in streams(ran)
    assert value(kc, "(total, twice)") == "(15, 30)"
    ok(kc, "#%parameters(variables=[(N, 2)])")
    ok(kc, "#%submit_job()", timeout=120)
    assert value(kc, "(total, twice)") == "(1, 2)"
    ok(kc, "#%submit_job(variables=[(N, 4)])", timeout=120)  # wins over the parameters
    assert value(kc, "(total, twice)") == "(6, 12)"


def notebook(folder: Path, cells: list[tuple[str, list[str]]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source, metadata={"tags": tags})
                for source, tags in cells]  # fmt: skip
    path = folder / "template.ipynb"
    nbformat.write(nb, path)
    return path


def test_the_runner_gives_parameters_like_papermill(tmp_path, capsys):
    from pragma_kernel.kernel.run_notebook import main

    path = notebook(tmp_path, [
        ("#%job(name=counting, variables=[(N, 3)])", []),
        ("label = 'default'", ["parameters"]),
        (COUNT, []),
        ("#%submit_job()", []),
        ("print('result', label, total)", []),
    ])
    out = tmp_path / "out.ipynb"
    assert main([str(path), str(out), "-p", "N", "10", "-p", "label", "it's 10"]) == 0
    printed = capsys.readouterr().out
    assert "Job variables of this run: N=10 (default 3)." in printed
    assert "result it's 10 45" in printed
    cells = nbformat.read(out, as_version=4).cells
    assert cells[0].source == "#%parameters(variables=[('N', '10')])"
    assert cells[0].metadata.tags == ["injected-parameters"]
    assert cells[3].source == "# Parameters\nN = 10\nlabel = \"it's 10\""
    # the output notebook runs again with other values: its injected cells are replaced
    again = tmp_path / "again.ipynb"
    assert main([str(out), str(again), "-p", "N", "4"]) == 0
    assert "result default 6" in capsys.readouterr().out
    assert len(nbformat.read(again, as_version=4).cells) == 7


def test_the_runner_refuses_a_parameter_the_notebook_does_not_declare(tmp_path, capsys):
    from pragma_kernel.kernel.run_notebook import main

    path = notebook(tmp_path, [("#%job(name=counting, variables=[(N, 3)])", []), (COUNT, [])])
    assert main([str(path), str(tmp_path / "out.ipynb"), "-p", "EPOCHS", "10"]) == 2
    error = capsys.readouterr().err
    assert "the notebook declares no parameter 'EPOCHS': its job variables" in error
    assert "are N, and no cell is tagged 'parameters'" in error
    assert not (tmp_path / "out.ipynb").exists()
    assert "".join(json.loads(path.read_text())["cells"][0]["source"]).startswith("#%job")
