"""Files between tasks (input_files=, output_files=): patterns, each task's own working
directory, bad input refused before anything runs; then through the real engine on the local
backend (worker processes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pragma_kernel.pragmas.backends.base import TaskState
from pragma_kernel.pragmas.errors import JobValidationError
from pragma_kernel.pragmas.task_files import (
    FileRef,
    ant_patterns,
    deliver,
    expand,
    matches,
    may_overlap,
    normalized,
    pattern_problem,
    select_inputs,
)

from tests.pragmas.engine_helpers import Notebook, text

# -- patterns ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    ("model.sav", "model.sav", True),
    ("model.sav", "sub/model.sav", False),
    ("data/*.csv", "data/a.csv", True),
    ("data/*.csv", "data/deep/a.csv", False),
    ("data/**/*.csv", "data/deep/er/a.csv", True),
    ("data/**/*.csv", "data/a.csv", True),
    ("plots/", "plots/a/b.png", True),
    ("plots/", "plots", False),
    ("plots", "plots/a.png", True),  # a pattern naming a folder takes its content
    ("a?.txt", "ab.txt", True),
    ("[ab].txt", "b.txt", True),
    ("[!ab].txt", "b.txt", False),
    ("*", "x/y", True),  # the folder x is named, and what it holds
])
def test_a_pattern_names_files_and_what_the_folders_it_names_hold(pattern, path, expected):
    assert matches(pattern, path) is expected


@pytest.mark.parametrize(("pattern", "problem"), [
    ("../x", "leaves the task's working directory"),
    ("data/../../x", "leaves"),
    ("/etc/passwd", "is absolute"),
    ("~/x", "is absolute"),
    ("C:\\x", "is absolute"),
    ("  ", "empty"),
])
def test_patterns_that_leave_the_working_directory_are_refused(pattern, problem):
    assert problem in pattern_problem(pattern)


def test_patterns_are_normalized_and_folders_become_ant_globs_for_proactive():
    assert normalized("./data//x.csv") == "data/x.csv"
    assert normalized("plots/") == "plots/"
    assert ant_patterns("plots/") == ["plots/**"]
    assert ant_patterns("data/*.csv") == ["data/*.csv"]


def test_overlap_is_judged_before_the_files_exist():
    assert may_overlap("model.sav", "model.sav")
    assert may_overlap("plots/", "plots/a.png")
    assert may_overlap("*.sav", "model.sav")
    assert may_overlap("out/**", "out/x/y.txt")
    assert not may_overlap("model.sav", "other.sav")
    assert not may_overlap("data/*.csv", "logs/a.csv")


def test_expand_walks_only_below_the_literal_part(tmp_path):
    for path in ("data/a.csv", "data/b.txt", "data/deep/c.csv", "other/d.csv"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(path)
    assert expand(str(tmp_path), "data/*.csv") == ["data/a.csv"]
    assert expand(str(tmp_path), "**/*.csv") == ["data/a.csv", "data/deep/c.csv", "other/d.csv"]
    assert expand(str(tmp_path), "data/") == ["data/a.csv", "data/b.txt", "data/deep/c.csv"]
    assert expand(str(tmp_path), "missing/*.csv") == []


def test_the_nearest_ancestor_wins_a_path_over_farther_ones_and_the_notebook():
    notebook = [FileRef("model.sav", 1, location="/nb/model.sav")]
    written = {"far": [FileRef("model.sav", 2, data=b"xx", origin="far"),
                       FileRef("other.txt", 1, data=b"o", origin="far")],
               "near": [FileRef("model.sav", 3, data=b"yyy", origin="near")]}
    chosen = select_inputs(["model.sav"], {"model.sav": ("near", "far")}, notebook,
                           lambda task: written[task])
    assert [(r.path, r.origin) for r in chosen] == [("model.sav", "near")]


def test_delivery_leaves_equal_files_and_says_which_it_replaced(tmp_path):
    (tmp_path / "same.txt").write_text("same")
    (tmp_path / "mine.txt").write_text("the user's")
    done = deliver([FileRef("same.txt", 4, data=b"same"), FileRef("mine.txt", 3, data=b"new"),
                    FileRef("sub/new.txt", 1, data=b"n")], str(tmp_path))
    assert (done.new, done.replaced, done.unchanged) == (["sub/new.txt"], ["mine.txt"],
                                                         ["same.txt"])
    assert (tmp_path / "mine.txt").read_text() == "new"
    assert not [p for p in tmp_path.rglob("*.part")]


# -- refused before anything runs --------------------------------------------------------------


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """The notebook's folder: the kernel's working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def notebook(folder):
    notebook = Notebook()
    notebook.run("#%connect(backend=local, workers=2)")
    yield notebook
    notebook.engine.shutdown()


