"""The elements a server knows: motors, channels and measurement groups, by name."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from macroserver.elements.base import Channel, ElementError, MeasurementGroup, Motor
from macroserver.elements.calibration import CalibratedMotor
from macroserver.elements.groupstate import FILE_NAME as GROUPS_FILE
from macroserver.elements.groupstate import GroupStateFile
from macroserver.elements.motorstate import FILE_NAME as MOTORS_FILE
from macroserver.elements.motorstate import MotorStateFile
from macroserver.elements.sim import SimMotor
from macroserver.errors import ParamError, UnknownElement
from macroserver.records import Role

#: Sardana's element type of each channel kind (also the Tango class we serve it with).
#: A self-saving detector's value is the number of its last frame: a scalar, so a counter.
CHANNEL_TYPES = {Role.TIMER: "CTExpChannel", Role.COUNTER: "CTExpChannel",
                 Role.SPECTRUM: "OneDExpChannel", Role.IMAGE: "TwoDExpChannel",
                 Role.FRAME: "CTExpChannel"}


@dataclass
class Pool:
    """Look-up of elements by name, with "did you mean" errors for unknown names."""

    motors: dict[str, Motor] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    measurement_groups: dict[str, MeasurementGroup] = field(default_factory=dict)
    #: called after a group is defined or removed (the Tango layer serves its device)
    group_listeners: list[Callable[[], None]] = field(default_factory=list)
    _groups_kept: GroupStateFile | None = None
    _configured_groups: frozenset[str] = frozenset()

    def motor(self, name: str) -> Motor:
        try:
            return self.motors[name]
        except KeyError:
            raise UnknownElement("motor", name, self.motors) from None

    def channel(self, name: str) -> Channel:
        try:
            return self.channels[name]
        except KeyError:
            raise UnknownElement("channel", name, self.channels) from None

    def measurement_group(self, name: str) -> MeasurementGroup:
        try:
            return self.measurement_groups[name]
        except KeyError:
            raise UnknownElement("measurement group", name, self.measurement_groups) from None

    def keep_state(self, folder: Path) -> None:
        """Restore the simulated motors' calibration and dial, and the measurement groups
        changed at run time, kept in the instance's state `folder`; keep changes there."""
        store = MotorStateFile(folder / MOTORS_FILE)
        for motor in self.motors.values():
            if isinstance(motor, SimMotor):
                motor.attach(store)
        kept = GroupStateFile(folder / GROUPS_FILE)
        self._configured_groups = frozenset(self.measurement_groups)
        for name in kept.removed:
            self.measurement_groups.pop(name, None)
        for name, document in kept.groups.items():
            group = self._restored_group(name, document)
            if group is not None:
                self.measurement_groups[name] = group
        self._groups_kept = kept

    def _restored_group(self, name: str, document: dict[str, Any]) -> MeasurementGroup | None:
        """A kept group, without the channels that left the configuration since (None
        when none is left)."""
        channels = [self.channels[n] for n in document.get("channels", []) if n in self.channels]
        if not channels:
            return None
        names = [c.name for c in channels]
        timer = str(document.get("timer"))
        timer = timer if timer in names else names[0]
        group = MeasurementGroup(name, channels, timer)
        enabled = [n for n in document.get("enabled", names) if n in names]
        try:
            group.configure(timer, enabled if timer in enabled else [timer, *enabled])
        except ValueError:
            pass  # the members enabled, as a new group
        hints = document.get("hints")
        group.hints = {k: dict(v) for k, v in hints.items() if k in names and
                       isinstance(v, dict)} if isinstance(hints, dict) else {}
        return group

    def define_group(self, name: str, channel_names: list[str]) -> MeasurementGroup:
        """A new measurement group of these channels (the first one is its timer), kept
        and seen by every door. ParamError naming the problem when refused."""
        if name in self.measurement_groups:
            raise ParamError(f"a measurement group named {name!r} already exists")
        if not name.isidentifier():
            raise ParamError(f"{name!r} cannot name a measurement group: use letters, "
                             f"digits and _ (not starting with a digit)")
        if len(set(channel_names)) != len(channel_names):
            raise ParamError(f"measurement group {name}: a channel is given twice")
        group = MeasurementGroup(name, [self.channel(n) for n in channel_names],
                                 channel_names[0])
        self.measurement_groups[name] = group
        self.group_changed(group)
        self._notify()
        return group

    def remove_group(self, name: str) -> None:
        self.measurement_group(name)
        del self.measurement_groups[name]
        if self._groups_kept is not None:
            self._groups_kept.remove(name, name in self._configured_groups)
        self._notify()

    def group_changed(self, group: MeasurementGroup) -> None:
        """Keep a group's members, timer, enabled channels and hints (after a change)."""
        if self._groups_kept is not None:
            self._groups_kept.save(group)

    def _notify(self) -> None:
        for listener in self.group_listeners:
            listener()

    def keep_positions(self) -> None:
        """Store where the calibrated motors rest (after each macro)."""
        for motor in self.motors.values():
            if isinstance(motor, CalibratedMotor):
                motor.keep_position()

    def describe(self) -> dict[str, list[dict]]:
        """Plain-JSON description of every element (the MacroServer `Elements` attribute).

        An element that cannot be reached right now is listed with `error` instead of
        failing the whole description.
        """
        return {
            "motors": [_describe(m, lambda m: {"unit": m.unit, "limits": [
                _finite(v) for v in m.limits()]}) for m in self.motors.values()],
            "channels": [_describe(c, lambda c: {"kind": c.kind.channel_kind,
                                                 "shape": list(c.shape), "unit": c.unit})
                         for c in self.channels.values()],
            "measurement_groups": [
                {"name": g.name, "timer": g.timer, "channels": [c.name for c in g.channels]}
                for g in self.measurement_groups.values()
            ],
        }


def _finite(value: float) -> float | None:
    """JSON has no infinity: an unlimited side is null."""
    return value if math.isfinite(value) else None


def _describe(element: Any, details: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    try:
        return {"name": element.name, **details(element)}
    except ElementError as exc:
        return {"name": element.name, "error": str(exc)}
