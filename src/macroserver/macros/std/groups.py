"""Measurement groups from the shell: defmeas, udefmeas, lsmeas, set_meas, get_meas,
set_meas_conf, get_meas_conf, with Sardana's parameters and layouts.

A change is made on the group every door uses and kept in the instance's state folder
(`elements/groupstate.py`), so it is there after a restart; the Tango layer serves a new
group's device at once (expconf and spock see it).
"""

from __future__ import annotations

from typing import Any, Callable

from macroserver.elements.base import PLOT_TYPES, MeasurementGroup
from macroserver.errors import ParamError
from macroserver.macros import (
    CHANNEL,
    MACRO_NAME,
    MEASUREMENT_GROUP,
    STRING,
    EnvView,
    Macro,
    Param,
    Repeat,
)
from macroserver.macros.std.lists import matching
from macroserver.macros.std.tables import sardana_list

ACTIVE = "ActiveMntGrp"


class defmeas(Macro):
    """Create a new measurement group. The first channel is its timer."""

    params = [Param("name", STRING, description="Measurement group name"),
              Repeat("channel_list", [Param("channel", CHANNEL,
                                            description="Measurement Channel")],
                     min=1, description="List of measurement channels")]

    def run(self, name: str, channels: list[Any]) -> None:
        group = self.pool.define_group(name, [c.name for c in channels])
        self.output(f"Created {group.name}")


class udefmeas(Macro):
    """Deletes existing measurement groups."""

    params = [Repeat("mntgrps", [Param("mntgrp", MEASUREMENT_GROUP,
                                       description="Measurement group name")],
                     min=1, description="List of measurement group names")]

    def run(self, groups: list[MeasurementGroup]) -> None:
        for group in groups:
            self.pool.remove_group(group.name)
            self.output(f"Deleted {group.name}")


class lsmeas(Macro):
    """List existing measurement groups (* marks the active one)."""

    params = [Repeat("filter", [Param("filter", STRING, ".*", "a regular expression filter")],
                     min=0, description="a regular expression filter")]

    def run(self, patterns: list[str]) -> None:
        groups = matching(patterns, self.pool.measurement_groups.values())
        if not groups:
            self.output("No measurementgroups defined")  # Sardana's words
            return
        active = str(self.env.get(ACTIVE) or "").lower()
        rows = [["*" if g.name.lower() == active else " ", g.name,
                 ", ".join(g.display(c)["label"] for c in g.members)] for g in groups]
        for line in sardana_list(["Active", "Name", "Experim. channels"], rows, "crl",
                                 [-1, -1, 60]):
            self.output(line)


class set_meas(Macro):
    """Activate measurement group. It sets the ActiveMntGrp environment variable (for
    one macro only when one is given)."""

    params = [Param("meas_grp", MEASUREMENT_GROUP, description="Measurement group to activate"),
              Param("macro", MACRO_NAME, None, "Activate measurement group on this macro. "
                                               "If omitted activate on all.")]

    def run(self, group: MeasurementGroup, macro: str | None) -> None:
        if macro is not None:
            self.server.macros.get(macro)  # an unknown name is refused with suggestions
        self.env.set(f"{macro}.{ACTIVE}" if macro else ACTIVE, group.name)


class get_meas(Macro):
    """Show the active measurement group (the one a macro uses, when given)."""

    params = [Param("macro", MACRO_NAME, None, "Get active measurement group set for this "
                                               "macro. If omitted get the one set for all.")]

    def run(self, macro: str | None) -> None:
        env = self.env if macro is None else EnvView(self.server.env,
                                                     self.context.door_name, macro)
        value = env.get(ACTIVE)
        if value is None:
            self.warning("Active measurement group is not set. Hint: use `set_meas` macro "
                         "to set it.")
        else:
            self.output(f"{ACTIVE} = {value}")


def _group(macro: Macro, group: MeasurementGroup | None) -> MeasurementGroup:
    """The group given, else the active one (said first, as Sardana does)."""
    if group is not None:
        return group
    name = macro.env.get(ACTIVE)
    if name is None:
        raise ParamError(f"{ACTIVE} is not set: give a measurement group or use set_meas")
    macro.output(f"{ACTIVE} = {name}")
    return macro.pool.measurement_group(str(name))


def _plot_axes(axes: list[str]) -> str:
    return axes[0] if axes else "n/a"


#: get_meas_conf's columns: parameter -> the value shown for a channel of a group
COLUMNS: dict[str, Callable[[MeasurementGroup, Any], Any]] = {
    "enabled": lambda g, c: c in g.channels,
    "output": lambda g, c: g.display(c)["output"],
    "plottype": lambda g, c: PLOT_TYPES[g.display(c)["plot_type"]],
    "plotaxes": lambda g, c: _plot_axes(g.display(c)["plot_axes"]),
    "timer": lambda g, c: g.timer,
    "monitor": lambda g, c: g.timer,
    "synchronizer": lambda g, c: "software",
    "synchronization": lambda g, c: "Trigger",
    "valuerefenabled": lambda g, c: "n/a",
    "valuerefpattern": lambda g, c: "n/a",
}
SIMPLE = ("enabled", "output", "plottype", "plotaxes")


