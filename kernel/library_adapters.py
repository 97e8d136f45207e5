"""The choices libraries make under ipykernel, where they recognise it by ipykernel's own names.

A few libraries decide how to show output by looking for ipykernel's modules or classes, not by
asking ``get_ipython()`` (:mod:`kernel.ipython_compat`). Each adapter below is applied right after
its module is first imported (nothing is imported at start-up), names the test it answers, and
makes the same choice that test makes under ipykernel in Jupyter:

- ``tqdm.autonotebook`` (so ``tqdm.auto``) picks the widget progress bar when
  ``'ipykernel.zmqshell' in sys.modules``; here too, unless in a Qt console or Spyder, as tqdm
  itself checks.
- ``plotly.io`` picks the ``plotly_mimetype`` renderer when the shell's class comes from the
  ``ipykernel`` package, else ``plotly_mimetype+notebook`` (which also embeds plotly.js, 4 MB, in
  the notebook); here ``plotly_mimetype`` when plotly found no other frontend (VS Code, Colab...)
  and ``PLOTLY_RENDERER`` is unset.
- ``ipywidgets``' ``interact`` shows the figures of a callback at once when matplotlib's backend
  is one of the inline backends it knows by name; this kernel's inline backend is added.
- ``bokeh.io.notebook.get_comms`` (``show(..., notebook_handle=True)``) builds ipykernel's
  ``Comm`` class directly; here the ``comm`` package's ``create_comm``, which is what that class
  is under ipykernel.
"""

from __future__ import annotations

import os
import sys
import warnings
from types import ModuleType
from typing import Any

from pragma_kernel.kernel.display import install_post_import_patches


def install() -> None:
    """Apply each adapter when (or now, if) its module is imported."""
    install_post_import_patches({
        "tqdm.autonotebook": _tqdm_autonotebook,
        "plotly.io._renderers": _plotly_renderers,
        "ipywidgets.widgets.interaction": _ipywidgets_interaction,
        "bokeh.io.notebook": _bokeh_notebook,
    })


def _tqdm_autonotebook(module: ModuleType) -> None:
    # stacklevel 3: past this function and the patching loader, to the importing line (Python
    # hides the import machinery's frames), where tqdm's own warnings point
    from tqdm import std

    if module.tqdm is not std.tqdm:  # tqdm chose the notebook bar itself
        return
    if any(name == "QT_API" or name.startswith("SPYDER") for name in os.environ):
        return  # tqdm's own test for a Qt console or Spyder: console bars
    from tqdm import notebook

    if notebook.IProgress is None:  # no ipywidgets: tqdm warns and keeps the console bar
        warnings.warn(notebook.WARN_NOIPYW, std.TqdmWarning, stacklevel=3)
        return
    module.tqdm, module.trange = notebook.tqdm, notebook.trange
    # the warning tqdm gives in notebook mode (tqdm.auto silences it)
    warnings.warn(
        "Using `tqdm.autonotebook.tqdm` in notebook mode. Use `tqdm.tqdm` instead to force "
        "console mode (e.g. in jupyter console)", std.TqdmExperimentalWarning, stacklevel=3,
    )


def _plotly_renderers(module: ModuleType) -> None:
    if os.environ.get("PLOTLY_RENDERER"):
        return
    if module.renderers.default == "plotly_mimetype+notebook":  # no frontend recognised
        module.renderers.default = "plotly_mimetype"


def _ipywidgets_interaction(module: ModuleType) -> None:
    knows_its_backends = module.show_inline_matplotlib_plots

    def show_inline_matplotlib_plots() -> None:
        knows_its_backends()
        if "matplotlib" not in sys.modules:
            return
        from pragma_kernel.kernel.shell import INLINE_BACKEND

        if sys.modules["matplotlib"].get_backend() == INLINE_BACKEND:
            from pragma_kernel.kernel import mpl_backend

            mpl_backend.flush_figures()

    show_inline_matplotlib_plots.__doc__ = knows_its_backends.__doc__
    module.show_inline_matplotlib_plots = show_inline_matplotlib_plots


def _bokeh_notebook(module: ModuleType) -> None:
    def get_comms(target_name: str) -> Any:
        import comm

        return comm.create_comm(target_name=target_name, data={})

    get_comms.__doc__ = module.get_comms.__doc__
    module.get_comms = get_comms
