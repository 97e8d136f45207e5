"""Fixtures of the browser tests: one JupyterLab server and one headless Debian chromium per
module, a fresh page per test with the browser console's errors recorded.

They need Debian's chromium at /usr/bin/chromium (``scripts/setup`` installs it with apt;
``apt-get install chromium`` by hand), Playwright's Python package (the ``test`` extra) and
JupyterLab 4. Playwright never downloads a browser here: chromium is launched by path. Missing
any of them, the tests are skipped, saying which.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.browser.lab import CHROMIUM, CHROMIUM_ARGS, LabPage, LabServer


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return (f"no browser: {CHROMIUM} is missing (apt-get install chromium, or bash "
                "scripts/setup, which does it)")
    for module, extra in (("playwright", "playwright"), ("jupyterlab", "jupyterlab>=4")):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install '{extra}', in the test extra)"
    return None


@pytest.fixture(scope="module")
def lab():
    reason = _missing()
    if reason:
        pytest.skip(reason)
    server = LabServer(Path(tempfile.mkdtemp(prefix="pragma-lab-")))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.remove()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, lab):
    """A :class:`LabPage` in a new browser context; ``page.errors`` collects the console's
    errors and the page's uncaught exceptions."""
    page = LabPage.new(browser, lab)
    yield page
    page.page.context.close()
