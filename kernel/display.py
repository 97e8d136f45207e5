"""The kernel's rich display: :mod:`pragma_kernel.pragmas.rich_display` (shared with the task
runtime, which must run on workers without the kernel) with the kernel's parts plugged in:
output from a background thread goes to the latest cell's context, each shell (the main one,
each subshell) has its own running cell, and figures use the inline
backend's format (``%config InlineBackend.figure_format``). Kernel code imports display from
here, so that the kernel's parts are plugged in before anything is displayed.
"""

from __future__ import annotations

from typing import Any

from pragma_kernel.kernel.context import PerShell, current_context
from pragma_kernel.pragmas.rich_display import (
    REPR_METHODS,
    DisplayHandle,
    PlainTextPrinter,
    PostImportPatcher,
    active_context,
    clear_output,
    display,
    format_mimebundle,
    install_ipython_hook,
    install_post_import_patches,
    ipython_display,
    new_display_id,
    patch_ipython_display_functions,
    plain_text,
    plug_in,
    publish_display_data,
    set_shell_context,
    update_display,
)

__all__ = [
    "REPR_METHODS", "DisplayHandle", "PlainTextPrinter", "PostImportPatcher", "active_context",
    "clear_output", "display", "format_mimebundle", "install_ipython_hook",
    "install_post_import_patches", "ipython_display", "new_display_id",
    "patch_ipython_display_functions", "plain_text", "publish_display_data",
    "set_shell_context", "update_display",
]


def _inline_figure(figure: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    from pragma_kernel.kernel.mpl_backend import figure_bundle  # matplotlib only when needed

    return figure_bundle(figure)


# one running cell per shell: the main shell's and each subshell's (kernel.subshells)
plug_in(fallback_context=current_context, figure_bundle=_inline_figure,
        shell_context=PerShell(None))
