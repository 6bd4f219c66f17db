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
from typing import Iterable, TypeVar

T = TypeVar("T")


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


def _load_file(path: Path) -> ModuleType:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    module_name = f"macroserver_plugin_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"not a Python module: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def find_plugins(
    group: str, folders: Iterable[Path], base: type[T]
) -> tuple[list[type[T]], list[LoadProblem]]:
    """Subclasses of `base` from entry-point `group`, then from `*.py` files in `folders`.

    Entry points may name a class or a module (all subclasses defined in it or in its
    submodules count).
    Files starting with `_` are skipped, as are subfolders.
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
                found.extend(_classes_in(_load_file(path), base))
            except Exception as exc:
                problems.append(LoadProblem(str(path), repr(exc)))
    return found, problems
