"""Where the motors are: wa, pwa, wm, pwm, wu, wum and mstate, laid out as Sardana's.

Sardana's view options (`viewoptions.py`, `setvo`) choose whether the dial
positions show (`ShowDial`, on by default) and how many decimals a position gets
(`PosFormat`, -1: as wide as the column allows).
"""

from __future__ import annotations

import datetime
import math

from macroserver.elements.base import ElementError, Motor
from macroserver.elements.calibration import CalibratedMotor, Calibration
from macroserver.macros import MOTOR, Macro, Param, Repeat
from macroserver.macros.std.lists import FILTER, matching
from macroserver.macros.std.tables import column_table
from macroserver.macros.std.viewoptions import view_option

NAME_WIDTH = 9  # the narrowest position column of wa and wu
LIMIT_WIDTH = 14  # the narrowest column of wm ("Not specified" fits)


def calibration_of(motor: Motor) -> Calibration:
    """The motor's calibration; a motor without one has equal user and dial positions."""
    if isinstance(motor, CalibratedMotor):
        return motor.calibration()
    return Calibration(user_limits=motor.limits(), dial_limits=motor.limits())


def read_positions(motor: Motor) -> tuple[float, float]:
    """(user, dial) now; NaN for a motor that cannot be read, as Sardana shows it."""
    try:
        user = motor.position()
        dial = motor.dial_position() if isinstance(motor, CalibratedMotor) else user
    except ElementError:
        return math.nan, math.nan
    return user, dial


def motor_state(motor: Motor) -> str:
    """ON, MOVING, or FAULT when the motor cannot be reached (Tango's state names)."""
    try:
        return "ON" if motor.wait_move(0) else "MOVING"
    except ElementError:
        return "FAULT"


def _number_format(macro: Macro, width: int) -> str:
    decimals = view_option(macro, "PosFormat")
    return f"{{:{width}.{decimals if decimals > -1 else width - 5}f}}"


def positions_table(macro: Macro, motors: list[Motor], dial: bool, pretty: bool) -> None:
    """The table of Sardana's wa/wu: a column per motor, User (and Dial) rows."""
    width = max([NAME_WIDTH, *(len(m.name) for m in motors)])
    number = _number_format(macro, width)
    columns = []
    for motor in motors:
        user, dial_position = read_positions(motor)
        columns.append([number.format(user), *([number.format(dial_position)] if dial else [])])
    heads = ["User", "Dial"] if dial else None
    for line in column_table(columns, [m.name for m in motors], width, heads, pretty):
        macro.output(line)


MOTORS = Repeat("motor_list", [Param("motor", MOTOR, description="Motor to see where it is")],
                min=1, description="List of motor to show")


class wa(Macro):
    """Show all motor positions (or those whose name matches a filter: wa th.*)."""

    params = [FILTER]
    pretty = False

    def run(self, patterns: list[str]) -> None:
        motors = matching(patterns, self.pool.motors.values())
        if not motors:
            self.output("No motor defined")
            return
        dial = bool(view_option(self, "ShowDial"))
        self.output(f"Current positions ({'user, dial' if dial else 'user'}) on "
                    f"{datetime.datetime.now().isoformat(' ')}")
        self.output("")
        positions_table(self, motors, dial, self.pretty)


class pwa(wa):
    """Show all motor positions in a pretty table."""

    pretty = True


class _wm(Macro):
    """Show motor positions (Sardana's hidden helper of wa, called by name by facility
    macros such as DESY's wg)."""

    params = [MOTORS]
    hidden = True

    def run(self, motors: list[Motor]) -> None:
        positions_table(self, motors, bool(view_option(self, "ShowDial")), False)


class wu(Macro):
    """Show all user motor positions."""

    def run(self) -> None:
        motors = matching([], self.pool.motors.values())
        if not motors:
            self.output("No motor defined")
            return
        self.output(f"Current positions (user) on {datetime.datetime.now().isoformat(' ')}")
        self.output("")
        positions_table(self, motors, False, False)


def _text(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}" if decimals > -1 else str(float(value))


class wm(Macro):
    """Show the position of the specified motors: user (and dial) high limit, current
    position and low limit."""

    params = [MOTORS]
    pretty = False
    dial_rows = True
    follows_pos_format = True  # Sardana's wum shows the full values whatever PosFormat says

    def run(self, motors: list[Motor]) -> None:
        decimals = view_option(self, "PosFormat") if self.follows_pos_format else -1
        dial = self.dial_rows and bool(view_option(self, "ShowDial"))
        columns, heads = [], []
        for motor in motors:
            calibration = calibration_of(motor)
            user, dial_position = read_positions(motor)
            width = self.cell_width(motor)
            cells = ["", *(_text(v, decimals) for v in (
                calibration.user_limits[1], user, calibration.user_limits[0]))]
            if dial:
                cells += ["", *(_text(v, decimals) for v in (
                    calibration.dial_limits[1], dial_position, calibration.dial_limits[0]))]
            columns.append([cell.rjust(width) if cell else cell for cell in cells])
            heads.append(motor.name.rjust(width))
        rows = ["User", " High", " Current", " Low"]
        rows += ["Dial", " High", " Current", " Low"] if dial else []
        for line in column_table(columns, heads, 10, rows, self.pretty):
            self.output(line)

    def cell_width(self, motor: Motor) -> int:
        return max(len(motor.name) + 5, LIMIT_WIDTH)


class pwm(wm):
    """Show the position of the specified motors in a pretty table."""

    pretty = True


class wum(wm):
    """Show the user position of the specified motors."""

    dial_rows = False
    follows_pos_format = False

    def cell_width(self, motor: Motor) -> int:
        return 0  # Sardana's wum pads only to the column width


class mstate(Macro):
    """Prints the state of a motor."""

    params = [Param("motor", MOTOR, description="Motor to check state")]

    def run(self, motor: Motor) -> None:
        self.info(f"Motor {motor_state(motor)}")
