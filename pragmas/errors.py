"""Errors of the pragma language, each one a :class:`kernel.seam.CellError` the kernel can show.

A located error knows the cell line it is about and the column of the offending character, so its
traceback reads like Python's own ``SyntaxError``::

      Cell In[3], line 1, column 30
        #%task(name=train, dep=[prep)
                                    ^
    PragmaSyntaxError: #%task, parameter 'dep': expected ',' or ']' in the list, found ')'

Parsing happens before the cell's label is known, so the label is filled in later with
:meth:`LocatedError.relabel`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pragma_kernel.kernel.seam import CellError


@dataclass(frozen=True)
class Location:
    """A point in a cell: the line as written, its 1-based number and a 0-based column."""

    line: str
    lineno: int
    column: int


def location_block(label: str, location: Location) -> list[str]:
    """Header, the line as written and a caret under ``location.column``."""
    shown = location.line.rstrip("\r\n")
    # Tabs would shift the caret: expand them in both the line and the caret prefix.
    caret_at = len(shown[: location.column].expandtabs())
    return [
        f"  {label}, line {location.lineno}, column {location.column + 1}",
        f"    {shown.expandtabs()}",
        "    " + " " * caret_at + "^",
    ]


class PragmaError(CellError):
    """Base of every pragma-language error; ``ename`` is the class name."""

    #: whether the engine shows the pragma line the error came from above it (False for
    #: errors whose message already says everything, in one line)
    shows_pragma_line = True

    def __init__(self, message: str, traceback: list[str] | None = None):
        super().__init__(type(self).__name__, message, traceback)
        self.message = message

    def shown_at(self, label: str, location: Location) -> PragmaError:
        """Show the pragma line this error came from above it (for errors raised by a
        handler about the job rather than about a value of the line); returns self."""
        self.traceback = [*location_block(label, location), *self.traceback]
        return self


class LocatedError(PragmaError):
    """An error at a line and column of the cell; the traceback shows the line and a caret."""

    def __init__(
        self,
        message: str,
        location: Location,
        *,
        pragma: str | None = None,
        param: str | None = None,
        label: str = "<cell>",
    ):
        self.location = location
        self.pragma = pragma
        self.param = param
        self.label = label
        super().__init__(message)
        self.traceback = self._traceback()

    @property
    def column(self) -> int:
        """0-based column of the caret in the line as written."""
        return self.location.column

    @property
    def lineno(self) -> int:
        return self.location.lineno

    def relabel(self, label: str, line_offset: int = 0) -> LocatedError:
        """Name the cell (``Cell In[3]``) and shift the line number; returns self."""
        self.label = label
        if line_offset:
            loc = self.location
            self.location = Location(loc.line, loc.lineno + line_offset, loc.column)
        self.traceback = self._traceback()
        return self

    def source_lines(self) -> list[str]:
        """The location block: header, the line, the caret (without the final ename line)."""
        return location_block(self.label, self.location)

    def _traceback(self) -> list[str]:
        return [*self.source_lines(), f"{self.ename}: {self.evalue}"]


class PragmaSyntaxError(LocatedError):
    """The pragma line does not follow the grammar."""


class PragmaUsageError(LocatedError):
    """A well-formed line that names an unknown pragma or parameter, or gives a wrong value."""


class TaskSyntaxError(LocatedError):
    """A Python task body (or ``#%import`` code) that does not compile."""


class PragmaStateError(PragmaError):
    """A pragma that cannot apply to the job as it is (unknown task, control flow out of order)."""


class JobValidationError(PragmaError):
    """The job cannot run; ``problems`` lists every reason, all found in one pass."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        count = len(self.problems)
        head = "the job cannot run: " + (
            self.problems[0] if count == 1 else f"{count} problems (listed above)"
        )
        lines = [f"  - {p}" for p in self.problems] if count > 1 else []
        super().__init__(head)
        self.traceback = [*lines, f"{self.ename}: {self.evalue}"]


class GraphvizMissingError(PragmaError):
    """Drawing needs the ``dot`` program of Graphviz, which is not on PATH."""

    def __init__(self) -> None:
        super().__init__(
            "drawing the job needs Graphviz's 'dot' program, which is not on PATH. Install it "
            "with 'apt-get install graphviz' (Debian/Ubuntu), 'brew install graphviz' (macOS) or "
            "'conda install graphviz', then run the cell again."
        )


class OptionalPartMissing(PragmaError):
    """A pragma needs an optional dependency that is not installed in the kernel's environment."""

    def __init__(self, what: str, extra: str, packages: str) -> None:
        super().__init__(
            f"{what} needs {packages}, which is not installed in this kernel's environment. "
            f"Install it with: pip install 'pragma-kernel[{extra}]' (or, from a cell, "
            f"%pip install {packages}), then restart the kernel."
        )


class CellErrors(PragmaError):
    """Several located errors of one cell, reported together as one Jupyter error."""

    def __init__(self, errors: Sequence[LocatedError]):
        self.errors = list(errors)
        first = self.errors[0]
        lines: list[str] = []
        for error in self.errors:
            lines += [*error.source_lines(), f"{error.ename}: {error.evalue}", ""]
        super().__init__(f"{len(self.errors)} problems in this cell; the first: {first.evalue}")
        self.ename = first.ename
        self.traceback = [*lines[:-1], "", f"{self.ename}: {self.evalue}"]


def combine(errors: Sequence[LocatedError]) -> PragmaError:
    """One error for the cell: the error itself when alone, else :class:`CellErrors`."""
    return errors[0] if len(errors) == 1 else CellErrors(errors)
