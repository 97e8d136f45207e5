"""The result store on disk: entries by key, bounded by least-recent use, private, atomic, and
an unreadable entry is a miss."""

from __future__ import annotations

import logging
import os
import stat
import threading
import time

import pytest
from pragma_kernel.pragmas.backends.base import Output, TaskResult, TaskState
from pragma_kernel.pragmas.result_store import Origin, ResultStore, parse_size
from pragma_kernel.pragmas.task_keys import TaskKey


def key(name: str, digest: str | None = None) -> TaskKey:
    digest = digest or (name.encode().hex() * 8)[:64]
    return TaskKey(name, digest, digest, code="c", options="o")


def done(name: str, **exports) -> TaskResult:
    return TaskResult(name, TaskState.DONE, exports=exports, result=f"{name} result",
                      variables={"put": 1}, outputs=[Output("stream", "stdout", "hi\n")])


def origin(task: str, run: str = "1") -> Origin:
    return Origin("demo", run, task, 1_700_000_000.0)


def test_a_stored_result_comes_back_with_its_origin(tmp_path):
    store = ResultStore(tmp_path / "store", max_bytes=10**6)
    assert store.put(key("t"), done("t", x=[1, 2]), origin("t")) is None
    found = store.get(key("t").key)
    assert found.origin == origin("t")
    assert found.result.state is TaskState.DONE and found.result.exports == {"x": [1, 2]}
    assert found.result.result == "t result" and found.result.variables == {"put": 1}
    assert found.result.outputs[0].text == "hi\n"
    assert store.latest("demo", "t") == key("t")
    assert store.get("0" * 64) is None


def test_folders_and_files_are_private(tmp_path):
    store = ResultStore(tmp_path / "store", max_bytes=10**6)
    store.put(key("t"), done("t", x=1), origin("t"))
    for path in [store.folder, *store.folder.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path


def test_least_recently_used_entries_go_past_the_size(tmp_path):
    blob = os.urandom(2500)  # an entry: about 3 kB; three fit
    store = ResultStore(tmp_path / "store", max_bytes=11_000)
    for index, name in enumerate("abc"):
        store.put(key(name), done(name, blob=blob), origin(name))
        os.utime(store._entry(key(name).key), (1000 + index, 1000 + index))
    assert store.get(key("a").key) is not None  # a is used now: b is the oldest
    store.put(key("d"), done("d", blob=blob), origin("d"))
    assert store.size() <= 11_000
    assert store.origin(key("b").key) is None
    assert all(store.origin(key(n).key) for n in "acd")


def test_a_result_too_big_or_not_picklable_is_not_stored_and_says_why(tmp_path):
    store = ResultStore(tmp_path / "store", max_bytes=4000)
    too_big = store.put(key("big"), done("big", blob=os.urandom(2000)), origin("big"))
    assert "more than an entry may" in too_big
    lock = store.put(key("lock"), done("lock", lock=threading.Lock()), origin("lock"))
    assert lock.startswith("its values cannot be pickled (TypeError")
    assert store.size() == 0


@pytest.mark.parametrize("damage", ["truncate", "flip", "header"])
def test_a_damaged_entry_is_a_logged_miss_and_is_removed(tmp_path, caplog, damage):
    store = ResultStore(tmp_path / "store", max_bytes=10**6)
    store.put(key("t"), done("t", x=list(range(100))), origin("t"))
    path = store._entry(key("t").key)
    data = path.read_bytes()
    if damage == "truncate":
        data = data[: len(data) - 20]
    elif damage == "flip":
        data = data[:-5] + bytes([data[-5] ^ 1]) + data[-4:]
    else:
        data = b"{not json\n" + data.split(b"\n", 1)[1]
    path.write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="pragma_kernel.pragmas.result_store"):
        assert store.get(key("t").key) is None
    assert "cannot be read" in caplog.text
    assert not path.exists()


def test_writes_are_atomic_a_reader_sees_a_whole_entry_or_none(tmp_path):
    store = ResultStore(tmp_path / "store", max_bytes=10**8)
    stop = threading.Event()
    seen = []

    def read() -> None:
        while not stop.is_set():
            found = store.get(key("t").key)
            if found is not None:
                seen.append(len(found.result.exports["blob"]))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(20):
            store.put(key("t"), done("t", blob=os.urandom(200_000)), origin("t"))
    finally:
        stop.set()
        reader.join()
    assert seen and set(seen) == {200_000}
    assert not list(store.folder.rglob(".tmp-*"))


def test_two_stores_on_one_folder_share_entries(tmp_path):
    one = ResultStore(tmp_path / "store", max_bytes=10**6)
    two = ResultStore(tmp_path / "store", max_bytes=10**6)
    one.put(key("t"), done("t", x=1), origin("t", run="7"))
    assert two.get(key("t").key).origin.run == "7"


def test_remove_by_task_or_all(tmp_path):
    store = ResultStore(tmp_path / "store", max_bytes=10**6)
    for name in "abc":
        store.put(key(name), done(name, x=1), origin(name))
    assert store.remove(job="demo", tasks={"a", "b"}) == 2
    assert store.remove(job="other") == 0
    assert store.origin(key("c").key) is not None
    assert store.remove() == 1 and store.latest("demo", "c") is None


def test_sizes_read_with_units():
    assert parse_size("2GB") == 2 * 1024**3
    assert parse_size("500 mb") == 500 * 1024**2
    assert parse_size("1.5g") == int(1.5 * 1024**3)
    assert parse_size("4096") == 4096
    with pytest.raises(ValueError):
        parse_size("lots")


def test_the_folder_and_size_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PRAGMA_KERNEL_RESULTS", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("PRAGMA_KERNEL_RESULTS_SIZE", "3MB")
    store = ResultStore()
    assert store.folder == tmp_path / "elsewhere" and store.max_bytes == 3 * 1024**2


def test_origin_reads_as_a_sentence():
    text = Origin("demo", "3", "t", time.mktime((2026, 5, 1, 9, 30, 0, 0, 0, -1))).text()
    assert text == "job demo run 3 at 2026-05-01 09:30:00"
