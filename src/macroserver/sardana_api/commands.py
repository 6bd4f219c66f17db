"""Sardana's ways of naming a macro call (`execMacro`, `createMacro`, `ExecMacroHook`)
as our command: a line, or words with `[`/`]` around nested lists."""

from __future__ import annotations

from typing import Any, Sequence

from macroserver.macros import MacroServerError


def _word(item: Any) -> str:
    """One argument as the word a user would type (elements by name)."""
    if isinstance(item, str):
        return item
    name = getattr(item, "name", None)
    if isinstance(name, str) and not isinstance(item, (int, float)):
        return name
    return repr(item) if isinstance(item, float) else str(item)


def command_of(pars: Sequence[Any]) -> str | list[str]:
    """Sardana's argument forms of execMacro/createMacro as our command: one string
    (`"ascan th 0 1 5 0.1"`), or words with `[`/`]` around nested lists, from separate
    arguments or one list (`"ascan", m, 0, 1`, `["mv", [[m, 1]]]`). None is left out
    (a parameter left to its default)."""
    if len(pars) == 1 and isinstance(pars[0], str):
        return pars[0]
    if len(pars) == 1 and isinstance(pars[0], (list, tuple)):
        pars = pars[0]
    if not pars:
        raise MacroServerError("no macro given: execMacro needs a macro name")
    words: list[str] = []

    def add(item: Any) -> None:
        if isinstance(item, (list, tuple)):
            words.append("[")
            for inner in item:
                add(inner)
            words.append("]")
        elif item is not None:
            words.append(_word(item))

    for item in pars:
        add(item)
    return words