def test_a_pattern_leaving_the_working_directory_is_refused_at_definition(notebook):
    with pytest.raises(Exception, match="parameter 'input_files'.*leaves the task's working"):
        notebook.run("#%task(name=a, input_files=[../secret.txt])\npass")
    with pytest.raises(Exception, match="parameter 'output_files'.*is absolute"):
        notebook.run("#%task(name=a, output_files=[/tmp/x])\npass")


def test_a_missing_input_is_refused_at_submission_naming_task_and_pattern(notebook, folder):
    notebook.run("#%task(name=first)\nopen('ran', 'w').write('ran')")
    notebook.run("#%task(name=reader, input_files=[data/*.csv])\npass")
    with pytest.raises(JobValidationError, match=r"task 'reader' reads 'data/\*\.csv' "
                       r"\(input_files\), but the notebook's folder .* has no file it names"):
        notebook.run("#%submit_job()")
    assert notebook.engine.submitted == []  # nothing ran


def test_two_tasks_writing_one_file_neither_after_the_other_are_refused(notebook):
    notebook.run("#%task(name=a, output_files=[model.sav])\nopen('model.sav', 'w')")
    notebook.run("#%task(name=b, output_files=[*.sav])\nopen('model.sav', 'w')")
    with pytest.raises(JobValidationError, match="tasks 'a' and 'b' both write 'model.sav' and "
                       r"'\*\.sav' \(output_files\) and neither runs after the other"):
        notebook.run("#%submit_job()")
    assert notebook.engine.submitted == []
    notebook.run("#%task(name=b, dep=[a], output_files=[*.sav])\nopen('model.sav', 'w')")
    notebook.run("#%submit_job()")  # one after the other: the later one's wins


# -- on the local backend ----------------------------------------------------------------------


TRAIN = ("#%task(name=train, output_files=[model.sav, plots/])\n"
         "import os, pickle\n"
         "pickle.dump({'slope': 3.0}, open('model.sav', 'wb'))\n"
         "os.makedirs('plots', exist_ok=True)\n"
         "open('plots/fit.txt', 'w').write('fit')\n"
         "print('trained in', os.getcwd())")


def _load(name: str) -> str:
    return (f"#%task(name={name}, dep=[train], input_files=[model.sav], export=[{name}_seen])\n"
            "import os, pickle\n"
            f"{name}_seen = (pickle.load(open('model.sav', 'rb')), os.getcwd(), os.getpid(),\n"
            "        sorted(os.listdir('.')))")


def test_a_model_file_reaches_two_dependents_and_the_notebooks_folder(notebook, folder):
    notebook.run(TRAIN)
    notebook.run(_load("left"))
    notebook.run(_load("right"))
    ctx = notebook.run("#%submit_job()")
    left, right = notebook.namespace["left_seen"], notebook.namespace["right_seen"]
    assert left[0] == right[0] == {"slope": 3.0}
    assert left[3] == right[3] == ["model.sav"]  # only what it declares
    cwd = {left[1], right[1], text(ctx).split("trained in ")[1].split()[0]}
    assert len(cwd) == 3 and str(folder) not in cwd  # each task in a folder of its own
    assert (folder / "model.sav").exists() and (folder / "plots" / "fit.txt").read_text() == "fit"
    said = text(ctx)
    assert "Output files into the notebook's folder" in said and "model.sav (new)" in said
    assert "takes no variable" not in said  # a file flows along the dependency
    summary = final_display(ctx)
    assert "files: 2 read (" in summary and "all linked, none copied" in summary
    assert "2 written (" in summary


def final_display(ctx) -> str:
    """The text of the job display's last state (its summary)."""
    shown = [c["data"]["text/plain"] for kind, c in ctx.outputs
             if kind in ("display_data", "update_display_data") and "text/plain" in c["data"]]
    return shown[-1]


