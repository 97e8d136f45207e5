"""text/plain of builtin containers, checked against IPython's own pretty printer (installed
with ipykernel, the test peer): same layout, sets sorted, long containers one item per line."""

from __future__ import annotations

import pytest
from IPython.lib.pretty import pretty
from pragma_kernel.kernel.display import plain_text


def _cyclic() -> list:
    items: list = [1]
    items.append(items)
    return items


CASES = {
    "short list": [1, 2, 3],
    "long list": list(range(40)),
    "over 1000 items": list(range(2000)),
    "strings set": {"gamma", "alpha", "beta"},
    "nested sets": ({"b", "a"}, frozenset({3, 1}), set(), (1,)),
    "cycle": _cyclic(),
    "dict of lists": {f"k{i}": [i] * 3 for i in range(6)},
    "list of dicts": [{"a": i, "b": "x" * 30} for i in range(3)],
    "triangle": [list(range(i)) for i in range(15)],
    "nested dicts": {"nested": {"deep": list(range(30))}, "x": 1},
    "long tuple": tuple(range(30)),
    "one-tuple": (1,),
    "long frozenset": frozenset(range(40)),
    "frozenset in list": [frozenset(range(30))],
    "long string in tuple": ("a" * 80,),
}


@pytest.mark.parametrize("value", CASES.values(), ids=CASES.keys())
def test_plain_text_matches_ipython_pretty(value):
    assert plain_text(value) == pretty(value)


def test_unorderable_set_keeps_hash_order():
    value = {1, "a"}
    assert plain_text(value) == repr(value)


def test_shell_start_imports_neither_ipython_matplotlib_nor_jedi_and_patches_ipython_later():
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys\n"
        "from pragma_kernel.kernel.shell import PythonShell\n"
        "PythonShell()\n"
        "heavy = [m for m in ('IPython', 'matplotlib', 'jedi', 'asyncio') if m in sys.modules]\n"
        "import pragma_kernel.kernel.display\n"
        "from IPython.display import display, clear_output\n"
        "import IPython.core.display_functions as functions\n"
        "print(heavy, display is pragma_kernel.kernel.display.display,\n"
        "      functions.clear_output is pragma_kernel.kernel.display.clear_output)\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=root, check=True)
    assert result.stdout.strip() == "[] True True"
