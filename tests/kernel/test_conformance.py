"""jupyter_kernel_test's conformance suite against the pragma kernel, every attribute set.

``kernel_name`` must be set: the suite's default (``python3``) would silently test ipykernel.
The kernelspec ``pragma`` is the one tests/conftest.py installs for the test run.
"""

from __future__ import annotations

import unittest
from typing import ClassVar

import jupyter_kernel_test

from tests.conftest import KERNEL_NAME


class PragmaKernelConformance(jupyter_kernel_test.KernelTests):
    kernel_name = KERNEL_NAME
    language_name = "python"
    file_extension = ".py"

    code_hello_world = "print('hello, world')"
    code_stderr = "import sys; print('an error', file=sys.stderr)"

    completion_samples: ClassVar[list] = [
        {"text": "zi", "matches": {"zip"}},
        {"text": "import itertoo", "matches": {"itertools"}},
    ]

    complete_code_samples: ClassVar[list] = ["1", "print('hello, world')", "def f(x):\n  return x*2\n\n\n"]
    incomplete_code_samples: ClassVar[list] = ["print('''hello", "def f(x):\n  x*2", "for i in range(3):"]
    invalid_code_samples: ClassVar[list] = ["import = 7q", "1 +* 2"]

    code_page_something = "print?"

    code_generate_error = "raise ValueError('conformance')"

    code_execute_result: ClassVar[list] = [
        {"code": "1+2+3", "result": "6"},
        {"code": "[n*n for n in range(4)]", "result": "[0, 1, 4, 9]"},
        {"code": "'text'", "result": "'text'"},
    ]

    code_display_data: ClassVar[list] = [
        {"code": "display({'text/html': '<b>bold</b>'}, raw=True)", "mime": "text/html"},
        {
            "code": "from IPython.display import HTML, display\ndisplay(HTML('<i>it</i>'))",
            "mime": "text/html",
        },
    ]

    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "1+2*"

    code_inspect_sample = "zip"

    code_clear_output = "from IPython.display import clear_output\nclear_output()"


class PragmaKernelIopubWelcome(jupyter_kernel_test.IopubWelcomeTests):
    kernel_name = KERNEL_NAME
    support_iopub_welcome = True


if __name__ == "__main__":
    unittest.main()
