"""matplotlib backend for code running inside a task: ``module://pragma_kernel.pragmas.figures``.

Figures are drawn with Agg. ``plt.show()`` hands every open figure to the running task's output
capture as a PNG display output and closes it; figures still open when the task ends are
handed over then (``pragma_kernel.pragmas.runtime`` calls :func:`flush_figures`). Outside a task, ``show()``
does nothing, like Agg.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from matplotlib import _pylab_helpers
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

BACKEND = "module://pragma_kernel.pragmas.figures"

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args: Any, block: bool | None = None, **kwargs: Any) -> None:
    flush_figures()


def flush_figures() -> None:
    """Hand every open figure to the running task and close them."""
    from pragma_kernel.pragmas.runtime import active_capture

    capture = active_capture()
    managers = _pylab_helpers.Gcf.get_all_fig_managers()
    if capture is None or not managers:
        return
    import matplotlib.pyplot as plt

    try:
        for manager in managers:
            figure = manager.canvas.figure
            capture.display_bundle(
                {"image/png": figure_png(figure), "text/plain": repr(figure)}, {}
            )
    finally:
        plt.close("all")


def figure_png(figure: Any) -> str:
    """The figure as base64 PNG, cropped to its content like Jupyter's inline backend."""
    buffer = io.BytesIO()
    figure.canvas.print_figure(buffer, format="png", dpi=figure.dpi, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
