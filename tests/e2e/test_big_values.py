"""Big values through the real kernel: a 50 MB array goes notebook -> task -> dependent ->
notebook intact, and the memory it took is given back (no growth across jobs)."""

from __future__ import annotations

import pytest

from tests.e2e.run_helpers import ok, streams

pytest.importorskip("numpy")
psutil = pytest.importorskip("psutil")

MB = 1_000_000
SEED = f"import numpy as np\nseed = np.arange({50 * MB // 8}, dtype=np.int64)"
FROM_NOTEBOOK = "#%task(name=scale, import=[seed], export=[big])\nbig = seed * 3"
MADE_IN_TASK = ("#%task(name=scale, export=[big])\nimport numpy as np\n"
                f"big = np.arange({50 * MB // 8}, dtype=np.int64) * 3")
DEPENDENT = ("#%task(name=check, dep=[scale], import=[big], export=[total])\n"
             "big[0] = -1  # the dependent's copy is its own\ntotal = int(big[1:].sum())")
CHECK = ("print(big.nbytes, int(big[0]), bool((big == seed * 3).all()), "
         "total == int((seed[1:] * 3).sum()))")


def resident_mb(kernel_pid: int) -> float:
    """The kernel's resident memory and that of every process under it (the workers)."""
    kernel = psutil.Process(kernel_pid)
    return sum(p.memory_info().rss for p in [kernel, *kernel.children(recursive=True)]) / MB


def resident_after_jobs(kc, producer: str, jobs: int) -> list[float]:
    """Define ``producer`` and its dependent, run the job ``jobs`` times checking the values
    that came back, drop them from the notebook; the memory after each job."""
    pid = int(streams(ok(kc, "import os\nprint(os.getpid())")))
    ok(kc, SEED)
    ok(kc, producer)
    ok(kc, DEPENDENT)
    after = []
    for _ in range(jobs):
        ok(kc, "#%submit_job()", timeout=120)
        assert streams(ok(kc, CHECK)).split() == [str(50 * MB), "0", "True", "True"]
        ok(kc, "del big")
        after.append(resident_mb(pid))
    return after


def test_a_50_mb_array_made_by_a_task_reaches_its_dependent_and_the_notebook_and_is_let_go(
        fresh_kernel):  # fmt: skip
    after = resident_after_jobs(fresh_kernel[1], MADE_IN_TASK, 6)
    # The kernel keeps the values of its last jobs (and one per task for cache=on): a few
    # arrays' worth, the same after the sixth job as after the third; the workers none.
    assert after[-1] - after[2] < 40, after


def test_a_50_mb_array_from_the_notebook_goes_both_ways_and_is_let_go(fresh_kernel):
    after = resident_after_jobs(fresh_kernel[1], FROM_NOTEBOOK, 6)
    assert after[-1] - after[2] < 40, after
