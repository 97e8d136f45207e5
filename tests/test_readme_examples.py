"""The README is true by test: every fenced ``python`` example, as written, runs on the kernel.

The examples run in README order in one kernel (a notebook made of the README, in a fresh
folder), as a reader trying them one after the other would; a blank line followed by a ``#%``
line starts a new cell, so one example can show two cells (a task and the task it needs). The
README's ``#%submit_job`` example then runs the job the examples built: every task must end
done or be skipped by its branch, none may fail.
"""

from __future__ import annotations

import re
import shutil
import tempfile

import pytest
from jupyter_client.manager import start_new_kernel

from tests.conftest import KERNEL_NAME, ROOT, execute, stop_kernel

FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def readme_cells() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return [cell for block in FENCE.findall(readme)
            for cell in re.split(r"\n\n(?=#%)", block.strip())]  # fmt: skip


CELLS = readme_cells()


@pytest.fixture(scope="module")
def readme_kernel():
    folder = tempfile.mkdtemp(prefix="readme-")  # the notebook's folder: files land there
    km, kc = start_new_kernel(kernel_name=KERNEL_NAME, cwd=folder)
    yield kc
    stop_kernel(km, kc)
    shutil.rmtree(folder, ignore_errors=True)


def test_the_readme_has_examples_of_every_kind():
    firsts = {cell.split("(")[0] for cell in CELLS}
    assert {"#%task", "#%submit_job", "#%loop", "#%branch", "#%condition", "#%connect"} <= firsts
    assert len(CELLS) >= 45


@pytest.mark.parametrize("index", range(len(CELLS)),
                         ids=lambda i: f"{i:02d}:{CELLS[i].splitlines()[0][:40]}")  # fmt: skip
def test_readme_example_runs_as_written(readme_kernel, index):
    reply, outputs = execute(readme_kernel, CELLS[index], timeout=180)
    errors = ["\n".join(ANSI.sub("", line) for line in o["content"]["traceback"])
              for o in outputs if o["msg_type"] == "error"]  # fmt: skip
    assert reply["content"]["status"] == "ok" and not errors, f"{CELLS[index]}\n\n{errors}"
    if CELLS[index].startswith("#%submit_job"):
        shown = " ".join(str(o["content"].get("data", {}).get("text/plain", ""))
                         for o in outputs)  # fmt: skip
        assert "failed" not in shown, shown
