"""Item 8: the history database, its WAL and shared-memory files are readable by their owner
only (0600), in a folder only the owner can enter (0700); so are the files the pragmas write
(the job's graph, its workflow), which hold what the user typed."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest
from pragma_kernel.kernel.history import HistoryStore, default_history_path
from pragma_kernel.pragmas import proactive_jvm

from tests.conftest import execute
from tests.pragmas.engine_helpers import Notebook
from tests.reliability.wire_helpers import wait_until


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_history_files_are_private(fresh_kernel):
    _, kc = fresh_kernel
    secret = uuid.uuid4().hex
    reply, _ = execute(kc, f"password = {secret!r}")
    assert reply["content"]["status"] == "ok"
    database = default_history_path()  # the tests' JUPYTER_DATA_DIR, as the kernel's
    wal = database.with_name(database.name + "-wal")
    wait_until(lambda: wal.exists() and secret.encode() in wal.read_bytes(), 30,
               "the cell never reached the history's WAL")
    for path in (database, wal, database.with_name(database.name + "-shm")):
        assert mode(path) == 0o600, f"{path.name}: {oct(mode(path))}"
    assert mode(database.parent) == 0o700


def test_files_of_an_older_version_are_tightened(tmp_path):
    folder = tmp_path / "pragma-kernel"
    folder.mkdir(mode=0o755)
    database = folder / "history.sqlite"
    database.touch(mode=0o644)
    os.chmod(database, 0o644)
    store = HistoryStore(database)
    store.store(1, "token = 'hunter2'")
    store.close()
    assert mode(database) == 0o600
    assert mode(folder) == 0o755  # a folder the caller chose is only created, never changed


def test_a_dot_file_the_pragmas_write_is_private(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipeline.dot").write_text("old")
    os.chmod(tmp_path / "pipeline.dot", 0o644)  # an existing file is tightened too
    notebook = Notebook()
    notebook.run("#%task(name=secret_step)\ntoken = 'hunter2'")
    notebook.run("#%write_dot(name=pipeline)")
    assert "secret_step" in (tmp_path / "pipeline.dot").read_text()
    assert mode(tmp_path / "pipeline.dot") == 0o600


@pytest.mark.skipif(proactive_jvm.java_executable() is None,
                    reason="no Java runtime: the ProActive SDK cannot export")
def test_an_exported_workflow_is_private(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    notebook = Notebook()
    notebook.run("#%task(name=secret_step)\ntoken = 'hunter2'")
    notebook.run("#%export_xml(name=workflow)")
    assert mode(tmp_path / "workflow.xml") == 0o600
