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
