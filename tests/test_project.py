"""Promises the project makes about itself: ruff-clean code and a README whose pragma reference
is the one generated from the declarations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- PRAGMA-REFERENCE:BEGIN -->", "<!-- PRAGMA-REFERENCE:END -->"


def test_the_code_is_ruff_clean():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_readme_reference_is_generated_from_the_declarations():
    generated = subprocess.run([sys.executable, "-m", "pragma_kernel.pragmas.reference"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout  # fmt: skip
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    written = readme[readme.index(BEGIN) + len(BEGIN):readme.index(END)]
    assert written.strip() == generated.strip(), (
        "README's pragma reference is stale: regenerate it with "
        "python -m pragma_kernel.pragmas.reference --update README.md")
