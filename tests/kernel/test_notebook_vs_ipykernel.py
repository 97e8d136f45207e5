"""One notebook executed by nbclient on the ``pragma`` kernel and on ipykernel (the reference
kernel, its ``python3`` spec installed for this interpreter): every cell must produce the same
outputs.

What is normalised before comparing, and why (each is a legitimate difference, not a bug):

- ANSI colour codes are removed: IPython colours the source lines of tracebacks with pygments;
  we colour the frame headers and markers the same way but not the code itself.
- A SyntaxError's ``evalue`` loses its ``(file, line n)`` suffix: IPython compiles cells under a
  hashed temporary file name (``767713950.py``), we under the cell's label (``<Cell In[9]>``).
  The traceback text, which is what users see, is compared unchanged.
- ``\\r\\n`` becomes ``\\n`` in streams: ipykernel runs ``!commands`` in a pseudo-terminal (which
  writes CRLF), we through a pipe.
- PNG images are compared as "a PNG", not byte for byte: the inline backends use different dpi
  and cropping settings.
- Traceback frames keep their header, their ``---->`` line and any ``[... skipping`` note but
  lose the context lines around: IPython picks them by statement with stack_data, we show up to
  two lines either side, within the frame's function. Both dedent the lines they show, so the
  indentation of the ``---->`` line depends on that choice and is dropped too.
- Consecutive stream outputs of one name are merged: how text is batched into messages depends
  on timing, not on the kernel.
- Mime bundles are compared as dicts (key order is irrelevant).
Execution counts are *not* normalised: both kernels number the cells 1, 2, 3, ...
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

REFERENCE_KERNEL = "ipykernel-reference"  #: ipykernel's python3 spec, installed for this test
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SYNTAX_LOCATION = re.compile(r" \([^()]*, line \d+\)$")
ARROW_LINE = re.compile(r"^(-*> \d+ )\s+")
CONTEXT_LINE = re.compile(r"^ *\d+ |^ +\(\.\.\.\)")  # "    341 code" ("--> 346" is kept)

CELLS = [
    "print('hello, world')",
    "x = 21\nx * 2",
    "import sys\nprint('to stderr', file=sys.stderr)",
    (
        "from IPython.display import HTML, Markdown, display\n"
        "display(HTML('<b>hi</b>'), Markdown('*md*'))"
    ),
    "display('plain text')",
    "h = display('before', display_id='fixed-id')\nh.update('after')",
    "1/0",
    "def f():\n    return 1/0\nf()",
    "raise = 2",
    "import json\njson.loads('{')",
    "def g(a, *args, key=1, **kw):\n    raise KeyError(a)\ng('k')",
    "!echo from the shell",
    "list(range(40))",
    "{'key%d' % i: i for i in range(12)}",
    "({'gamma', 'alpha', 'beta'}, frozenset({3, 1, 2}), set())",
    "{'gamma', 'alpha', 'beta'}",
    (
        "class Rich:\n    def _repr_html_(self):\n        return '<i>rich</i>'\n"
        "    def __repr__(self):\n        return 'Rich()'\nRich()"
    ),
    "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3]);",
    "print('a', end='')\nprint('b')\n'not shown';",
    "import numpy as np\nnp.arange(6).reshape(2, 3)",
    "for i in range(3):\n    print(i)\ni",
    (
        "class Boom(Exception):\n    pass\ntry:\n    1/0\nexcept ZeroDivisionError as e:\n"
        "    raise Boom('wrapped') from e"
    ),
]


def ensure_reference_kernel() -> None:
    """ipykernel's kernelspec for this very interpreter, installed into a temporary prefix on
    JUPYTER_PATH under its own name, so a ``python3`` spec of another environment can never be
    picked up instead."""
    if REFERENCE_KERNEL in KernelSpecManager().find_kernel_specs():
        return
    from ipykernel.kernelspec import install

    prefix = tempfile.mkdtemp(prefix="ipykernel-spec-")
    install(prefix=prefix, kernel_name=REFERENCE_KERNEL)
    jupyter_path = str(Path(prefix) / "share" / "jupyter")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        filter(None, [jupyter_path, os.environ.get("JUPYTER_PATH")])
    )


def run_notebook(kernel_name: str) -> list[list[dict]]:
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# A notebook for both kernels")]
        + [nbformat.v4.new_code_cell(source) for source in CELLS]
    )
    NotebookClient(notebook, kernel_name=kernel_name, timeout=60, allow_errors=True).execute()
    return [cell.outputs for cell in notebook.cells if cell.cell_type == "code"]


@pytest.fixture(scope="module")
def outputs_by_kernel() -> dict[str, list[list[dict]]]:
    ensure_reference_kernel()
    return {name: run_notebook(name) for name in ("pragma", REFERENCE_KERNEL)}


def normalise(outputs: list[dict]) -> list[dict]:
    merged: list[dict] = []
    for output in outputs:
        output = _plain(dict(output))
        if output["output_type"] == "stream":
            output["text"] = output["text"].replace("\r\n", "\n")
            if merged and merged[-1]["output_type"] == "stream" \
                    and merged[-1]["name"] == output["name"]:
                merged[-1]["text"] += output["text"]
                continue
        if output["output_type"] == "error":
            output["traceback"] = [_without_context_lines(chunk) for chunk in output["traceback"]]
            if output["ename"] == "SyntaxError":
                output["evalue"] = SYNTAX_LOCATION.sub("", output["evalue"])
        if "image/png" in output.get("data", {}):
            png = base64.b64decode(output["data"]["image/png"])
            output["data"]["image/png"] = "<a PNG>" if png.startswith(PNG_MAGIC) else "<not PNG>"
        merged.append(output)
    return merged


def _without_context_lines(chunk: str) -> str:
    """A frame chunk ("Cell In[n], line k" + numbered source lines) without the unmarked lines."""
    if not chunk.startswith(("Cell In[", "File ")):
        return chunk
    return "".join(ARROW_LINE.sub(r"\1", line) for line in chunk.splitlines(keepends=True)
                   if not CONTEXT_LINE.match(line))


def _plain(value):
    if isinstance(value, str):
        return ANSI.sub("", value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


@pytest.mark.parametrize("index", range(len(CELLS)), ids=lambda i: CELLS[i].split("\n")[0][:30])
def test_cell_outputs_match_ipykernel(outputs_by_kernel, index):
    ours = normalise(outputs_by_kernel["pragma"][index])
    reference = normalise(outputs_by_kernel[REFERENCE_KERNEL][index])
    assert ours == reference


def test_the_notebook_exercises_every_output_type(outputs_by_kernel):
    kinds = {output["output_type"] for cell in outputs_by_kernel["pragma"] for output in cell}
    assert kinds == {"stream", "display_data", "execute_result", "error"}
