"""``python -m pragma_kernel.kernel install``: the kernelspec from the top-level ``kernel.json``, with logos,
through jupyter_client's KernelSpecManager."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from pragma_kernel.kernel.handlers import debugger_available

KERNEL_NAME = "pragma"
RESOURCES = Path(__file__).parent / "resources"
#: the top-level kernel.json of a checkout (editable install), else the copy a regular install
#: puts in ``sys.prefix/share/jupyter/kernels/pragma`` (setup.cfg's data_files)
KERNEL_JSON_CANDIDATES = (
    Path(__file__).resolve().parent.parent / "kernel.json",
    Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json",
)
KERNEL_JSON = next((p for p in KERNEL_JSON_CANDIDATES if p.is_file()), KERNEL_JSON_CANDIDATES[0])


class KernelSpecSourceMissing(FileNotFoundError):
    """kernel.json is found neither beside the package nor in the installed data files."""


def kernel_spec(python: str | None = None) -> dict[str, Any]:
    """The spec of ``kernel.json`` with argv[0] replaced by this interpreter's absolute path
    (other launchers than jupyter_client run argv as written)."""
    if not KERNEL_JSON.is_file():
        raise KernelSpecSourceMissing(
            f"kernel.json not found ({', '.join(map(str, KERNEL_JSON_CANDIDATES))}): "
            "reinstall pragma-kernel (pip install pragma-kernel, or pip install -e . in a checkout)"
        )
    spec = json.loads(KERNEL_JSON.read_text(encoding="utf-8"))
    spec["argv"] = [python or sys.executable, *spec["argv"][1:]]
    if python is None or python == sys.executable:  # another interpreter: kernel.json's word
        spec.setdefault("metadata", {})["debugger"] = debugger_available()
    return spec


def install_kernelspec(
    user: bool = False,
    prefix: str | None = None,
    name: str = KERNEL_NAME,
    python: str | None = None,
) -> str:
    """Install the spec (into the user dir, ``prefix``, or the system dir); returns its path."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as staging:
        folder = Path(staging) / name
        folder.mkdir()
        (folder / "kernel.json").write_text(json.dumps(kernel_spec(python), indent=1) + "\n")
        for logo in RESOURCES.glob("logo-*.png"):
            shutil.copy(logo, folder / logo.name)
        return KernelSpecManager().install_kernel_spec(
            str(folder), kernel_name=name, user=user, prefix=prefix
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pragma_kernel.kernel install", description=__doc__)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="into ~/.local/share/jupyter")
    where.add_argument("--sys-prefix", action="store_true", help=f"into {sys.prefix}")
    where.add_argument("--prefix", help="into PREFIX/share/jupyter/kernels")
    parser.add_argument("--name", default=KERNEL_NAME, help="kernelspec name (default: pragma)")
    args = parser.parse_args(argv)
    prefix = sys.prefix if args.sys_prefix else args.prefix
    path = install_kernelspec(user=args.user, prefix=prefix, name=args.name)
    print(f"Installed kernelspec {args.name} in {path}")
    return 0