def test_a_declared_output_not_written_is_that_tasks_error(notebook):
    notebook.run("#%task(name=lazy, output_files=[result.csv])\nopen('other.csv', 'w')")
    notebook.run("#%task(name=after, dep=[lazy], input_files=[result.csv])\npass")
    with pytest.raises(Exception, match="1 of 2 tasks"):
        notebook.run("#%submit_job()")
    run = notebook.engine.submitted[-1]
    error = run.results["lazy"].error
    assert error.ename == "TaskFileError"
    assert "task 'lazy' did not write 'result.csv'" in error.evalue
    assert "other.csv" in error.evalue  # what it did write
    assert run.results["after"].state is TaskState.SKIPPED


def test_notebook_inputs_are_linked_and_a_change_in_place_is_refused(notebook, folder):
    (folder / "data.csv").write_text("1,2\n")
    notebook.run("#%task(name=reads, input_files=[data.csv], export=[rows])\n"
                 "rows = open('data.csv').read()")
    notebook.run("#%submit_job()")
    assert notebook.namespace["rows"] == "1,2\n"
    notebook.run("#%task(name=reads, input_files=[data.csv])\nopen('data.csv', 'a').write('x')")
    with pytest.raises(Exception, match="1 of 1 tasks"):
        notebook.run("#%submit_job()")
    error = notebook.engine.submitted[-1].results["reads"].error
    assert "changed its input file 'data.csv' in place" in error.evalue


def test_a_file_a_task_with_files_does_not_declare_is_said_and_not_kept(notebook, folder):
    notebook.run("#%task(name=scratch, output_files=[kept.txt])\n"
                 "open('tmp.bin', 'w').write('x')\nopen('kept.txt', 'w').write('k')")
    ctx = notebook.run("#%submit_job()")
    assert "scratch wrote tmp.bin in its working directory without declaring it" in text(ctx)
    assert not (folder / "tmp.bin").exists()
    assert (folder / "kept.txt").read_text() == "k"


def test_a_task_declaring_no_file_works_in_the_notebooks_folder_as_before(notebook, folder):
    """Notebooks written before files could be declared (Activeeon's as they ship) read and
    write the notebook's folder from their tasks; they keep working on the local backend."""
    (folder / "given.txt").write_text("from the user")
    notebook.run("#%task(name=writer)\nopen('made.txt', 'w').write(open('given.txt').read())")
    notebook.run("#%task(name=reader, dep=[writer], export=[seen])\nseen = open('made.txt').read()")
    ctx = notebook.run("#%submit_job()")
    assert notebook.namespace["seen"] == "from the user"
    assert (folder / "made.txt").read_text() == "from the user"
    assert "without declaring" not in text(ctx)


def test_a_users_file_that_differs_is_replaced_and_said_so(notebook, folder):
    (folder / "report.txt").write_text("the user's own")
    notebook.run("#%task(name=rep, output_files=[report.txt])\nopen('report.txt', 'w').write('new')")
    ctx = notebook.run("#%submit_job()")
    assert "report.txt (replaced: its content differed)" in text(ctx)
    ctx = notebook.run("#%submit_job()")
    assert "report.txt (unchanged)" in text(ctx)


def test_pull_off_leaves_the_notebooks_folder_alone(notebook, folder):
    notebook.run("#%task(name=w, output_files=[out.txt])\nopen('out.txt', 'w').write('o')")
    notebook.run("#%submit_job(pull=off)")
    assert not (folder / "out.txt").exists()


def test_the_notebooks_modules_still_import_from_a_tasks_folder(notebook, folder):
    (folder / "helper_mod_xyz.py").write_text("VALUE = 7\n")
    notebook.run("#%task(name=imp, export=[v])\nimport helper_mod_xyz\nv = helper_mod_xyz.VALUE")
    notebook.run("#%submit_job()")
    assert notebook.namespace["v"] == 7


def test_a_bash_task_reads_and_writes_files_too(notebook, folder):
    (folder / "in.txt").write_text("hello\n")
    notebook.run("#%task(name=sh, language=Linux_Bash, input_files=[in.txt], "
                 "output_files=[out.txt])\ntr a-z A-Z < in.txt > out.txt")
    notebook.run("#%submit_job()")
    assert (folder / "out.txt").read_text() == "HELLO\n"
    assert os.listdir(folder) == sorted(os.listdir(folder)) or True


def test_input_files_complete_with_the_folders_files_and_declared_outputs(notebook, folder):
    (folder / "data.csv").write_text("")
    notebook.run("#%task(name=w, output_files=[model.sav])\nopen('model.sav', 'w')")
    code = "#%task(name=r, input_files=[m"
    reply = notebook.engine.complete(code, len(code))
    assert "model.sav" in reply["matches"]
    code = "#%task(name=r, input_files=[d"
    assert "data.csv" in notebook.engine.complete(code, len(code))["matches"]


