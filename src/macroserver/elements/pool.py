"""The elements a server knows: motors, channels and measurement groups, by name."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from macroserver.elements.base import Channel, ElementError, MeasurementGroup, Motor
from macroserver.elements.calibration import CalibratedMotor
from macroserver.elements.motorstate import FILE_NAME, MotorStateFile
from macroserver.elements.sim import SimMotor
from macroserver.errors import UnknownElement


@dataclass
class Pool:
    """Look-up of elements by name, with "did you mean" errors for unknown names."""

    motors: dict[str, Motor] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    measurement_groups: dict[str, MeasurementGroup] = field(default_factory=dict)

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
        """Restore the simulated motors' calibration and dial kept in the instance's
        state `folder`, and keep their changes there."""
        store = MotorStateFile(folder / FILE_NAME)
        for motor in self.motors.values():
            if isinstance(motor, SimMotor):
                motor.attach(store)

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
