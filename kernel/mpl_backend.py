"""matplotlib's inline backend for the kernel: ``module://kernel.mpl_backend``.

Figures are drawn with Agg. ``plt.show()`` publishes every open figure as a PNG
``display_data`` and closes it; at the end of each cell the shell calls :func:`flush_figures`
so figures made in the cell appear without ``show()``, as in IPython's inline backend.
Outside a kernel cell (a subprocess that inherited ``MPLBACKEND``) ``show()`` does nothing,
like Agg, and figures stay open for whoever wants to save them.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from matplotlib import _pylab_helpers
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

BACKEND = "module://kernel.mpl_backend"

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args: Any, block: bool | None = None, **kwargs: Any) -> None:
    """Publish every open figure in the running cell and close them."""
    flush_figures()


def flush_figures() -> None:
    """Display and close all open figures (called at the end of every cell)."""
    from kernel.display import active_context, display

    if active_context() is None:
        return
    managers = _pylab_helpers.Gcf.get_all_fig_managers()
    if not managers:
        return
    try:
        for manager in managers:
            display(manager.canvas.figure)
    finally:
        import matplotlib.pyplot as plt

        plt.close("all")


def figure_png(figure: Any) -> str:
    """The figure as base64 PNG, cropped to its content like the inline backend does."""
    buffer = io.BytesIO()
    figure.canvas.print_figure(
        buffer,
        format="png",
        facecolor=figure.get_facecolor(),
        edgecolor=figure.get_edgecolor(),
        dpi=figure.dpi,
        bbox_inches="tight",
    )
    return base64.b64encode(buffer.getvalue()).decode("ascii")
