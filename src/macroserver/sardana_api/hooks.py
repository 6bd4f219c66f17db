"""Sardana's hooks on a macro object: `macro.hooks = [(callable, ["pre-acq"]), ...]`.

A hook is a callable and the places it runs at (the hints). A plain callable, the old
form, is kept with no places (Sardana files it under `_NOHINTS_` and `_ALL_`). Where
hooks run is the scan engine's business; this module only keeps and selects them.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

ALL_HOOKS = "_ALL_"
NO_HINTS = "_NOHINTS_"

Hook = tuple[Callable[[], Any], list[str]]


def normalise(hooks: Sequence[Any]) -> list[Hook]:
    """(callable, places) pairs from Sardana's two forms; a clear error otherwise."""
    if not isinstance(hooks, (list, tuple)):
        raise TypeError(f"hooks must be a list of (callable, [places]), not {hooks!r}")
    pairs: list[Hook] = []
    for hook in hooks:
        if isinstance(hook, (tuple, list)) and len(hook) == 2:
            function, places = hook
            places = [places] if isinstance(places, str) else list(places)
        else:
            function, places = hook, []
        if not callable(function):
            raise TypeError(f"hook {function!r} is not callable")
        pairs.append((function, places))
    return pairs


def select(hooks: Sequence[Hook], place: str | None, allowed: Sequence[str] | None) -> list[Any]:
    """The callables for `place` (None: every (callable, places) pair). `_ALL_` gives
    the hooks without places and those with a place the macro allows; `_NOHINTS_` those
    without places."""
    if place is None:
        return list(hooks)
    allowed = list(allowed or ())
    if place == NO_HINTS:
        return [f for f, places in hooks if not places]
    if place == ALL_HOOKS:
        return [f for f, places in hooks if not places or set(places) & set(allowed)]
    return [f for f, places in hooks if place in places and place in allowed]


class Hookable:
    """Sardana's mixin for macros that accept hooks (`allowsHooks` in their hints)."""

    hints: dict[str, Any] = {}

    @property
    def hooks(self) -> list[Hook]:
        return self.__dict__.setdefault("_hooks", [])

    @hooks.setter
    def hooks(self, hooks: Sequence[Any]) -> None:
        self.__dict__["_hooks"] = normalise(hooks)

    def getAllowedHookHints(self) -> list[str]:  # noqa: N802 (Sardana's names)
        return list(type(self).hints.get("allowsHooks", ()))

    def getHooks(self, hint: str | None = None) -> list[Any]:  # noqa: N802
        return select(self.hooks, hint, self.getAllowedHookHints())

    def getHints(self) -> list[str]:  # noqa: N802
        places = {p for _, hook_places in self.hooks for p in hook_places}
        return [ALL_HOOKS, NO_HINTS, *sorted(places & set(self.getAllowedHookHints()))]

    def appendHook(self, hook_info: Sequence[Any]) -> None:  # noqa: N802
        self.hooks.extend(normalise([hook_info]))


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
        from macroserver.sardana_api.api_calls import command_of  # it imports this module

        words = command_of(self._pars)
        return words if isinstance(words, str) else " ".join(words)
