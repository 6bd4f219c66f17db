"""Sardana's import names, served to macro files only.

A MacroPath file's module gets its own `__builtins__`, whose `__import__` answers
`sardana.macroserver.macro`, `...msexception`, `...msparameter`, `...scan`,
`sardana.util.motion` and their parents (`sardana`, `sardana.macroserver`,
`sardana.util`) with our modules, and refuses any other `sardana.*` name with an error
saying what is served. Everything else imports as usual.

Why per file and not in `sys.modules`: the same process may hold the real Sardana (its
clients, a test using its recorder); it keeps working, unaware of us, and a macro file
gets our implementation whether or not Sardana is installed. Imports inside functions
of the file (run later) are served the same way, since they use the file's builtins.
`importlib.import_module("sardana...")` inside a macro is not redirected.

A plain module next to the file (`import beamline_utils`, a helper without macros) is
found there when nothing else provides it, as Sardana's MacroPath on sys.path allows,
and gets the same import names.
"""

from __future__ import annotations

import builtins
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

from macroserver.plugins import exec_file

SERVED_MODULES = {
    "sardana.macroserver.macro": "macroserver.sardana_api.macro",
    "sardana.macroserver.msexception": "macroserver.sardana_api.msexception",
    "sardana.macroserver.msparameter": "macroserver.sardana_api.msparameter",
    "sardana.macroserver.scan": "macroserver.sardana_api.scan",
    # the scan package's modules, where facility libraries also import its names from
    "sardana.macroserver.scan.gscan": "macroserver.sardana_api.scan",
    "sardana.macroserver.scan.scandata": "macroserver.sardana_api.scan",
    "sardana.macroserver.macros.scan": "macroserver.sardana_api.scanmacros",
    "sardana.util.motion": "macroserver.sardana_api.motion",
    "sardana.sardanautils": "macroserver.sardana_api.sardanautils",
}
PACKAGES = ("sardana", "sardana.macroserver", "sardana.macroserver.macros", "sardana.util")

_tree: dict[str, ModuleType] = {}


def _served_tree() -> dict[str, ModuleType]:
    """Sardana's dotted names → our modules; the packages are plain module objects
    that hold their served children as attributes (not entered in sys.modules)."""
    if not _tree:
        tree: dict[str, ModuleType] = {}
        for package in PACKAGES:
            module = ModuleType(package, f"Sardana's {package}, served by tango-macroserver")
            module.__path__ = []
            tree[package] = module
        for name, ours in SERVED_MODULES.items():
            tree[name] = importlib.import_module(ours)
        for name, module in tree.items():
            parent, _, child = name.rpartition(".")
            if parent in PACKAGES:  # our own modules are not given attributes
                setattr(tree[parent], child, module)
        _tree.update(tree)
    return _tree


def _is_sardana(name: str) -> bool:
    return name == "sardana" or name.startswith("sardana.")


def _sibling(name: str, importer: Mapping[str, Any] | None) -> bool:
    """Load module `name` from the importing file's folder, as Sardana's MacroPath on
    sys.path lets macro files import their helpers (the helper gets our import names
    too). It is kept under its own name and loaded again when its file changed. False
    when there is no such file."""
    origin = (importer or {}).get("__file__")
    if not origin:
        return False
    path = Path(origin).parent / f"{name}.py"
    if not path.is_file():
        return False
    stamp = path.stat().st_mtime_ns
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path) and getattr(
            loaded, "__macro_file_stamp__", None) == stamp:
        return True

    def prepare(module: ModuleType) -> None:
        prepare_module(module)
        module.__dict__["__macro_file_stamp__"] = stamp

    exec_file(name, path, prepare)
    return True


def served_import(name: str, globals: Mapping[str, Any] | None = None,  # noqa: A002
                  locals: Mapping[str, Any] | None = None,  # noqa: A002
                  fromlist: Any = (), level: int = 0) -> Any:
    """`__import__` for macro files: Sardana's names from us, a helper module from the
    file's own folder, the rest as usual."""
    if level != 0 or not _is_sardana(name):
        try:
            return builtins.__import__(name, globals, locals, fromlist, level)
        except ModuleNotFoundError as exc:
            if level != 0 or exc.name != name or "." in name or not _sibling(name, globals):
                raise
            return builtins.__import__(name, globals, locals, fromlist, level)
    tree = _served_tree()
    if name not in tree:
        raise ModuleNotFoundError(
            f"No module named {name!r} on this server: tango-macroserver serves "
            f"{', '.join(sorted(SERVED_MODULES))} to macro files (docs/sardana-macros.md)",
            name=name)
    if fromlist:
        for item in fromlist:
            if item != "*" and not hasattr(tree[name], item) and f"{name}.{item}" not in tree:
                raise ImportError(f"cannot import name {item!r} from {name!r}: "
                                  "tango-macroserver does not provide it", name=name)
        return tree[name]
    return tree[name.partition(".")[0]]


def prepare_module(module: ModuleType) -> None:
    """Give a macro file's module our import names (before its code runs)."""
    own = dict(vars(builtins))
    own["__import__"] = served_import
    module.__dict__["__builtins__"] = own
