"""The first job of a fresh kernel: its workers start in the background at the first pragma
cell, before any job, from a fork server (not from the kernel)."""

from __future__ import annotations

from tests.e2e.run_helpers import ok, streams

COUNT_WORKERS = (
    "import multiprocessing, os, time\n"
    "def pragma_workers():\n"
    "    return [p for p in multiprocessing.active_children() if p.name == 'pragma-worker']\n"
    "deadline = time.monotonic() + 60\n"
    "while len(pragma_workers()) < (os.cpu_count() or 1) and time.monotonic() < deadline:\n"
    "    time.sleep(0.05)\n"
    "parents = {int(open(f'/proc/{p.pid}/stat').read().rsplit(')', 1)[1].split()[1])\n"
    "           for p in pragma_workers()}\n"
    "print(len(pragma_workers()) == (os.cpu_count() or 1), os.getpid() not in parents)"
)


def test_the_first_pragma_cell_starts_the_workers_before_any_job(fresh_kernel):
    _, kc = fresh_kernel
    ok(kc, "#%task(name=a, export=[x])\nx = 6 * 7")
    # no job was submitted; the workers are not the kernel's children (a fork server's)
    assert streams(ok(kc, COUNT_WORKERS)) == "True True\n"
    ok(kc, "#%submit_job()")
    assert streams(ok(kc, "print(x)")) == "42\n"
