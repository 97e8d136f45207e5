"""``%load_ext autoreload`` / ``%autoreload``: reload edited modules before each cell, the way
IPython's extension does, so notebooks that start with those two lines work unchanged.

Before a cell runs, every module whose source file changed since it was last seen is reloaded,
and the functions and classes the user already holds (``from mod import f``, instances of
``mod.C``) are updated in place: a function gets the new code, a class the new methods. The
kernel's own packages are never reloaded.

Modes (IPython's): 0/off nothing; 1/explicit only modules named with ``%aimport``; 2/all every
module not excluded with ``%aimport -name``.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
import types
from dataclasses import dataclass, field
from typing import Any

_OWN_PACKAGES = ("pragma_kernel",)
_FUNCTION_ATTRIBUTES = ("__code__", "__defaults__", "__kwdefaults__", "__doc__", "__dict__")


@dataclass
class ModuleReloader:
    mode: int = 0
    explicit: set[str] = field(default_factory=set)  #: %aimport name
    excluded: set[str] = field(default_factory=set)  #: %aimport -name
    _mtimes: dict[str, float] = field(default_factory=dict)

    def set_mode(self, argument: str) -> None:
        names = {"": 2, "0": 0, "off": 0, "1": 1, "explicit": 1, "2": 2, "all": 2}
        if argument not in names:
            raise ValueError(f"%autoreload {argument}: use 0/off, 1/explicit or 2/all")
        self.mode = names[argument]
        self._remember_all()  # changes count from now on

    def aimport(self, names: str) -> list[str]:
        """Watch (or with ``-``, exclude) modules, importing the watched ones; their names."""
        imported = []
        for name in names.replace(",", " ").split():
            if name.startswith("-"):
                self.excluded.add(name[1:])
                self.explicit.discard(name[1:])
            else:
                importlib.import_module(name)
                self.explicit.add(name)
                self.excluded.discard(name)
                self._mtimes.setdefault(name, _mtime(sys.modules[name]) or 0.0)
                imported.append(name)
        return imported

    def check(self) -> list[str]:
        """Reload the changed modules; their names."""
        if self.mode == 0:
            return []
        reloaded = []
        for name, module in list(sys.modules.items()):
            if not self._watched(name, module):
                continue
            mtime = _mtime(module)
            if mtime is None:
                continue
            if self._mtimes.setdefault(name, mtime) < mtime:
                self._mtimes[name] = mtime
                try:
                    superreload(module)
                except Exception:  # noqa: BLE001
                    # an edited module that does not import is told, and the cell still runs
                    # with the old one, as IPython does
                    sys.stderr.write(f"[autoreload of {name} failed: {traceback.format_exc()}]\n")
                    continue
                reloaded.append(name)
        return reloaded

    def _watched(self, name: str, module: Any) -> bool:
        if name in self.excluded or name.split(".")[0] in _OWN_PACKAGES or name == "__main__":
            return False
        if self.mode == 1:
            return name in self.explicit
        return isinstance(module, types.ModuleType)

    def remember_new_modules(self) -> None:
        """After a cell: the modules it imported are watched from their current version."""
        self._remember_all()

    def _remember_all(self) -> None:
        for name, module in list(sys.modules.items()):
            if name not in self._mtimes and isinstance(module, types.ModuleType):
                mtime = _mtime(module)
                if mtime is not None:
                    self._mtimes[name] = mtime


def _mtime(module: Any) -> float | None:
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py"):
        return None
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def superreload(module: types.ModuleType) -> types.ModuleType:
    """``importlib.reload`` plus in-place updates of the old functions and classes."""
    old = dict(module.__dict__)
    importlib.reload(module)
    for name, old_object in old.items():
        new_object = module.__dict__.get(name)
        if new_object is not None and new_object is not old_object:
            update_object(old_object, new_object)
    return module


def update_object(old: Any, new: Any) -> None:
    if isinstance(old, types.FunctionType) and isinstance(new, types.FunctionType):
        _update_function(old, new)
    elif isinstance(old, type) and isinstance(new, type) and old.__name__ == new.__name__:
        _update_class(old, new)


def _update_function(old: types.FunctionType, new: types.FunctionType) -> None:
    for attribute in _FUNCTION_ATTRIBUTES:
        try:
            setattr(old, attribute, getattr(new, attribute))
        except (AttributeError, TypeError, ValueError):
            # a __code__ with other free variables cannot be swapped: the old one stays
            continue


def _update_class(old: type, new: type) -> None:
    for name, new_value in list(new.__dict__.items()):
        if name in ("__dict__", "__weakref__", "__module__", "__qualname__"):
            continue
        old_value = old.__dict__.get(name)
        if isinstance(old_value, types.FunctionType) and isinstance(new_value, types.FunctionType):
            _update_function(old_value, new_value)
            continue
        try:
            setattr(old, name, new_value)
        except (AttributeError, TypeError):  # read-only slots of builtin-like classes
            continue
    for name in set(old.__dict__) - set(new.__dict__):
        if not name.startswith("__"):
            delattr(old, name)
