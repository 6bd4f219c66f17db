"""General hooks (Sardana's defgh, lsgh, udefgh): macro commands run at a hook place of
every hookable macro, kept in the `_GeneralHooks` environment variable (so they survive
restarts), in Sardana's format: a list of (command, [places])."""

from __future__ import annotations

from typing import Any

from macroserver.engine.hooks import GENERAL_HOOKS, general_hook_entries
from macroserver.macros import STRING, Macro, Param, Repeat
from macroserver.macros.std.tables import sardana_list


def _entries(macro: Macro) -> list[tuple[str, list[str]]]:
    return general_hook_entries(macro.env.get(GENERAL_HOOKS, []))


def _by_place(entries: list[tuple[str, list[str]]]) -> list[str]:
    """One row per hook, grouped under its place (the place named once), as Sardana."""
    places: dict[str, list[str]] = {}
    for command, hook_places in entries:
        for place in hook_places:
            places.setdefault(place, []).append(command)
    rows = [[place if i == 0 else "", command]
            for place, commands in places.items() for i, command in enumerate(commands)]
    return sardana_list(["Hook place", "Hook(s)"], rows)


class lsgh(Macro):
    """List the general hooks, by hook place."""

    def run(self) -> None:
        entries = _entries(self)
        if not entries:
            self.output("No general hooks")
            return
        for line in _by_place(entries):
            self.output(line)


class defgh(Macro):
    """Define a general hook: a macro command run at the given places of every scan
    (and every other macro that offers those places), kept in _GeneralHooks.

        defgh "mv chi 0" pre-scan
        defgh "ct 0.1" pre-acq post-acq
    """

    params = [
        Param("macro_name", STRING, description='macro with its parameters, e.g. "mv chi 0"'),
        Repeat("hookplace_list", [Param("place", STRING, description="hook place")], min=1,
               description="places where the hook runs (pre-scan, pre-acq, ...)"),
    ]

    def run(self, command: str, places: list[str]) -> None:
        entries: list[Any] = [*_entries(self), (command, places)]
        self.env.set(GENERAL_HOOKS, entries)  # checked: the macro and the places exist
        self.output(f"Hook: {command}, hook place: {', '.join(places)} has been defined")


class udefgh(Macro):
    """Undefine general hooks: udefgh all (every one), udefgh "ct 0.1" (that hook at
    every place), udefgh "ct 0.1" pre-scan (at that place only). Without a parameter it
    asks before removing them all."""

    params = [
        Param("macro_name", STRING, None, "general hook to undefine, or all"),
        Param("hook_place", STRING, None, "the place to undefine it from (default: all)"),
    ]

    def run(self, command: str | None, place: str | None) -> None:
        entries = _entries(self)
        if not entries:
            return
        if command is None:
            answer = self.input("You are about to undefine all general hooks. Are you sure "
                                "you want to proceed? [y/n]")
            if str(answer).strip().lower() not in ("y", "yes"):
                return
            command = "all"
        if command == "all":
            self.env.unset(GENERAL_HOOKS)
            self.info("All general hooks have been undefined.")
            for line in _by_place(entries):
                self.output(line)
            return
        kept: list[Any] = []
        for defined, places in entries:
            if defined != command:
                kept.append((defined, places))
                continue
            for where in places:
                if place is None or where == place:
                    self.info(f"Hook: {command}, hook place: {where} has been undefined")
                else:
                    kept.append((defined, [where]))
        if kept:
            self.env.set(GENERAL_HOOKS, kept)
        else:
            self.env.unset(GENERAL_HOOKS)
