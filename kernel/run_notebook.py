"""Execute a notebook end to end on the pragma kernel with nbclient (the README's main job).

    python -m pragma_kernel.kernel.run_notebook IN.ipynb [OUT.ipynb] [--kernel pragma] [--timeout 600]
        [-p NAME VALUE ...]

Prints each cell's text outputs as it goes and exits non-zero when a cell fails. ``-p NAME
VALUE`` gives a job variable (or a name of the cell tagged ``parameters``) another value, as
papermill's ``-p`` does: see ``pragma_kernel.pragmas.notebook_parameters``. A name the notebook
does not declare ends the run at once with status 2, before any cell runs.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _text_of(output: dict) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return output.get("text", "")
    if kind == "error":
        return ANSI.sub("", "\n".join(output.get("traceback", []))) + "\n"
    data = output.get("data", {})
    for mime in ("text/plain",):
        if mime in data:
            text = data[mime]
            return (text if isinstance(text, str) else "".join(text)) + "\n"
    pictures = [m for m in data if m.startswith("image/")]
    return f"[{', '.join(pictures)}]\n" if pictures else ""


def main(argv: list[str] | None = None) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    parser = argparse.ArgumentParser(prog="python -m pragma_kernel.kernel.run_notebook")
    parser.add_argument("notebook", type=Path)
    parser.add_argument("output", type=Path, nargs="?")
    parser.add_argument("--kernel", default="pragma")
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="a value for a job variable declared by "
                        "#%%job(variables=...), or for a name the cell tagged 'parameters' "
                        "assigns (papermill's -p)")  # fmt: skip
    args = parser.parse_args(argv)

    nb = nbformat.read(args.notebook, as_version=4)
    if args.parameter:
        from pragma_kernel.pragmas.notebook_parameters import UnknownParameterError, inject

        try:
            inject(nb, [tuple(p) for p in args.parameter])
        except UnknownParameterError as error:
            print(f"{parser.prog}: {args.notebook}: {error}", file=sys.stderr)
            return 2
        print("--- parameters: " + ", ".join(f"{n}={v}" for n, v in args.parameter))
    client = NotebookClient(
        nb,
        kernel_name=args.kernel,
        timeout=args.timeout,
        resources={"metadata": {"path": str(args.notebook.parent)}},
    )
    status = 0
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            print(f"--- In [{index}]: {cell.source.splitlines()[0] if cell.source else ''}")
            try:
                client.execute_cell(cell, index)
            except CellExecutionError:
                status = 1
            for output in cell.get("outputs", []):
                sys.stdout.write(_text_of(output))
            if status:
                break
    out = args.output or args.notebook.with_suffix(".out.ipynb")
    nbformat.write(nb, out)
    print(f"--- executed notebook written to {out}" + (" (a cell failed)" if status else ""))
    return status


if __name__ == "__main__":
    sys.exit(main())
