"""Finding plug-in classes: entry points of installed packages and configured folders.

Macros and recorders are found the same way: entry points (the project's own ones
included, so built-ins get no special path) and the `*.py` files of folders the
administrator configured (`MacroPath`, `RecorderPath`). Nothing else is ever imported.
A plug-in that fails to load is reported, not fatal.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")

ModulePreparer = Callable[[ModuleType], None]
"""Called with a plug-in file's fresh module before its code runs (it may set globals,
such as the import names a dialect of macros serves to that file alone)."""


@dataclass(frozen=True)
class LoadProblem:
    """A plug-in source that could not be loaded, and why."""

    source: str
    error: str

    def __str__(self) -> str:
        return f"cannot load {self.source}: {self.error}"


def _classes_in(obj: object, base: type[T]) -> list[type[T]]:
    if inspect.isclass(obj):
        return [obj] if issubclass(obj, base) and obj is not base else []
    if not isinstance(obj, ModuleType):
        return []
    prefix = obj.__name__ + "."
    modules = [obj] + [
        m for _, m in inspect.getmembers(obj, inspect.ismodule) if m.__name__.startswith(prefix)
    ]
    found: dict[type[T], None] = {}
    for module in modules:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, base) and cls is not base and cls.__module__ == module.__name__:
                found[cls] = None
    return list(found)


def exec_file(module_name: str, path: Path, prepare: ModulePreparer | None = None
              ) -> ModuleType:
    """Run file `path` as module `module_name` (entered in sys.modules, so its classes
    pickle and its own imports of itself work), `prepare` given the module first; a file
    that fails leaves nothing behind in sys.modules."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"not a Python module: {path}")
    module = importlib.util.module_from_spec(spec)
    if prepare is not None:
        prepare(module)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _load_file(path: Path, prepare: ModulePreparer | None = None) -> ModuleType:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    return exec_file(f"macroserver_plugin_{path.stem}_{digest}", path, prepare)


def find_plugins(
    group: str, folders: Iterable[Path], base: type[T], prepare: ModulePreparer | None = None
) -> tuple[list[type[T]], list[LoadProblem]]:
    """Subclasses of `base` from entry-point `group`, then from `*.py` files in `folders`
    (each file's module given to `prepare` first).

    Entry points may name a class or a module (all subclasses defined in it or in its
    submodules count).
    Files starting with `_` are skipped, as are subfolders. A file that loads but defines
    no subclass of `base` is reported too: a silent zero looks like a missing command.
    """
    found: list[type[T]] = []
    problems: list[LoadProblem] = []
    for entry in entry_points(group=group):
        try:
            found.extend(_classes_in(entry.load(), base))
        except Exception as exc:  # a broken plug-in must not take the server down
            problems.append(LoadProblem(f"entry point {entry.name} = {entry.value}", repr(exc)))
    for folder in folders:
        if not folder.is_dir():
            problems.append(LoadProblem(str(folder), "not a folder"))
            continue
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            try:
                classes = _classes_in(_load_file(path, prepare), base)
            except Exception as exc:
                problems.append(LoadProblem(str(path), repr(exc)))
                continue
            if not classes:
                problems.append(LoadProblem(
                    str(path), f"it defines no {base.__name__} subclass: nothing to register "
                               "(for a helper module the others import, that is fine)"))
            found.extend(classes)
    return found, problems