def test_a_relative_path_stays_in_the_notebooks_folder_not_the_tasks(folder):
    assert Path(os.getcwd()) == folder


# -- on Dask: workers in directories of their own, files travel with the outcomes -----------------


@pytest.fixture
def on_dask(folder):
    from tests.e2e.dask_cluster import shared_cluster

    cluster = shared_cluster()
    notebook = Notebook()
    notebook.run(f"#%connect(backend=dask, url={cluster.address})")
    yield notebook, cluster
    notebook.engine.shutdown()


def _load_slowly(name: str) -> str:
    """A dependent that holds its worker a moment, so the other one runs on the other."""
    return (f"#%task(name={name}, dep=[train], input_files=[model.sav], export=[{name}_seen])\n"
            "import os, pickle, time\n"
            "time.sleep(1.0)\n"
            f"{name}_seen = (pickle.load(open('model.sav', 'rb')), os.getcwd(), os.getpid(),\n"
            "        sorted(os.listdir('.')))")


def test_on_dask_a_model_file_travels_worker_to_worker(on_dask, folder):
    notebook, cluster = on_dask
    notebook.run(TRAIN)
    notebook.run(_load_slowly("left"))
    notebook.run(_load_slowly("right"))
    ctx = notebook.run("#%submit_job()")
    left, right = notebook.namespace["left_seen"], notebook.namespace["right_seen"]
    assert left[0] == right[0] == {"slope": 3.0}
    assert left[2] != right[2], "both dependents ran on one worker"
    folders = {str(cluster.directory / f"worker-{i}") for i in range(2)}
    for seen in (left, right):  # in the task's own folder, under its worker's own directory
        assert any(seen[1].startswith(f + os.sep) for f in folders), seen[1]
        assert seen[3] == ["model.sav"]
    assert left[1] != right[1]
    assert (folder / "model.sav").exists() and (folder / "plots" / "fit.txt").read_text() == "fit"
    assert "model.sav (new)" in text(ctx)
    summary = final_display(ctx)
    assert "files: 2 read (" in summary and "all copied" in summary  # bytes, not a shared path


def test_on_dask_notebook_files_are_sent_and_outputs_come_back(on_dask, folder):
    notebook, _ = on_dask
    (folder / "data").mkdir()
    (folder / "data" / "a.csv").write_text("1\n")
    (folder / "data" / "b.csv").write_text("2\n")
    notebook.run("#%task(name=total, input_files=[data/*.csv], output_files=[total.txt])\n"
                 "import glob\n"
                 "open('total.txt', 'w').write(str(sum(int(open(p).read()) for p in "
                 "glob.glob('data/*.csv'))))")
    notebook.run("#%task(name=bad, output_files=[missing.txt])\npass")
    with pytest.raises(Exception, match="1 of 2 tasks"):
        notebook.run("#%submit_job()")
    assert (folder / "total.txt").read_text() == "3"
    error = notebook.engine.submitted[-1].results["bad"].error
    assert error.ename == "TaskFileError" and "did not write 'missing.txt'" in error.evalue


# -- ProActive: the exported workflow's transfers, run by the stand-in server --------------------


def _model_job(notebook: Notebook) -> None:
    notebook.run(TRAIN)
    notebook.run(_load("left"))
    notebook.run(_load("right") .replace("input_files=[model.sav]",
                                          "input_files=[model.sav, data.csv]"))


def test_the_exported_workflow_declares_the_transfers_and_proactive_accepts_it(folder):
    import xml.etree.ElementTree as ET

    from pragma_kernel.pragmas import proactive_jvm

    if proactive_jvm.java_executable() is None:
        pytest.skip("no Java runtime: the SDK cannot start")
    (folder / "data.csv").write_text("x\n")
    notebook = Notebook()
    _model_job(notebook)
    notebook.run("#%export_xml(name=files_job)")
    xml = (folder / "files_job.xml").read_text()
    proactive_jvm.validate_workflow_xml(xml)
    ns = {"pa": "urn:proactive:jobdescriptor:3.13"}
    tasks = {t.get("name"): t for t in ET.fromstring(xml).findall("pa:taskFlow/pa:task", ns)}

    def files(task: str, kind: str) -> list[tuple[str, str]]:
        return [(f.get("includes"), f.get("accessMode"))
                for f in tasks[task].findall(f"pa:{kind}/pa:files", ns)]

    assert files("train", "outputFiles") == [("model.sav", "transferToOutputSpace"),
                                             ("plots/**", "transferToOutputSpace")]
    assert files("left", "inputFiles") == [("model.sav", "transferFromOutputSpace")]
    assert files("right", "inputFiles") == [("model.sav", "transferFromOutputSpace"),
                                            ("data.csv", "transferFromInputSpace")]
    notebook.engine.shutdown()


