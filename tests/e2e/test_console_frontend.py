"""``jupyter console``, a terminal frontend that never applies ``update_display_data``, gets a
complete, append-only account of a job: its plan, a line per change of a task's state, the
final state with the summary; Ctrl-C says the job was cancelled.

The real console runs under pexpect in its test mode (``JUPYTER_CONSOLE_TEST``: a plain
``input()`` prompt, one line per cell), so task bodies come from files (``path=``).
"""

from __future__ import annotations

import os
import re
import sys

import pytest

pexpect = pytest.importorskip("pexpect")
pytest.importorskip("jupyter_console")

PROMPT = r"In \[\d+\]: "


@pytest.fixture
def console(tmp_path):
    (tmp_path / "short.py").write_text("import time\nprint('short started')\ntime.sleep(1)\n")
    (tmp_path / "long.py").write_text("import time\nprint('long started')\ntime.sleep(60)\n")
    env = dict(os.environ, JUPYTER_CONSOLE_TEST="1")
    argv = ["-m", "jupyter_console", "--kernel", "pragma",
            "--ZMQTerminalInteractiveShell.image_handler=None"]
    child = pexpect.spawn(sys.executable, argv, env=env, cwd=str(tmp_path), encoding="utf-8",
                          timeout=90, dimensions=(50, 200))
    try:
        child.expect(PROMPT)
        yield child
    finally:
        child.sendline("exit")
        child.expect(pexpect.EOF)
        child.close()


def run(child, line: str) -> str:
    """Type one cell; what the console printed until the next prompt."""
    child.sendline(line)
    child.expect(PROMPT)
    return child.before


def test_the_console_gets_every_state_change_and_the_summary(console):
    run(console, "#%connect(backend=local, workers=1)")
    run(console, "#%task(name=first)")
    run(console, "#%task(name=second, dep=[first], path=short.py)")
    text = run(console, "#%submit_job(name=demo)")
    lines = [line.strip() for line in text.splitlines()]
    plan = lines.index("Job demo (running on local: 1 worker process): 0/2 done")
    told = [line.split(" (")[0] for line in lines[plan:] if line.startswith("[job demo] ")]
    # changes are told at the display's pace (a change undone within 0.2 s may fold into the
    # next); the second task runs for a second, so its start is told
    assert "[job demo] second: running" in told, text
    assert all(re.fullmatch(r"\[job demo\] (first|second): (running|done in [\d.]+ s)", t)
               for t in told), text
    assert "[second] short started" in lines
    final = next(i for i, line in enumerate(lines) if line.startswith("Job demo (finished"))
    assert final > plan and "2/2 done" in lines[final]
    assert any(line.startswith("second") and "done" in line for line in lines[final:])
    assert any(line.startswith("wall time") for line in lines[final:]), text


def test_ctrl_c_in_the_console_says_the_job_was_cancelled(console):
    run(console, "#%connect(backend=local, workers=1)")
    run(console, "#%task(name=first)")
    run(console, "#%task(name=second, dep=[first], path=long.py)")
    console.sendline("#%submit_job(name=demo)")
    console.expect("long started")
    console.sendintr()
    console.expect(PROMPT)
    text = console.before
    assert "Job demo (cancelled by an interrupt; on local: 1 worker process): 1/2 done, " \
           "1 cancelled" in text, text
    assert "KeyboardInterrupt: job demo (id 1) was cancelled: 1 done, 1 cancelled" in text
