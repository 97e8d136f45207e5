"""The Dask backend through the real kernel: a notebook gives the same outputs on the local
backend and on a real Dask cluster; an interrupt cancels the job on the cluster; a scheduler
that cannot be reached keeps the previous backend; ``#%connect(backend=dask)`` without url
starts a cluster that goes away with the kernel."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from pathlib import Path

import nbformat
import pytest
from distributed import Client
from nbclient import NotebookClient

from tests.conftest import KERNEL_NAME, collect_iopub, execute, shell_reply
from tests.e2e.dask_cluster import shared_cluster

ANSI = re.compile(r"\x1b\[[0-9;]*m")
RUNNING_NOTEBOOKS = Path(__file__).parent / "notebooks" / "running"


@pytest.fixture(scope="module")
def cluster():
    return shared_cluster()


# --- the same notebook on both backends ----------------------------------------------------

NOTEBOOK = [
    "scale = 3",
    ("#%task(name=prep, export=[data])\n"
    "import numpy as np\n"
    "data = np.arange(10)\n"
    "print('prep', int(data.sum()))"),
    ("#%task(name=square, dep=[prep], import=[data], export=[part], runs=3)\n"
    "part = int((data ** 2).sum()) + replication\n"
    "print('replica', replication, part)"),
    ("#%task(name=scaled, dep=[prep], import=[data, scale], export=[bigger])\n"
    "bigger = data * scale\n"
    "variables.put('note', 'from scaled')"),
    ("#%task(name=combine, dep=[square, scaled], import=[part, bigger], export=[total])\n"
    "total = sum(part) + int(bigger.sum())\n"
    "print('total', total, variables.get('note'))\n"
    "total * 2"),
    ("#%task(name=plot, dep=[prep], import=[data])\n"
    "import matplotlib.pyplot as plt\n"
    "plt.plot(data)\n"
    "plt.show()\n"
    "display({'shown': True})"),
    "#%task(name=shell, language=Linux_Bash)\necho from bash",
    "#%submit_job()",
    "print(total, part, list(bigger))",
    "#%get_task_result(task_name=combine)",
    ("#%task(name=broken, export=[z])\n"
    "print('about to fail')\n"
    "z = 1 / 0"),
    "#%task(name=after_broken, dep=[broken], import=[z])\nprint(z)",
    "#%submit_job()",
    "#%get_task_result(task_name=after_broken)",
]


def run_notebook(connect: str, cells: list[str] | Path = NOTEBOOK,
                 workdir: Path | None = None) -> list[dict[str, list]]:
    """Each cell's outputs (after the connect cell put first), normalised for comparison."""
    if isinstance(cells, Path):
        notebook = nbformat.read(cells, as_version=4)
    else:
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell(code) for code in cells]
    notebook.cells.insert(0, nbformat.v4.new_code_cell(connect))
    resources = {"metadata": {"path": str(workdir)}} if workdir else {}
    NotebookClient(notebook, kernel_name=KERNEL_NAME, timeout=180, allow_errors=True,
                   resources=resources).execute()
    return [normalised(cell.outputs) for cell in notebook.cells[1:] if cell.cell_type == "code"]


def normalised(outputs: list) -> dict[str, list]:
    """Outputs without what differs by nature between runs and backends: the progress display
    (backend name, timings), numbers with decimals (times, speed-ups), job ids and names, and
    the order in which tasks running in parallel wrote lines and displayed things."""
    streams: dict[str, list[str]] = {}
    others = []
    for output in outputs:
        kind = output["output_type"]
        if kind == "stream":
            streams.setdefault(output["name"], []).extend(_plain(output["text"]).splitlines())
        elif kind == "error":
            trace = tuple(_plain(ANSI.sub("", line)) for line in output["traceback"])
            others.append((kind, output["ename"], _plain(output["evalue"]), trace))
        else:
            data = output.get("data", {})
            if "pragma-job" in data.get("text/html", ""):
                continue  # the progress display: backend, timings, dashboard link
            pictures = tuple(sorted(m for m in data if m.startswith("image/")))
            others.append((kind, pictures, _plain(data.get("text/plain", ""))))
    return {**{name: sorted(lines) for name, lines in streams.items()},
            "others": sorted(others, key=repr)}