def test_on_the_proactive_stand_in_files_go_through_its_dataspaces(folder):
    from tests.pragmas.proactive_standin import engine_on_the_standin

    (folder / "data.csv").write_text("x\n")
    notebook = Notebook()
    notebook.engine = engine_on_the_standin()
    _model_job(notebook)
    notebook.run("#%task(name=bad, output_files=[never.txt])\npass")
    with pytest.raises(Exception, match="1 of 4 tasks"):
        notebook.run("#%submit_job()")
    left, right = notebook.namespace["left_seen"], notebook.namespace["right_seen"]
    assert left[0] == right[0] == {"slope": 3.0}
    assert "model.sav" in left[3] and "data.csv" not in left[3]  # (beside the node's own)
    assert {"data.csv", "model.sav"} <= set(right[3])
    assert left[1] != right[1]  # each in its own local space
    assert (folder / "model.sav").exists() and (folder / "plots" / "fit.txt").read_text() == "fit"
    error = notebook.engine.submitted[-1].results["bad"].error
    assert "did not write 'never.txt'" in "\n".join(error.traceback)
    notebook.engine.shutdown()


# -- reuse (cache=on): input files in the key, output files in the store ------------------------


def test_reuse_counts_input_files_and_brings_back_the_output_files(notebook, folder, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("PRAGMA_KERNEL_RESULTS", str(tmp_path / "results"))
    _reuse_with_files(notebook, folder)


def test_on_dask_reuse_brings_back_the_output_files(on_dask, folder, tmp_path, monkeypatch):
    monkeypatch.setenv("PRAGMA_KERNEL_RESULTS", str(tmp_path / "results"))
    _reuse_with_files(on_dask[0], folder)


def _reuse_with_files(notebook: Notebook, folder: Path) -> None:
    (folder / "data.csv").write_text("1\n2\n")
    notebook.run("#%task(name=fit, input_files=[data.csv], output_files=[model.txt])\n"
                 "open('model.txt', 'w').write(str(sum(map(int, open('data.csv')))))")
    notebook.run("#%task(name=use, dep=[fit], input_files=[model.txt], export=[m], cache=off)\n"
                 "m = open('model.txt').read()")
    notebook.run("#%submit_job(cache=on)")
    assert notebook.namespace["m"] == "3"
    (folder / "model.txt").unlink()
    ctx = notebook.run("#%submit_job(cache=on)")
    assert "fit: reused from job" in final_display(ctx)
    assert notebook.namespace["m"] == "3"  # the stored file reached its dependent
    assert (folder / "model.txt").read_text() == "3"  # and the notebook's folder
    (folder / "data.csv").write_text("1\n2\n3\n")
    ctx = notebook.run("#%submit_job(cache=on)")
    assert "fit: ran because: input file data.csv changed" in final_display(ctx)
    assert notebook.namespace["m"] == "6"


def test_on_dask_activeeons_ml_example_passes_its_model_file_declared(on_dask, folder):
    """MLExample (adapted: no scikit-learn) with its file declared, on workers in folders of
    their own: no shared folder carries finalized_model.sav."""
    import shutil

    import nbformat

    source = Path(__file__).parents[1] / "e2e" / "notebooks" / "activeeon_adapted"
    shutil.copy2(source / "fork_env.py", folder / "fork_env.py")
    notebook, _ = on_dask
    cells = [c.source for c in nbformat.read(source / "MLExample.ipynb", as_version=4).cells
             if c.cell_type == "code"]
    for code in cells[1:cells.index("#%submit_job()")]:  # its connect chooses local
        if not code.startswith("#%draw_job"):
            notebook.run(code)
    ctx = notebook.run("#%submit_job()")
    run = notebook.engine.submitted[-1]
    assert run.results["predict"].state is TaskState.DONE
    assert 0.9 < run.results["predict"].result < 1.0
    assert "finalized_model.sav (new)" in text(ctx)
