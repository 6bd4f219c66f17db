"""Dial and user positions, as Sardana's Pool motors have them.

The dial position is the hardware's (its steps divided by the step per unit); the user
position is `sign * dial + offset`. Limits exist in both coordinates: a target is refused
when its user position is outside the user limits or its dial position outside the dial
limits. `set_user_pos` changes the offset (the dial stays), `DefinePosition` and
`set_dial_pos` change the dial (the offset stays).

A calibrated motor keeps its calibration in a `CalibrationStore` (the instance's state
folder for simulated motors, `motorstate.py`), so a restart finds the same user
positions and limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from macroserver.elements.base import Motor, checked_limits

UNLIMITED = (-math.inf, math.inf)


@dataclass(frozen=True)
class Calibration:
    """Offset, sign and step per unit of a motor, and its limits in both coordinates."""

    offset: float = 0.0
    sign: int = 1
    step_per_unit: float = 1.0
    user_limits: tuple[float, float] = UNLIMITED
    dial_limits: tuple[float, float] = UNLIMITED
    #: user == dial (offset 0, sign 1): reading a position needs no arithmetic
    identity: bool = field(init=False, repr=False, compare=False)
    #: what `allowed()` returns, worked out once (asked at every move)
    _allowed: tuple[float, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.sign not in (-1, 1):
            raise ValueError(f"sign must be 1 or -1, not {self.sign!r}")
        if not self.step_per_unit > 0 or not math.isfinite(self.step_per_unit):
            raise ValueError(f"step per unit must be a number above 0, not "
                             f"{self.step_per_unit!r}")
        if not math.isfinite(self.offset):
            raise ValueError(f"offset must be a finite number, not {self.offset!r}")
        ends = sorted(self.user(v) for v in self.dial_limits)
        object.__setattr__(self, "_allowed", (max(self.user_limits[0], ends[0]),
                                              min(self.user_limits[1], ends[1])))
        object.__setattr__(self, "identity", self.offset == 0 and self.sign == 1)

    def user(self, dial: float) -> float:
        return self.sign * dial + self.offset

    def dial(self, user: float) -> float:
        return (user - self.offset) * self.sign

    def allowed(self) -> tuple[float, float]:
        """The user positions a move may go to: inside the user limits and, converted,
        inside the dial limits."""
        return self._allowed

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (an unlimited side is null)."""
        return {"offset": self.offset, "sign": self.sign, "step_per_unit": self.step_per_unit,
                "user_limits": [_finite(v) for v in self.user_limits],
                "dial_limits": [_finite(v) for v in self.dial_limits]}

    @classmethod
    def from_json(cls, document: Any, name: str) -> "Calibration":
        """A stored calibration, or ValueError naming the motor and what is wrong."""
        try:
            return cls(offset=float(document["offset"]), sign=int(document["sign"]),
                       step_per_unit=float(document["step_per_unit"]),
                       user_limits=checked_limits(name, _limits(document["user_limits"])),
                       dial_limits=checked_limits(name, _limits(document["dial_limits"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"stored calibration of motor {name} is not usable: {exc}") \
                from None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _limits(pair: Any) -> tuple[float, float]:
    low, high = pair
    return (-math.inf if low is None else float(low), math.inf if high is None else float(high))


class CalibrationStore(Protocol):
    """Where a motor's calibration (and a simulated motor's dial) outlives the server."""

    def load(self, name: str) -> dict[str, Any] | None:
        """The stored document of motor `name` (None: nothing stored)."""

    def save(self, name: str, document: dict[str, Any]) -> None:
        """Store the document of motor `name` atomically."""


@runtime_checkable
class CalibratedMotor(Motor, Protocol):
    """A motor with dial and user positions (Sardana's Pool motor)."""

    def calibration(self) -> Calibration:
        """Offset, sign, step per unit and limits now in force."""

    def set_calibration(self, calibration: Calibration) -> None:
        """Apply and keep a new calibration (user limits, offset, sign, ...)."""

    def dial_position(self) -> float:
        """The position in dial units."""

    def define_position(self, user: float) -> None:
        """Make the current position read `user` by changing the dial (the offset stays)."""

    def keep_position(self) -> None:
        """Store the dial position where the store keeps it (simulated motors)."""


def user_limits_after_offset(calibration: Calibration, new_offset: float) -> tuple[float, float]:
    """The user limits moved with the offset, so the same dial range stays allowed
    (what Sardana's `set_user_pos` does unless told not to)."""
    shift = new_offset - calibration.offset
    low, high = calibration.user_limits
    return (low + shift, high + shift)


def with_offset_for(calibration: Calibration, dial: float, user: float,
                    update_limits: bool = True) -> Calibration:
    """The calibration whose offset makes `dial` read `user` (set_user_pos)."""
    offset = user - calibration.sign * dial
    limits = (user_limits_after_offset(calibration, offset) if update_limits
              else calibration.user_limits)
    return replace(calibration, offset=offset, user_limits=limits)
