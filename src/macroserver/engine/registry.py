"""The macros a server knows, by name."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from macroserver.engine.macro import Macro
from macroserver.errors import UnknownMacro
from macroserver.plugins import LoadProblem, ModulePreparer, find_plugins

ENTRY_POINT_GROUP = "macroserver.macros"


class MacroRegistry:
    """Macros from the entry-point group `macroserver.macros` and the MacroPath folders.

    A macro in a MacroPath folder replaces an installed one of the same name, so a
    beamline can adapt a standard macro without touching the installation. `prepare`
    gets each MacroPath file's module before its code runs (a dialect of macros, such as
    Sardana's, serves its import names there).
    """

    def __init__(self, macro_path: Iterable[Path] = (),
                 prepare: ModulePreparer | None = None) -> None:
        classes, self.problems = find_plugins(ENTRY_POINT_GROUP, list(macro_path), Macro,
                                              prepare)
        self._macros: dict[str, type[Macro]] = {}
        for cls in classes:
            if cls.hidden or not cls.__name__.startswith("_"):  # private bases: left out
                self._macros[cls.name] = cls

    def names(self) -> list[str]:
        return sorted(self._macros)

    def get(self, name: str) -> type[Macro]:
        try:
            return self._macros[name]
        except KeyError:
            raise UnknownMacro(name, self._macros) from None

    def __contains__(self, name: str) -> bool:
        return name in self._macros


__all__ = ["MacroRegistry", "LoadProblem"]
