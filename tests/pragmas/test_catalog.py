"""The folder catalog: versions are never overwritten, writes are whole or absent, names map
to folders one to one, and every wrong request says what exists."""

from __future__ import annotations

import os

import pytest
from pragma_kernel.pragmas import catalog as catalog_module
from pragma_kernel.pragmas.catalog import (
    FolderCatalog,
    NameClashError,
    NoSuchSavedJobError,
    folder_name,
)
from pragma_kernel.pragmas.job_file import CatalogFileError
from pragma_kernel.pragmas.model import Job, Task


def job(code: str = "x = 1") -> Job:
    return Job(variables={"N": "3"}, tasks={"t": Task(name="t", code=code)})


def test_each_commit_is_a_new_version_and_the_old_ones_stay(tmp_path):
    store = FolderCatalog(tmp_path / "cat")
    first = store.commit(job("x = 1"), "training", "one")
    second = store.commit(job("x = 2"), "training", "two")
    assert (first.header.version, second.header.version) == (1, 2)
    assert store.versions("training") == [1, 2]
    assert store.read("training", 1).job.tasks["t"].code == "x = 1"
    assert store.read("training").header.message == "two"
    assert oct(os.stat(second.path).st_mode & 0o777) == "0o600"
    assert oct(os.stat(second.path.parent).st_mode & 0o777) == "0o700"
    assert oct(os.stat(tmp_path / "cat").st_mode & 0o777) == "0o700"
    assert not [p for p in (tmp_path / "cat" / "training").iterdir() if p.suffix == ".tmp"]


def test_a_number_taken_meanwhile_by_another_kernel_is_skipped(tmp_path, monkeypatch):
    store = FolderCatalog(tmp_path)
    store.commit(job(), "training", "one")
    real = catalog_module._versions_in
    # another kernel saves v2 between this one's look at the folder and its write
    monkeypatch.setattr(catalog_module, "_versions_in", lambda folder: real(folder)[:1])
    (tmp_path / "training" / "v2.toml").write_text("theirs")
    saved = store.commit(job("x = 2"), "training", "mine")
    assert saved.header.version == 3
    assert (tmp_path / "training" / "v2.toml").read_text() == "theirs"


def test_unknown_job_and_version_say_what_exists(tmp_path):
    store = FolderCatalog(tmp_path)
    with pytest.raises(NoSuchSavedJobError, match="no job 'training'.*It is empty"):
        store.read("training")
    store.commit(job(), "training", "one")
    with pytest.raises(NoSuchSavedJobError, match="Did you mean 'training'"):
        store.read("trainnig")
    with pytest.raises(NoSuchSavedJobError, match=r"no version 4 .*its versions: 1\)"):
        store.read("training", 4)
    with pytest.raises(NoSuchSavedJobError, match="no version 4"):
        store.delete("training", 4)


def test_names_map_to_folders_one_to_one():
    names = ["a b", "a%20b", "a_b", "../up", ".hidden", "été", "x/y", "A.b"]
    folders = [folder_name(n) for n in names]
    assert len(set(folders)) == len(names)
    assert all("/" not in f and not f.startswith(".") for f in folders)
    assert folder_name("A.b") == "A.b" and folder_name("a b") == "a%20b"


def test_a_name_that_differs_only_in_case_is_a_clash_where_case_is_ignored(tmp_path):
    store = FolderCatalog(tmp_path)
    saved = store.commit(job(), "Train", "one")
    # what a case-insensitive file system does: 'train' finds the folder of 'Train'
    os.rename(saved.path.parent, tmp_path / "train")
    with pytest.raises(NameClashError, match="'Train' and the name 'train' share one folder"):
        store.commit(job(), "train", "two")
    with pytest.raises(NameClashError):
        store.read("train")


def test_a_file_that_lies_about_itself_is_named(tmp_path):
    store = FolderCatalog(tmp_path)
    saved = store.commit(job(), "training", "one")
    os.rename(saved.path, saved.path.with_name("v5.toml"))
    with pytest.raises(CatalogFileError, match="says it is version 1, but its file name says 5"):
        store.read("training")


def test_delete_one_version_or_all(tmp_path):
    store = FolderCatalog(tmp_path)
    for message in ("one", "two", "three"):
        store.commit(job(message), "training", message)
    assert store.delete("training", 2) == [2]
    assert store.versions("training") == [1, 3]
    assert store.delete("training", None) == [1, 3]
    assert store.jobs() == [] and not (tmp_path / "training").exists()


def test_a_listing_shows_an_unreadable_job_instead_of_failing(tmp_path):
    store = FolderCatalog(tmp_path)
    store.commit(job(), "good", "fine")
    broken = store.commit(job(), "bad", "fine")
    broken.path.write_text("format = [")
    listed = {j.name: j for j in store.jobs()}
    assert listed["good"].latest.header.message == "fine"
    assert listed["bad"].latest is None and "not valid TOML" in listed["bad"].problem