class get_meas_conf(Macro):
    """Print measurement group configuration in form of a table: get_meas_conf (the
    active group, simple), get_meas_conf advanced mg1."""

    params = [Param("detail", STRING, None, 'Detail level of parameters. If omitted or '
                                            '"simple" then get simple parameters. If '
                                            '"advanced" then get all parameters.'),
              Param("meas_grp", MEASUREMENT_GROUP, None, "Measurement group")]

    def run(self, detail: str | None, group: MeasurementGroup | None) -> None:
        if detail not in (None, "simple", "advanced"):
            raise ParamError(f"wrong detail level: {detail} (simple or advanced)")
        chosen = list(COLUMNS) if detail == "advanced" else list(SIMPLE)
        group = _group(self, group)
        rows = [[c.name, *(COLUMNS[p](group, c) for p in chosen)] for c in group.members]
        for line in sardana_list(["Channel", *chosen], rows):
            self.output(line)


def _boolean(value: str) -> bool:
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise ParamError(f"{value} is not a boolean (True/1 or False/0)")


def _plot_type(value: str) -> int:
    names = [name.lower() for name in PLOT_TYPES]
    if value.isdigit() and int(value) < len(names):
        return int(value)
    if value.lower() in names:
        return names.index(value.lower())
    raise ParamError(f"{value} is not a plot type (No, Spectrum or Image)")


def _plot_axes_value(value: str) -> list[str]:
    if value.lower() in ("idx", "<idx>"):
        return ["<idx>"]
    if value.lower() in ("mov", "<mov>"):
        return ["<mov>"]
    return value.split("|")


HINTS = {"output": ("output", _boolean), "plottype": ("plot_type", _plot_type),
         "plotaxes": ("plot_axes", _plot_axes_value)}
UNUSED = ("monitor", "synchronizer", "synchronization", "valuerefenabled", "valuerefpattern")


class set_meas_conf(Macro):
    """Set measurement group configuration parameter: Enabled (True/1 or False/0),
    Output (True/False), PlotType (No, Spectrum or Image), PlotAxes (idx, mov or a
    channel name; idx|ct01 for images), Timer (a channel name), for the channels given
    (all when none) of the group given (the active one when none):
    set_meas_conf enabled False ct2, set_meas_conf plottype spectrum [] mg1."""

    params = [Param("parameter", STRING, description="Parameter (case insensitive) to set."),
              Param("value", STRING, description="Parameter value to set"),
              Repeat("items", [Param("item", STRING, description="Experimental channel")],
                     min=0, description="Experimental channels"),
              Param("meas_grp", MEASUREMENT_GROUP, None, "Measurement group")]

    def run(self, parameter: str, value: str, items: list[str],
            group: MeasurementGroup | None) -> None:
        parameter = parameter.lower()
        if parameter in UNUSED:
            raise ParamError(f"{parameter} is not used here: groups count for a time, "
                             f"timed by software (Enabled, Output, PlotType, PlotAxes, Timer)")
        if parameter not in (*HINTS, "enabled", "timer"):
            raise ParamError(f"wrong parameter: {parameter} (Enabled, Output, PlotType, "
                             f"PlotAxes or Timer)")
        group = _group(self, group)
        members = {c.name: c for c in group.members}
        unknown = [name for name in items if name not in members]
        if unknown:
            raise ParamError(f"{', '.join(unknown)}: not channels of {group.name} "
                             f"({', '.join(members)})")
        chosen = items or list(members)
        enabled = [c.name for c in group.channels]
        if parameter == "enabled":
            on = _boolean(value)
            enabled = [n for n in members if (n in chosen and on) or
                       (n not in chosen and n in enabled)]
            self._configure(group, group.timer, enabled)
        elif parameter == "timer":
            if value not in members:
                raise ParamError(f"timer {value}: not a channel of {group.name}")
            self._configure(group, value, [n for n in members if n in enabled or n == value])
        else:
            key, convert = HINTS[parameter]
            converted = convert(value)
            for name in chosen:
                group.hints = {**group.hints, name: {**group.hints.get(name, {}),
                                                     key: converted}}
        self.pool.group_changed(group)

    @staticmethod
    def _configure(group: MeasurementGroup, timer: str, enabled: list[str]) -> None:
        try:
            group.configure(timer, enabled)
        except ValueError as exc:
            raise ParamError(str(exc)) from None
