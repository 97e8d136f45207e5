"""matplotlib's inline backend for the kernel: ``module://pragma_kernel.kernel.mpl_backend``.

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

BACKEND = "module://pragma_kernel.kernel.mpl_backend"

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args: Any, block: bool | None = None, **kwargs: Any) -> None:
    """Publish every open figure in the running cell and close them."""
    flush_figures()


def flush_figures() -> None:
    """Display and close all open figures (called at the end of every cell)."""
    from pragma_kernel.kernel.display import active_context, display

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


FIGURE_FORMATS = ("png", "retina", "jpeg", "svg")
figure_format = "png"  #: set by ``%config InlineBackend.figure_format = '...'``


def figure_bundle(figure: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The figure in the chosen format, with the metadata frontends need to size it."""
    if figure_format == "svg":
        return {"image/svg+xml": _print(figure, "svg").decode("utf-8")}, {}
    if figure_format == "jpeg":
        return {"image/jpeg": _base64(_print(figure, "jpeg"))}, {}
    if figure_format == "retina":
        png = _print(figure, "png", dpi=2 * figure.dpi)
        width, height = _png_size(png)
        size = {"width": width // 2, "height": height // 2}
        return {"image/png": _base64(png)}, {"image/png": size}
    return {"image/png": figure_png(figure)}, {}


def figure_png(figure: Any) -> str:
    """The figure as base64 PNG, cropped to its content like the inline backend does."""
    return _base64(_print(figure, "png"))


def _print(figure: Any, file_format: str, dpi: float | None = None) -> bytes:
    buffer = io.BytesIO()
    figure.canvas.print_figure(
        buffer,
        format=file_format,
        facecolor=figure.get_facecolor(),
        edgecolor=figure.get_edgecolor(),
        dpi=dpi or figure.dpi,
        bbox_inches="tight",
    )
    return buffer.getvalue()


def _png_size(png: bytes) -> tuple[int, int]:
    # the IHDR chunk right after the 8-byte signature holds width and height
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
