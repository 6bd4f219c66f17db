"""Sardana's view options: how the listing macros show things (the `_ViewOptions`
variable; lsvo, setvo, usetvo change it)."""

from __future__ import annotations

from typing import Any

from macroserver.macros import Macro

VIEW_OPTIONS = {"ShowDial": True, "ShowCtrlAxis": False, "PosFormat": -1,
                "OutputBlock": False, "OutputDecimation": False, "DescriptionLength": 60}
"""Sardana's view options and their defaults."""
VIEW_OPTIONS_ENV = "_ViewOptions"


def view_options(macro: Macro) -> dict[str, Any]:
    """Every view option: the values set (`_ViewOptions`), the others at their default."""
    stored = macro.env.get(VIEW_OPTIONS_ENV)
    return {**VIEW_OPTIONS, **(stored if isinstance(stored, dict) else {})}


def view_option(macro: Macro, name: str) -> Any:
    """One view option (set, else its default)."""
    return view_options(macro)[name]