def _plain(text: str) -> str:
    text = re.sub(r"\d+\.\d+", "<number>", text)
    text = re.sub(r"\bjob_[0-9a-f]+\b", "<job>", text)
    return re.sub(r"\b(dask-)?\d+\b(?= \(id| id)", "<id>", text)


def test_a_notebook_gives_the_same_outputs_on_local_and_on_dask(cluster):
    local = run_notebook("#%connect(backend=local, workers=2)")
    dask = run_notebook(f"#%connect(backend=dask, url={cluster.address})")
    for code, on_local, on_dask in zip(NOTEBOOK, local, dask):
        assert on_dask == on_local, f"cell:\n{code}"
    submit = local[NOTEBOOK.index("#%submit_job()")]
    assert "[combine] total 993 from scaled" in submit["stdout"], submit
    assert ("display_data", ("image/png",), "<Figure size 640x480 with 1 Axes>") in submit[
        "others"], submit
    (error,) = [o for o in local[len(NOTEBOOK) - 2]["others"] if o[0] == "error"]
    assert "ZeroDivisionError: division by zero" in error[3], error


@pytest.mark.parametrize("name", ["pipeline.ipynb", "import_export.ipynb"])
def test_the_running_notebooks_give_the_same_outputs_on_local_and_on_dask(
        cluster, name, tmp_path):
    notebook = RUNNING_NOTEBOOKS / name
    code = [c.source for c in nbformat.read(notebook, as_version=4).cells
            if c.cell_type == "code"]
    local = run_notebook("#%connect(backend=local, workers=2)", notebook, tmp_path)
    dask = run_notebook(f"#%connect(backend=dask, url={cluster.address})", notebook, tmp_path)
    for source, on_local, on_dask in zip(code, local, dask):
        if source.startswith("#%list_submitted_jobs"):
            continue  # a table naming the backend and its job ids, by nature different
        assert on_dask == on_local, f"cell:\n{source}"


# --- interrupting a job ---------------------------------------------------------------------


