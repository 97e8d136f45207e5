"""Rich display of Python objects: ``display()``, display handles, ``clear_output`` and the
mime-bundle formatter shared by ``display`` and a cell's ``execute_result``.

Shared by the kernel's cells and the task runtime (a task's ``display()``, its result), so it
depends on nothing of the kernel: code running on a Dask or ProActive worker needs only the
``pragmas`` package. The kernel plugs in what only it knows (:mod:`pragma_kernel.kernel.display`):
where output goes when no cell context is set (a background thread's cell) and the inline
backend's figure format.

It follows IPython's protocol so that objects written for Jupyter show up the same way:
``_ipython_display_``, ``_repr_mimebundle_`` and the ``_repr_<format>_`` methods, with
``_repr_pretty_`` (or ``repr``) for ``text/plain``. When the user imports ``IPython.display``,
:func:`install_ipython_hook` makes IPython's own ``display``/``clear_output``/``update_display``
publish through this module (IPython's versions only print when no IPython shell runs).
"""

from __future__ import annotations

import base64
import importlib.abc
import importlib.machinery
import inspect
import itertools
import json
import re
import sys
import traceback
import types
import uuid
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

#: mime type -> the ``_repr_*_`` method that produces it, in IPython's order
REPR_METHODS: dict[str, str] = {
    "text/html": "_repr_html_",
    "text/markdown": "_repr_markdown_",
    "image/svg+xml": "_repr_svg_",
    "image/png": "_repr_png_",
    "application/pdf": "_repr_pdf_",
    "image/jpeg": "_repr_jpeg_",
    "text/latex": "_repr_latex_",
    "application/json": "_repr_json_",
    "application/javascript": "_repr_javascript_",
}
_BINARY_TYPES = {"image/png", "image/jpeg", "application/pdf"}
_PLAIN_WIDTH = 79

class ProcessSlot:
    """A value for the whole process: where the running cell's display goes (a task's). The
    kernel plugs in a slot per shell instead, since its subshells run cells at the same time."""

    def __init__(self) -> None:
        self.value: Any = None

    def get(self) -> Any:
        return self.value

    def set(self, value: Any) -> Any:
        previous, self.value = self.value, value
        return previous


_shell_context: Any = ProcessSlot()  # set by PythonShell (and a task) while a cell runs
#: where output goes when no context is set (the kernel: the latest cell's, for threads)
_fallback_context: Callable[[], Any] = lambda: None


def plug_in(fallback_context: Callable[[], Any] | None = None,
            figure_bundle: Callable[[Any], tuple[dict, dict]] | None = None,
            shell_context: Any = None) -> None:
    """The host's parts: the output context when none is set, the figure formatter, and the
    slot (``get()``, ``set(value) -> previous``) holding the running cell's context."""
    global _fallback_context, _figure_bundle, _shell_context
    if fallback_context is not None:
        _fallback_context = fallback_context
    if figure_bundle is not None:
        _figure_bundle = figure_bundle
    if shell_context is not None:
        _shell_context = shell_context


def active_context() -> Any:
    """The output context of the running cell (or the latest one, for background threads)."""
    ctx = _shell_context.get()
    if ctx is not None:
        return ctx
    return _fallback_context()


def set_shell_context(ctx: Any) -> Any:
    """Make ``ctx`` the context ``display()`` publishes to; returns the previous one."""
    return _shell_context.set(ctx)


# --------------------------------------------------------------------------------------------
# Formatting


