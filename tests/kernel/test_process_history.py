"""history_request (tail, range, search) through jupyter_client, and the store underneath."""

from __future__ import annotations

import uuid

from pragma_kernel.kernel.history import HistoryStore

from tests.conftest import execute, shell_reply


def history(kc, **kwargs) -> list:
    return shell_reply(kc, kc.history(**kwargs))["content"]["history"]


def test_tail_returns_the_last_inputs_in_order_with_outputs(kernel):
    _, kc = kernel
    marker = uuid.uuid4().hex[:8]
    codes = [f"'{marker}-{i}'" for i in range(3)]
    for code in codes:
        execute(kc, code)
    entries = history(kc, hist_access_type="tail", n=3, raw=True, output=False)
    assert [entry[2] for entry in entries] == codes
    with_output = history(kc, hist_access_type="tail", n=1, raw=True, output=True)
    assert with_output[0][2] == [codes[-1], repr(f"{marker}-2")]


def test_range_is_stop_exclusive_and_session_round_trips(kernel):
    _, kc = kernel
    execute(kc, "'ranged'")
    session, line, _ = history(kc, hist_access_type="tail", n=1)[0]
    entries = history(kc, hist_access_type="range", session=session, start=line, stop=line + 1)
    assert entries == [[session, line, "'ranged'"]]
    relative = history(kc, hist_access_type="range", session=0, start=line, stop=line + 1)
    assert relative == entries


def test_search_glob_n_and_unique(kernel):
    _, kc = kernel
    marker = uuid.uuid4().hex[:8]
    for _ in range(3):
        execute(kc, f"'{marker}'")
    execute(kc, f"'{marker}' + 'x'")
    pattern = f"*{marker}*"
    assert len(history(kc, hist_access_type="search", pattern=pattern)) == 4
    assert len(history(kc, hist_access_type="search", pattern=pattern, n=2)) == 2
    unique = history(kc, hist_access_type="search", pattern=pattern, unique=True)
    assert sorted(entry[2] for entry in unique) == sorted([f"'{marker}'", f"'{marker}' + 'x'"])


def test_silent_and_unstored_cells_are_not_in_history(kernel):
    _, kc = kernel
    marker = uuid.uuid4().hex[:8]
    execute(kc, f"'{marker}'", silent=True)
    execute(kc, f"'{marker}'", store_history=False)
    assert history(kc, hist_access_type="search", pattern=f"*{marker}*") == []


def test_store_sessions_are_numbered_and_kept_across_instances(tmp_path):
    path = tmp_path / "history.sqlite"
    first = HistoryStore(path)
    first.store(1, "a = 1", None)
    first.store(2, "a", "1")
    first.close()
    second = HistoryStore(path)
    assert second.session == first.session + 1
    second.store(1, "b = 2")
    assert second.range(-1, 1, None) == [[first.session, 1, "a = 1"], [first.session, 2, "a"]]
    assert second.tail(2, output=True) == [
        [first.session, 2, ["a", "1"]],
        [second.session, 1, ["b = 2", None]],
    ]
    assert second.search("a*", n=1) == [[first.session, 2, "a"]]


def test_unusable_database_falls_back_to_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = HistoryStore(blocker / "sub" / "history.sqlite")
    store.store(1, "x")
    assert store.tail(1) == [[store.session, 1, "x"]]