def test_an_interrupt_cancels_the_job_on_the_cluster_and_keeps_the_namespace(fresh_kernel,
                                                                             cluster):
    km, kc = fresh_kernel
    for code in (f"#%connect(backend=dask, url={cluster.address})", "kept = 'still here'",
                 ("#%task(name=long)\nimport time\nprint('started', flush=True)\n"
                 "for _ in range(2400):\n    time.sleep(0.05)"),
                 "#%task(name=later, dep=[long])\nprint('never')"):
        reply, _ = execute(kc, code, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
    msg_id = kc.execute("#%submit_job()")
    _wait_for_stream(kc, msg_id, "started")
    km.interrupt_kernel()
    reply = shell_reply(kc, msg_id, timeout=60)
    collect_iopub(kc, msg_id, timeout=60)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    with Client(cluster.address, timeout=10, set_as_default=False) as client:
        deadline = time.monotonic() + 30
        while any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(client.processing().values()), "the task still runs on the cluster"
    _, outputs = execute(kc, "print(kept)")
    assert [m["content"]["text"] for m in outputs if m["msg_type"] == "stream"] == [
        "still here\n"]
    reply, outputs = execute(kc, "#%get_task_result(task_name=long)")
    assert "cancelled" in reply["content"].get("evalue", ""), reply["content"]


def test_a_worker_killed_under_a_task_is_survived_and_the_notebook_says_so(fresh_kernel,
                                                                           cluster):
    _, kc = fresh_kernel
    for code in (f"#%connect(backend=dask, url={cluster.address})",
                 ("#%task(name=patient, export=[answer])\nimport time\n"
                 "print('started', flush=True)\ntime.sleep(3)\nanswer = 42")):
        reply, _ = execute(kc, code, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
    msg_id = kc.execute("#%submit_job()")
    _wait_for_stream(kc, msg_id, "started")
    with Client(cluster.address, timeout=10, set_as_default=False) as client:
        (worker,) = [w for w, keys in client.processing().items() if keys]
        os.kill(client.run(os.getpid, workers=[worker])[worker], signal.SIGKILL)
    reply = shell_reply(kc, msg_id, timeout=120)
    outputs = collect_iopub(kc, msg_id, timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]
    stderr = "".join(m["content"]["text"] for m in outputs
                     if m["msg_type"] == "stream" and m["content"]["name"] == "stderr")
    assert f"patient: the worker {worker} running it was lost; Dask rescheduled it" in stderr
    _, outputs = execute(kc, "print(answer)")
    assert [m["content"]["text"] for m in outputs if m["msg_type"] == "stream"] == ["42\n"]
    cluster.wait_for_workers(2)


def test_cache_on_reuses_stored_outcomes_on_the_cluster(fresh_kernel, cluster):
    _, kc = fresh_kernel
    for code in (f"#%connect(backend=dask, url={cluster.address})",
                 "#%job(name=cached_on_dask)",
                 "#%task(name=slow_part, export=[made])\nprint('computing')\nmade = [1, 2, 3]",
                 ("#%task(name=use_it, dep=[slow_part], import=[made], export=[total])\n"
                 "total = sum(made)\nprint('total', total)")):
        reply, _ = execute(kc, code, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
    first = _streams(execute(kc, "#%submit_job(cache=on)", timeout=60)[1])
    assert "[slow_part] computing" in first and "[use_it] total 6" in first
    reply, _ = execute(kc, "#%task(name=use_it, dep=[slow_part], import=[made], "
                           "export=[total])\ntotal = sum(made) * 10\nprint('total', total)")
    assert reply["content"]["status"] == "ok", reply["content"]
    again = _streams(execute(kc, "#%submit_job(cache=on)", timeout=60)[1])
    assert "computing" not in again  # slow_part reused: its stored outcome scattered again
    assert "[use_it] total 60" in again


def _streams(outputs: list[dict]) -> str:
    return "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")


def test_dask_log_lines_stay_out_of_the_cells(kernel, cluster):
    _, kc = kernel
    reply, _ = execute(kc, f"#%connect(backend=dask, url={cluster.address})", timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]
    # e.g. "Event loop was unresponsive in Client for 3.2s" while the machine is busy
    _, outputs = execute(kc, "import logging\n"
                             "logging.getLogger('distributed.client').warning('dask noise')")
    assert [m for m in outputs if m["msg_type"] == "stream"] == []


def _wait_for_stream(kc, msg_id: str, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = kc.get_iopub_msg(timeout=timeout)
        if (message["parent_header"].get("msg_id") == msg_id
                and message["msg_type"] == "stream" and text in message["content"]["text"]):
            return
    raise AssertionError(f"no {text!r} from the task")


# --- connecting -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_scheduler_fails_the_connect_and_the_previous_backend_stays(
        fresh_kernel):
    _, kc = fresh_kernel
    reply, _ = execute(kc, "#%connect(backend=local, workers=1)", timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]
    address = f"tcp://127.0.0.1:{free_port()}"
    reply, _ = execute(kc, f"#%connect(backend=dask, url={address})", timeout=60)
    content = reply["content"]
    assert content["status"] == "error"
    assert f"cannot reach the Dask scheduler at {address}" in content["evalue"]
    assert "Still connected to local" in content["evalue"]
    for code in ("#%task(name=here, export=[pid])\nimport os\npid = os.getpid()",
                 "#%submit_job()"):
        reply, _ = execute(kc, code, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]


def test_connect_without_url_starts_a_cluster_that_goes_with_the_kernel(fresh_kernel):
    km, kc = fresh_kernel
    reply, outputs = execute(kc, "#%connect(backend=dask, workers=1)", timeout=120)
    assert reply["content"]["status"] == "ok", reply["content"]
    text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
    assert "a local cluster started by this kernel at tcp://127.0.0.1:" in text
    for code in ("#%task(name=where, export=[pid])\nimport os\npid = os.getpid()",
                 "#%submit_job()"):
        reply, _ = execute(kc, code, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
    _, outputs = execute(kc, "print(pid)")
    worker_pid = int(next(m["content"]["text"] for m in outputs if m["msg_type"] == "stream"))
    assert _alive(worker_pid)
    km.shutdown_kernel(now=False)
    deadline = time.monotonic() + 30
    while _alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker_pid), "the cluster's worker outlived the kernel"


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