def format_mimebundle(
    obj: Any, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The mime bundle and metadata of ``obj``, like IPython's ``DisplayFormatter.format``."""
    data: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    include_set = set(include) if include else None
    exclude_set = set(exclude) if exclude else set()
    bundle_method = _real_method(obj, "_repr_mimebundle_")
    if bundle_method is not None:
        # keywords, as IPython passes them: ipywidgets' and ipympl's take only **kwargs
        result = _call_repr(
            bundle_method, "_repr_mimebundle_", include=include, exclude=exclude
        )
        if isinstance(result, tuple) and len(result) == 2:
            result, bundle_md = result
            if isinstance(bundle_md, dict):
                metadata.update(bundle_md)
        if isinstance(result, dict):
            encoded = {k: _encode(k, v) if isinstance(k, str) else v for k, v in result.items()}
            data.update({k: v for k, v in encoded.items() if _valid(k, v, "_repr_mimebundle_")})
        elif result is not None:
            _warn(f"_repr_mimebundle_ returned {type(result).__name__}, not a dict: ignored")
    figure_data, figure_metadata = _matplotlib_figure(obj)
    data.update(figure_data)
    metadata.update(figure_metadata)
    for mime, method_name in REPR_METHODS.items():
        if mime in data:
            continue
        method = _real_method(obj, method_name)
        if method is None:
            continue
        value = _call_repr(method, method_name)
        if isinstance(value, tuple) and len(value) == 2:
            value, value_md = value
            if value_md:
                metadata[mime] = value_md
        if value is not None:
            value = _encode(mime, value)
            if _valid(mime, value, method_name):
                data[mime] = value
    # text/plain first, as IPython orders the bundle
    data = {"text/plain": data.pop("text/plain") if "text/plain" in data else plain_text(obj),
            **data}
    data = {k: v for k, v in data.items() if _wanted(k, include_set, exclude_set)}
    return data, metadata


def plain_text(obj: Any) -> str:
    """``text/plain``: ``_repr_pretty_`` when the object has one, else its repr, with builtin
    containers laid out as IPython's pretty printer does (sets sorted, long ones one item per
    line, more than 1000 items cut with ``...``)."""
    pretty = _real_method(obj, "_repr_pretty_")
    if pretty is not None:
        printer = PlainTextPrinter()
        pretty(printer, False)
        return printer.getvalue()
    if type(obj) in _CONTAINERS:
        return _pretty_container(obj, 0, 0, set())
    return _printed_like_ipython(obj)


_BUILTIN_MODULES = ("builtins", "__builtin__", "exceptions", None, "")


def _printed_like_ipython(obj: Any) -> str:
    """The text IPython's pretty printer gives classes (``int``, ``__main__.C``), functions
    (``<function __main__.f(x)>``), exceptions (``__main__.E('x')``) and objects without a
    ``__repr__`` of their own (``<__main__.C at 0x7f...>``); the repr for everything else."""
    for cls in type(obj).__mro__:
        if cls is type:
            return _qualified_name(obj)
        if cls in (types.FunctionType, types.BuiltinFunctionType):
            return _function_text(obj)
        if cls is BaseException:
            args = ", ".join(plain_text(arg) for arg in getattr(obj, "args", ()))
            return f"{_qualified_name(type(obj))}({args})"
        if cls is not object and "__repr__" in vars(cls):  # a repr of its own wins
            return repr(obj)
    return f"<{_qualified_name(type(obj))} at 0x{id(obj):x}>"


def _qualified_name(cls: type) -> str:
    name = getattr(cls, "__qualname__", None)
    if not isinstance(name, str):
        name = cls.__name__
    module = getattr(cls, "__module__", None)
    return name if module in _BUILTIN_MODULES else f"{module}.{name}"


def _function_text(function: Any) -> str:
    name = getattr(function, "__qualname__", function.__name__)
    module = getattr(function, "__module__", None)
    if module not in _BUILTIN_MODULES:
        name = f"{module}.{name}"
    try:
        name += str(inspect.signature(function))
    except (TypeError, ValueError):  # builtins without a text signature
        pass
    return f"<function {name}>"


_CONTAINERS = (list, tuple, dict, set, frozenset)
_MAX_ITEMS = 1000


def _pretty_container(obj: Any, column: int, indent: int, seen: set[int]) -> str:
    """Flat when it fits in the line from ``column``, else one item per line, indented like
    IPython: by the width of every enclosing opening bracket."""
    if id(obj) in seen:
        return _CYCLE[type(obj)]
    seen = seen | {id(obj)}
    open_text, close_text, items = _container_parts(obj)
    if not items:
        return repr(obj)
    flat = open_text + ", ".join(_flat(item, seen) for item in items) + close_text
    if column + len(flat) <= _PLAIN_WIDTH:
        return flat
    inner = indent + len(open_text)
    lines = [
        _pretty_item(item, column + len(open_text) if i == 0 else inner, inner, seen)
        for i, item in enumerate(items)
    ]
    return open_text + (",\n" + " " * inner).join(lines) + close_text


_CYCLE = {list: "[...]", tuple: "(...)", dict: "{...}", set: "{...}", frozenset: "frozenset({...})"}


def _container_parts(obj: Any) -> tuple[str, str, list[Any]]:
    kind = type(obj)
    if kind is dict:
        items: list[Any] = [_DictItem(k, v) for k, v in itertools.islice(obj.items(), _MAX_ITEMS)]
    elif kind in (set, frozenset):
        items = list(itertools.islice(obj, _MAX_ITEMS))
        if len(obj) < _MAX_ITEMS:  # sorted only when small, as IPython does
            try:
                items = sorted(items)
            except TypeError:  # unorderable elements keep the hash order
                pass
    else:
        items = list(obj[:_MAX_ITEMS])
    if len(obj) > _MAX_ITEMS:
        items.append(_Ellipsis())
    open_text, close_text = {
        list: ("[", "]"), tuple: ("(", ")"), dict: ("{", "}"), set: ("{", "}"),
        frozenset: ("frozenset({", "})"),
    }[kind]
    if kind is tuple and len(obj) == 1:
        close_text = ",)"
    return open_text, close_text, items


class _DictItem:
    def __init__(self, key: Any, value: Any):
        self.key, self.value = key, value


class _Ellipsis:
    def __repr__(self) -> str:
        return "..."


def _flat(item: Any, seen: set[int]) -> str:
    if isinstance(item, _DictItem):
        return f"{_flat(item.key, seen)}: {_flat(item.value, seen)}"
    if type(item) in _CONTAINERS:
        if id(item) in seen:
            return _CYCLE[type(item)]
        open_text, close_text, items = _container_parts(item)
        if not items:
            return repr(item)
        inner = seen | {id(item)}
        return open_text + ", ".join(_flat(i, inner) for i in items) + close_text
    return plain_text(item)


def _pretty_item(item: Any, column: int, indent: int, seen: set[int]) -> str:
    if isinstance(item, _DictItem):
        key = _flat(item.key, seen)
        return f"{key}: {_pretty_item(item.value, column + len(key) + 2, indent, seen)}"
    if type(item) in _CONTAINERS:
        return _pretty_container(item, column, indent, seen)
    return _flat(item, seen)


class PlainTextPrinter:
    """The subset of IPython's ``PrettyPrinter`` that ``_repr_pretty_`` methods call."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._seen: set[int] = set()

    def text(self, text: str) -> None:
        self._parts.append(text)

    def breakable(self, sep: str = " ") -> None:
        self._parts.append(sep)

    def break_(self) -> None:
        self._parts.append("\n")

    def pretty(self, obj: Any) -> None:
        if id(obj) in self._seen:
            self._parts.append("...")
            return
        method = _real_method(obj, "_repr_pretty_")
        if method is None:
            self._parts.append(repr(obj))
            return
        self._seen.add(id(obj))
        try:
            method(self, False)
        finally:
            self._seen.discard(id(obj))

    def begin_group(self, indent: int = 0, open: str = "") -> None:  # IPython's parameter name
        self._parts.append(open)

    def end_group(self, dedent: int = 0, close: str = "") -> None:
        self._parts.append(close)

    def group(self, indent: int = 0, open: str = "", close: str = "") -> _Group:
        return _Group(self, open, close)

    def indent(self, indent: int) -> _Group:
        return _Group(self, "", "")

    def getvalue(self) -> str:
        return "".join(self._parts)


class _Group:
    def __init__(self, printer: PlainTextPrinter, open_text: str, close_text: str):
        self._printer, self._open, self._close = printer, open_text, close_text

    def __enter__(self) -> PlainTextPrinter:
        self._printer.text(self._open)
        return self._printer

    def __exit__(self, *exc_info: object) -> None:
        self._printer.text(self._close)


def _real_method(obj: Any, name: str) -> Callable[..., Any] | None:
    """``obj.name`` if it is a real method: not on classes themselves (``display(SomeClass)``)
    and not from objects whose ``__getattr__`` invents every attribute (mocks, proxies)."""
    if isinstance(obj, type):
        return None
    try:
        if getattr(obj, "_ipython_canary_method_should_not_exist_", None) is not None:
            return None
        method = getattr(obj, name, None)
    except Exception:  # noqa: BLE001
        # a broken __getattr__ means "no such representation", as in IPython
        return None
    return method if callable(method) else None


def _call_repr(method: Callable[..., Any], name: str, **kwargs: Any) -> Any:
    """Call a ``_repr_*_`` method; a failing one is reported on stderr and that format skipped,
    so one broken representation does not hide the others (IPython does the same).
    ``NotImplementedError`` means "no such representation" and is not reported."""
    try:
        return method(**kwargs)
    except NotImplementedError:
        return None
    except Exception:  # noqa: BLE001
        sys.stderr.write(f"Error in {name}:\n{traceback.format_exc()}")
        return None


_MIME_TYPE = re.compile(r"^[\w\-\+\.]+/[\w\-\+\.]+$")  # what the message spec accepts


def _valid(mime: str, value: Any, source: str) -> bool:
    """Whether a representation can go on the wire: a well-formed mime type, text as str,
    JSON as dict or list. Anything else is dropped with a warning, as IPython's formatters do,
    so one bad representation never breaks the message."""
    if not isinstance(mime, str) or not _MIME_TYPE.match(mime):
        _warn(f"{source} gave the invalid mime type {mime!r}: ignored")
        return False
    if mime.endswith("json"):
        if isinstance(value, (dict, list)):
            return True
    elif isinstance(value, str):
        return True
    _warn(f"{source} gave {type(value).__name__} for {mime}, not "
          f"{'a dict or list' if mime.endswith('json') else 'a str'}: ignored")
    return False


def _warn(message: str) -> None:
    sys.stderr.write(f"Display warning: {message}\n")


def _encode(mime: str, value: Any) -> Any:
    if isinstance(value, bytes) and (mime in _BINARY_TYPES or not mime.startswith("text/")):
        return base64.b64encode(value).decode("ascii")  # binary formats travel as base64
    if mime == "application/json" and isinstance(value, str):
        try:
            return json.loads(value)  # IPython accepts JSON text from _repr_json_
        except ValueError:
            return value  # not JSON: _valid drops it with a warning
    return value


def _wanted(mime: str, include: set[str] | None, exclude: set[str]) -> bool:
    return (include is None or mime in include) and mime not in exclude


def _matplotlib_figure(obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A matplotlib figure's image (IPython's inline backend registers the same formatter)."""
    figure_module = sys.modules.get("matplotlib.figure")
    if figure_module is None or not isinstance(obj, figure_module.Figure):
        return {}, {}
    return _figure_bundle(obj)


def _png_bundle(figure: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A figure as PNG (in a task; the kernel plugs in its inline backend's formats)."""
    from pragma_kernel.pragmas.figures import figure_png

    return {"image/png": figure_png(figure)}, {}


_figure_bundle: Callable[[Any], tuple[dict, dict]] = _png_bundle


# --------------------------------------------------------------------------------------------
# Publishing


def new_display_id() -> str:
    return uuid.uuid4().hex


class DisplayHandle:
    """A handle on an updatable display (same interface as IPython's)."""

    def __init__(self, display_id: str | None = None):
        self.display_id = display_id or new_display_id()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} display_id={self.display_id}>"

    def display(self, obj: Any, **kwargs: Any) -> None:
        """Show ``obj`` as a new output with this id (existing ones are updated by frontends)."""
        display(obj, display_id=self.display_id, **kwargs)

    def update(self, obj: Any, **kwargs: Any) -> None:
        """Replace every output with this id by ``obj``."""
        update_display(obj, display_id=self.display_id, **kwargs)


def display(
    *objs: Any,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    metadata: dict[str, Any] | None = None,
    transient: dict[str, Any] | None = None,
    display_id: str | bool | None = None,
    raw: bool = False,
    clear: bool = False,
    update: bool = False,
    **kwargs: Any,
) -> DisplayHandle | None:
    """Display each object as a rich output of the running cell (IPython's signature).

    ``display_id=True`` makes a new id; with an id a :class:`DisplayHandle` is returned.
    ``raw=True``: the objects are mime bundles already. ``clear=True`` clears the output first.
    """
    transient = dict(transient or {})
    if display_id is True:
        display_id = new_display_id()
    if display_id:
        transient["display_id"] = display_id
    if update and "display_id" not in transient:
        raise TypeError("display_id required for update_display")
    for obj in objs:
        if clear:
            clear_output(wait=True)
        if raw:
            publish_display_data(obj, metadata, transient=transient, update=update)
            continue
        if not update and ipython_display(obj):
            continue
        data, md = format_mimebundle(obj, include, exclude)
        if metadata:
            md.update(metadata)
        publish_display_data(data, md, transient=transient, update=update)
    return DisplayHandle(str(display_id)) if display_id else None


def update_display(obj: Any, *, display_id: str, **kwargs: Any) -> None:
    """Replace every output with ``display_id`` by ``obj``."""
    kwargs["update"] = True
    display(obj, display_id=display_id, **kwargs)


def publish_display_data(
    data: dict[str, Any],
    metadata: dict[str, Any] | None = None,
    source: Any = None,
    *,
    transient: dict[str, Any] | None = None,
    update: bool = False,
    **kwargs: Any,
) -> None:
    """Publish a ready mime bundle (``display_data``, or ``update_display_data``)."""
    ctx = active_context()
    display_id = (transient or {}).get("display_id")
    if ctx is None:
        sys.stdout.write(str(data.get("text/plain", "")) + "\n")
        return
    ctx.display(dict(data), dict(metadata or {}), display_id=display_id, update=update)


def clear_output(wait: bool = False) -> None:
    """Clear the output area of the running cell (``wait``: when the next output arrives)."""
    ctx = active_context()
    if ctx is None:
        sys.stdout.write("\x1b[2K\r")
        return
    ctx.clear_output(wait=wait)


def ipython_display(obj: Any) -> bool:
    """Let ``obj`` display itself with ``_ipython_display_``; False when it has no such method
    or declines with ``NotImplementedError`` (ipympl's canvas does, to get its mime bundle used).
    """
    method = _real_method(obj, "_ipython_display_")
    if method is None:
        return False
    try:
        method()
    except NotImplementedError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# IPython.display routed here


def patch_ipython_display_functions(module: ModuleType) -> None:
    """Point IPython's display functions at ours (they are re-exported from this module by
    ``IPython.display`` and ``IPython.core.display`` when those are imported afterwards)."""
    module.display = display
    module.update_display = update_display
    module.clear_output = clear_output
    module.publish_display_data = publish_display_data
    for name in ("IPython.display", "IPython.core.display", "IPython"):
        reexporting = sys.modules.get(name)
        if reexporting is None:
            continue
        for attr in ("display", "update_display", "clear_output", "publish_display_data"):
            # vars(): IPython.core.display serves these names through a deprecating __getattr__
            if attr in vars(reexporting):
                setattr(reexporting, attr, getattr(module, attr))


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then a patch on the fresh module."""

    def __init__(self, loader: Any, patch: Callable[[ModuleType], None]):
        self._loader, self._patch = loader, patch

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._patch(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, ... for inspect
        return getattr(self._loader, name)


class PostImportPatcher(importlib.abc.MetaPathFinder):
    """A meta path finder that patches chosen modules right after they are first imported, so
    that nothing costly (IPython, matplotlib) has to be imported at kernel start-up."""

    def __init__(self, patches: dict[str, Callable[[ModuleType], None]]):
        self.patches = patches

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        patch = self.patches.get(fullname)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader, patch)
        return spec


def install_post_import_patches(patches: dict[str, Callable[[ModuleType], None]]) -> None:
    """Apply each patch now if its module is loaded, else when it is first imported."""
    pending = {}
    for name, patch in patches.items():
        if name in sys.modules:
            patch(sys.modules[name])
        else:
            pending[name] = patch
    for finder in sys.meta_path:
        if isinstance(finder, PostImportPatcher):
            finder.patches.update(pending)
            return
    sys.meta_path.insert(0, PostImportPatcher(pending))


def install_ipython_hook() -> None:
    """Route ``IPython.display`` through this module whenever the user imports it."""
    install_post_import_patches(
        {"IPython.core.display_functions": patch_ipython_display_functions}
    )
