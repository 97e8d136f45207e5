"""Reuse across kernel restarts, through the real kernel (jupyter_client), on the local backend
and on a real Dask cluster: a job submitted with cache=on, a restart, the same job again (its
tasks reused from disk, nothing runs), one task edited (exactly it and its descendants run),
#%why, #%clear_cache. The store is a temporary folder given in the kernel's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import start_kernel, stop_kernel
from tests.e2e.run_helpers import ok, plain, streams


@pytest.fixture
def store_kernel(tmp_path, monkeypatch):
    """A kernel whose result store is in tmp_path (the environment is inherited at restart)."""
    monkeypatch.setenv("PRAGMA_KERNEL_RESULTS", str(tmp_path / "results"))
    km, kc = start_kernel()
    yield km, kc
    stop_kernel(km, kc)


def define(kc, counter: Path, double: str = "2 * x") -> None:
    """load -> double -> total, and side; each task adds its name to the counter file."""
    def count(name: str) -> str:
        return f"open({str(counter)!r}, 'a').write('{name}\\n')\n"

    ok(kc, "#%job(name=reuse_e2e)")
    ok(kc, "#%task(name=load, export=[x])\n" + count("load") + "x = 3  # the input")
    ok(kc, "#%task(name=double, dep=[load], import=[x], export=[y])\n" + count("double")
       + f"y = {double}")
    ok(kc, "#%task(name=total, dep=[double], import=[y], export=[z])\n" + count("total")
       + "z = y + 1")
    ok(kc, "#%task(name=side, export=[s])\n" + count("side") + "s = 'side'")


def ran(counter: Path) -> list[str]:
    runs = counter.read_text().split() if counter.exists() else []
    counter.write_text("")
    return sorted(runs)


def restart(km, kc) -> None:
    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=60)


def submit(kc, connect: str | None) -> list[dict]:
    if connect:
        ok(kc, connect, timeout=60)
    return ok(kc, "#%submit_job(cache=on)", timeout=120)


def reuse_across_a_restart(km, kc, counter: Path, connect: str | None = None) -> None:
    define(kc, counter)
    submit(kc, connect)
    assert ran(counter) == ["double", "load", "side", "total"]
    restart(km, kc)
    define(kc, counter)
    outputs = submit(kc, connect)
    assert ran(counter) == []  # every task reused from disk: none ran
    final = plain(outputs)[-1]
    assert final.count("(cached)") == 4 and "reused from job reuse_e2e run " in final
    assert "7 side" in streams(ok(kc, "print(z, s)"))
    define(kc, counter, double="x * 3")
    outputs = submit(kc, connect)
    assert ran(counter) == ["double", "total"]
    assert "double: ran because: its code changed" in plain(outputs)[-1]
    assert "10" in streams(ok(kc, "print(z)"))


def test_a_restarted_kernel_reuses_yesterdays_results(store_kernel, tmp_path):
    km, kc = store_kernel
    counter = tmp_path / "runs.txt"
    reuse_across_a_restart(km, kc, counter)
    why = streams(ok(kc, "#%why()"))
    assert "load: reused from job reuse_e2e run 1 at" in why
    assert "double: ran because: its code changed" in why
    assert "total: ran because: ancestor double changed" in why
    assert "side: reused from job reuse_e2e run 1 at" in why
    said = streams(ok(kc, "#%clear_cache(task=double)"))
    # both versions of each: 2 * x and x * 3
    assert "Removed 4 stored results of job reuse_e2e, tasks double, total." in said
    submit(kc, None)
    assert ran(counter) == ["double", "total"]
    assert "Removed 4 stored results" in streams(ok(kc, "#%clear_cache()"))
    submit(kc, None)
    assert ran(counter) == ["double", "load", "side", "total"]


def test_on_dask_a_restarted_kernel_reuses_the_stored_results(store_kernel, tmp_path):
    pytest.importorskip("distributed")
    from tests.e2e.dask_cluster import shared_cluster

    km, kc = store_kernel
    connect = f"#%connect(backend=dask, url={shared_cluster().address})"
    reuse_across_a_restart(km, kc, tmp_path / "runs.txt", connect)
