"""Calibrating motors from the shell: limits, user and dial positions, step per unit.

Sardana's macros with its parameters and messages; each change is kept by the motor
(the state folder for simulated ones), so it outlives a restart.
"""

from __future__ import annotations

from dataclasses import replace

from macroserver.elements.base import ElementError, Motor
from macroserver.elements.calibration import CalibratedMotor, with_offset_for
from macroserver.errors import ParamError
from macroserver.macros import BOOLEAN, FLOAT, MOTOR, Macro, Param


def calibrated(motor: Motor) -> CalibratedMotor:
    if not isinstance(motor, CalibratedMotor):
        raise ParamError(f"motor {motor.name} has no dial and user positions to calibrate")
    return motor


def checked_pair(low: float, high: float) -> tuple[float, float]:
    if low > high:
        raise ParamError(f"lower limit {low:g} must be lower than the upper limit {high:g}")
    return low, high


def limit_params(units: str) -> list[Param]:
    return [Param("motor", MOTOR, description="Motor name"),
            Param("low", FLOAT, description=f"lower {units} limit"),
            Param("high", FLOAT, description=f"upper {units} limit")]


POSITION = [Param("motor", MOTOR, description="Motor name"),
            Param("pos", FLOAT, description="Position to move to")]


class _set_limits(Macro):
    """Sets limits in `units` (user or dial) on a motor."""

    units = ""
    replaces = ""  # the macro a deprecated name stands for

    def run(self, motor: Motor, low: float, high: float) -> None:
        if self.replaces:
            self.warning(f'Deprecation warning: you should use "{self.replaces}" instead of '
                         f'"{self.name}"')
        target = calibrated(motor)
        pair, calibration = checked_pair(low, high), target.calibration()
        target.set_calibration(replace(calibration, user_limits=pair) if self.units == "user"
                               else replace(calibration, dial_limits=pair))
        self.output(f"{motor.name} limits set to {low:.4f} {high:.4f} ({self.units} units)")


class set_user_lim(_set_limits):
    """Sets the user limits on the specified motor."""

    params, units = limit_params("user"), "user"


class set_lim(set_user_lim):
    """Deprecated: Sets the user limits on the specified motor."""

    replaces = "set_user_lim"


class set_dial_lim(_set_limits):
    """Sets the dial limits on the specified motor."""

    params, units = limit_params("dial"), "dial"


class set_lm(set_dial_lim):
    """Deprecated: Sets the dial limits on the specified motor."""

    replaces = "set_dial_lim"


class set_dial_pos(Macro):
    """Sets the USER position of the motor to the specified value (by changing DIAL and
    keeping OFFSET)."""

    params = POSITION

    def run(self, motor: Motor, pos: float) -> None:
        target = calibrated(motor)
        old = motor.position()
        try:
            target.define_position(pos)
        except ElementError as exc:
            raise ParamError(str(exc)) from None
        self.output(f"{motor.name} reset from {old:.4f} to {pos:.4f}")


class set_pos(set_dial_pos):
    """Deprecated: Sets the dial position on the specified motor."""

    def run(self, motor: Motor, pos: float) -> None:
        self.warning('Deprecation warning: you should use "set_dial_pos" instead of "set_pos"')
        super().run(motor, pos)


class set_user_pos(Macro):
    """Sets the USER position of the motor to the specified value (by changing OFFSET and
    keeping DIAL) and recalculates the USER limits (can be disabled with the
    `update_limit` parameter)."""

    params = [*POSITION, Param("update_limit", BOOLEAN, True,
                               "Update the software limit, enabled by default")]

    def run(self, motor: Motor, pos: float, update_limit: bool) -> None:
        target = calibrated(motor)
        old, calibration = motor.position(), target.calibration()
        new = with_offset_for(calibration, target.dial_position(), pos, update_limit)
        target.set_calibration(new)
        self.output(f"{motor.name} reset from {old:.4f} (offset {calibration.offset:.4f}) "
                    f"to {pos:.4f} (offset {new.offset:.4f})")


class set_step_per_unit(Macro):
    """Set the step_per_unit defined by user. Macro allows to update limits (user and
    dial) depending on update_limits value."""

    params = [Param("motor", MOTOR, description="Motor to update steps_per_unit."),
              Param("step_per_unit", FLOAT, description="New step per unit to be applied."),
              Param("update_limits", BOOLEAN, False, "Update limits.")]

    def run(self, motor: Motor, step_per_unit: float, update_limits: bool) -> None:
        target = calibrated(motor)
        calibration = target.calibration()
        factor = step_per_unit / calibration.step_per_unit if step_per_unit > 0 else 0
        try:
            new = replace(calibration, step_per_unit=step_per_unit)
        except ValueError as exc:
            raise ParamError(f"motor {motor.name}: {exc}") from None
        if update_limits:
            new = replace(new, user_limits=_scaled(calibration.user_limits, factor),
                          dial_limits=_scaled(calibration.dial_limits, factor))
        try:
            target.set_calibration(new)
        except ElementError as exc:
            raise ParamError(str(exc)) from None


def _scaled(limits: tuple[float, float], factor: float) -> tuple[float, float]:
    """Limits divided by `factor` (> 0), as Sardana's set_step_per_unit updates them."""
    return (limits[0] / factor, limits[1] / factor)
