"""A JupyterLab 4 server for the browser tests, and a Playwright page driving it.

The server listens on 127.0.0.1 on a free port with a random token; its root directory, config,
data, runtime, settings and workspaces are temporary folders of its own, so nothing of the
user's Jupyter set-up takes part. ``JUPYTER_PATH`` (set by ``tests/conftest.py``) holds the
test run's ``pragma`` kernelspec. ``window.jupyterapp`` is exposed so that tests drive Lab
through its own commands (run all, change theme) rather than through clicks on menus.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
#: the browser's flags: no sandbox (CI runs as root), and nothing that reaches the network
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
START_TIMEOUT = 90.0  #: seconds for the server to answer (a loaded 2-core machine is slow)

#: Lab's user settings: no news or update checks (they would reach the network)
_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False,
    },
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LabServer:
    """``jupyter lab`` as a child process, stopped by :meth:`stop`."""

    def __init__(self, home: Path):
        self.home = home
        self.root = home / "root"
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log_path = home / "lab.log"

    def start(self) -> None:
        for folder in ("root", "config", "data", "runtime", "settings", "workspaces"):
            (self.home / folder).mkdir(parents=True, exist_ok=True)
        for name, values in _SETTINGS.items():
            path = self.home / "settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(self.home / "config"),
            JUPYTER_DATA_DIR=str(self.home / "data"),
            JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
            JUPYTER_PLATFORM_DIRS="1",
        )
        argv = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
            f"--port={self.port}", "--port-retries=0", f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}", "--ServerApp.terminals_enabled=False",
            f"--LabApp.user_settings_dir={self.home / 'settings'}",
            f"--LabApp.workspaces_dir={self.home / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
            "--LabApp.extension_manager=readonly", "--allow-root",
        ]
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
            start_new_session=True,
        )
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited at start:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.api("status"), timeout=5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer within {START_TIMEOUT:.0f} s:\n{self.log()}")

    def api(self, path: str) -> str:
        return f"{self.url}/api/{path}?token={self.token}"

    def lab_url(self, notebook: str) -> str:
        return f"{self.url}/lab/tree/{notebook}?token={self.token}&reset"

    def add_notebook(
        self, name: str, source: Path | None = None, cells: list[str] | None = None,
        kernel: str = "pragma",
    ) -> str:
        """Put a notebook in the root: a copy of ``source``, or one made of ``cells``."""
        if source is not None:
            notebook = json.loads(source.read_text())
        else:
            notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
            for code in cells or []:
                notebook["cells"].append({"cell_type": "code", "metadata": {}, "source": code,
                                          "outputs": [], "execution_count": None})
        spec = {"name": kernel, "display_name": kernel, "language": "python"}
        notebook["metadata"]["kernelspec"] = spec
        (self.root / name).write_text(json.dumps(notebook))
        return name

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """Shut the server down (it stops its kernels); kill it if it does not end."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            request = urllib.request.Request(self.api("shutdown"), method="POST")
            urllib.request.urlopen(request, timeout=10).close()
            self.process.wait(timeout=30)
        except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=10)

    def remove(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)


#: JavaScript: the notebook panel JupyterLab shows, once its kernel is idle
_CURRENT = "window.jupyterapp && window.jupyterapp.shell.currentWidget"
_KERNEL_IDLE = (
    f"() => {{ const panel = {_CURRENT}; const kernel = panel && panel.sessionContext && "
    "panel.sessionContext.session && panel.sessionContext.session.kernel; "
    "return !!kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected'; }"
)
#: JavaScript: WCAG contrast of every visible text under ``root`` with its effective background
#: (colours with alpha blended over the nearest opaque background up the tree)
_TEXT_CONTRASTS = """(root) => {
  const parse = (c) => {
    const p = c.match(/rgba?\\(([^)]+)\\)/)[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const blend = (fg, bg) => [0, 1, 2].map((i) => fg[i] * fg[3] + bg[i] * (1 - fg[3]));
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255];
    for (const layer of layers.reverse()) bg = blend(layer, bg);
    return bg;
  };
  const lum = (rgb) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    const [r, g, b] = rgb.map(f);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const found = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    const el = walker.currentNode.parentElement;
    const style = getComputedStyle(el);
    if (!text || style.visibility !== 'visible' || el.getClientRects().length === 0) continue;
    const bg = background(el);
    const fg = blend(parse(style.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    found.push({text: text.slice(0, 60), ratio: (hi + 0.05) / (lo + 0.05)});
  }
  return found;
}"""


class LabPage:
    """A Playwright page on the server's JupyterLab, driven through Lab's own commands."""

    def __init__(self, page, server: LabServer, errors: list[str]):
        self.page = page
        self.server = server
        self.errors = errors  #: the console's errors and the page's uncaught exceptions

    @classmethod
    def new(cls, browser, server: LabServer) -> LabPage:
        """A page in a new browser context, collecting the console's errors and the page's
        uncaught exceptions (close it with ``page.page.context.close()``)."""
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        raw = context.new_page()
        errors: list[str] = []
        raw.on("console", lambda m: errors.append(f"console.error: {m.text}") if m.type == "error"
               else None)
        raw.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
        return cls(raw, server, errors)

    def open(self, notebook: str, timeout: float = 120) -> None:
        """Open the notebook and wait for its kernel to be ready."""
        self.page.goto(self.server.lab_url(notebook))
        self.page.wait_for_function(_KERNEL_IDLE, timeout=timeout * 1000)

    def command(self, name: str, args: dict | None = None):
        """Run a JupyterLab command; its promise is awaited (run-all ends with the last cell)."""
        return self.page.evaluate("([name, args]) => window.jupyterapp.commands.execute("
                                  "name, args).then(() => null)", [name, args or {}])

    def run_all(self, timeout: float = 240) -> None:
        self.page.set_default_timeout(timeout * 1000)
        self.command("notebook:run-all-cells")
        self.page.wait_for_function(_KERNEL_IDLE, timeout=timeout * 1000)

    def cell(self, index: int):
        """The index-th cell of the notebook (a Playwright locator)."""
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def cell_of(self, source_start: str):
        """The code cell whose source starts with ``source_start``."""
        sources = self.page.evaluate(
            f"() => {_CURRENT}.content.widgets.map((c) => c.model.sharedModel.getSource())")
        matches = [i for i, source in enumerate(sources) if source.startswith(source_start)]
        assert matches, f"no cell starts with {source_start!r}"
        return self.cell(matches[0])

    def use_theme(self, theme: str, timeout: float = 30) -> None:
        """Switch to ``theme`` ("JupyterLab Light", "JupyterLab Dark") and wait until on."""
        self.command("apputils:change-theme", {"theme": theme})
        self.page.wait_for_function(
            "(theme) => document.body.dataset.jpThemeName === theme && "
            "getComputedStyle(document.body).getPropertyValue('--jp-layout-color0').trim()",
            arg=theme, timeout=timeout * 1000)
        self.next_frames()  # the theme's stylesheet applies on the next frames

    def next_frames(self) -> None:
        self.page.evaluate("() => new Promise((done) => requestAnimationFrame("
                           "() => requestAnimationFrame(done)))")

    def text_contrasts(self, locator) -> list[dict]:
        return locator.evaluate(_TEXT_CONTRASTS)
