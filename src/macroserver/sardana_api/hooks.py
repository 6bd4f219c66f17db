"""Sardana's hook members on a macro (`Hookable`) and `ExecMacroHook`.

Hooks are our engine's (`macro.hooks = [(callable, ["pre-acq"]), ...]`, `hooks_at`,
`append_hook`; the scans run them at their places); `Hookable` gives them Sardana's
names. Sardana's `_ALL_` selects the hooks without places and those at a place the
macro allows; `_NOHINTS_` those without places.
"""

from __future__ import annotations

from typing import Any, Sequence

from macroserver.macros import NO_PLACE
from macroserver.sardana_api.commands import command_of
from macroserver.sardana_api.mixin import MacroBase

ALL_HOOKS = "_ALL_"


class Hookable(MacroBase):
    """Sardana's mixin for macros that accept hooks (`allowsHooks` in their hints)."""

    def getAllowedHookHints(self) -> list[str]:  # noqa: N802 (Sardana's names)
        return list(self.hook_places)

    def getHooks(self, hint: str | None = None) -> list[Any]:  # noqa: N802
        """The callables at `hint` (a place, `_ALL_`, `_NOHINTS_`); None: every
        (callable, places) pair."""
        if hint is None:
            return self.hooks
        if hint == ALL_HOOKS:
            return [action for action, places in self.hooks
                    if not places or set(places) & set(self.hook_places)]
        return self.hooks_at(hint)

    def getHints(self) -> list[str]:  # noqa: N802
        places = {p for _, hook_places in self.hooks for p in hook_places}
        return [ALL_HOOKS, NO_PLACE, *sorted(places & set(self.hook_places))]

    def appendHook(self, hook_info: Sequence[Any]) -> None:  # noqa: N802
        action, places = hook_info
        self.append_hook(action, [places] if isinstance(places, str) else list(places))


class ExecMacroHook:
    """A hook that runs a macro (`ExecMacroHook(self, "ct", 0.1)`), as `execMacro` does."""

    def __init__(self, parent_macro: Any, *pars: Any, **opts: Any) -> None:
        self.macro_obj = parent_macro
        self._pars, self._opts = pars, opts

    def __call__(self) -> Any:
        return self.macro_obj.execMacro(*self._pars, **self._opts)

    @property
    def command(self) -> str:
        """The macro command, as a failing hook is named in messages."""
        words = command_of(self._pars)
        return words if isinstance(words, str) else " ".join(words)
