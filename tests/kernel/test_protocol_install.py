"""``python -m pragma_kernel.kernel install``: the kernelspec jupyter_client finds, with logos and argv[0]."""

from __future__ import annotations

import configparser
import json
import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from pragma_kernel.kernel.handlers import IMPLEMENTATION_VERSION
from pragma_kernel.kernel.install import install_kernelspec, kernel_spec

from tests.conftest import ROOT


def test_spec_comes_from_the_top_level_kernel_json_with_this_python():
    spec = kernel_spec()
    source = json.loads((ROOT / "kernel.json").read_text())
    assert spec["argv"] == [sys.executable, *source["argv"][1:]]
    assert spec["language"] == "python"
    assert "{connection_file}" in spec["argv"]


@pytest.mark.parametrize("cli", [False, True])
def test_install_into_a_prefix(tmp_path, cli):
    if cli:
        done = subprocess.run(
            [sys.executable, "-m", "pragma_kernel.kernel", "install", "--prefix", str(tmp_path), "--name", "pk"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "Installed kernelspec pk" in done.stdout
    else:
        install_kernelspec(prefix=str(tmp_path), name="pk")
    folder = tmp_path / "share" / "jupyter" / "kernels" / "pk"
    assert {p.name for p in folder.iterdir()} == {"kernel.json", "logo-32x32.png", "logo-64x64.png"}
    manager = KernelSpecManager(kernel_dirs=[str(folder.parent)])
    spec = manager.get_kernel_spec("pk")
    assert spec.argv[0] == sys.executable
    assert spec.interrupt_mode == "signal"
    assert Path(spec.resource_dir, "logo-64x64.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_without_a_connection_file_prints_usage():
    done = subprocess.run(
        [sys.executable, "-m", "pragma_kernel.kernel"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "python -m pragma_kernel.kernel -f CONNECTION_FILE" in done.stderr


def test_cli_with_a_bad_connection_file_says_why(tmp_path):
    bad = tmp_path / "connection.json"
    bad.write_text("{}")
    done = subprocess.run(
        [sys.executable, "-m", "pragma_kernel.kernel", "-f", str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2
    assert "connection file lacks 'shell_port'" in done.stderr


def test_implementation_version_matches_setup_cfg():
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "setup.cfg")
    assert IMPLEMENTATION_VERSION == config["metadata"]["version"]
