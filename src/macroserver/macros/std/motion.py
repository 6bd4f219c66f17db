"""Moving and reading motors, and counting without a scan."""

from __future__ import annotations

import re
from typing import Callable

from macroserver.elements.base import MeasurementGroup, Motor, outside_limits
from macroserver.engine.scan import active_measurement_group, check_time
from macroserver.errors import ParamError
from macroserver.formatting import format_cell
from macroserver.macros import COUNTABLE, FLOAT, MOTOR, STRING, Macro, Param, Repeat
from macroserver.macros.std.tables import table_lines

BLOCK_START, BLOCK_END = "<BLOCK>", "</BLOCK>"
"""Lines around output that replaces the previous block (Sardana's convention)."""


def move(macro: Macro, targets: list[tuple[Motor, float]],
         on_poll: Callable[[], None] | None = None) -> None:
    """Check every target against its limits, then move all motors together and wait
    (calling `on_poll` about every poll interval while they move)."""
    seen = set()
    for motor, target in targets:
        if motor.name in seen:
            raise ParamError(f"motor {motor.name} is given more than once")
        seen.add(motor.name)
        refused = outside_limits(motor, target)
        if refused:
            raise ParamError(f"{refused}; nothing was moved")
    motors = [motor for motor, _ in targets]
    macro.reserve(*motors)
    for motor, target in targets:
        motor.start_move(target)

    def stop_all() -> None:
        for motor in motors:
            motor.stop()

    def done(timeout: float) -> bool:
        finished = all(m.wait_move(timeout) for m in motors)
        if on_poll is not None:
            on_poll()
        return finished

    macro.context.control.wait_until(done, stop_all)


def positions_block(macro: Macro, motors: list[Motor]) -> Callable[[], None]:
    """Show the motors' positions as a block spock and mspock update in place."""
    def show() -> None:
        rows = [[m.name for m in motors], [format_cell(m.position()) for m in motors]]
        macro.output("\n".join([BLOCK_START, *table_lines(rows, numbers_right=True),
                                 BLOCK_END]))

    return show


MOVES = Repeat("motor_pos_list", [
    Param("motor", MOTOR, description="motor to move"),
    Param("pos", FLOAT, description="position to move to"),
], min=1, description="motors and positions")
RELATIVE_MOVES = Repeat("motor_disp_list", [
    Param("motor", MOTOR, description="motor to move"),
    Param("disp", FLOAT, description="distance to move by"),
], min=1, description="motors and displacements")


def relative_targets(moves: list[tuple[Motor, float]]) -> list[tuple[Motor, float]]:
    """Each motor's target: where it is now plus the distance asked for."""
    return [(motor, motor.position() + distance) for motor, distance in moves]


class mv(Macro):
    """Move motors to absolute positions (all together): mv theta 1 chi 2."""

    params = [MOVES]

    def run(self, moves: list[tuple[Motor, float]]) -> None:
        move(self, moves)


class umv(Macro):
    """Move motors to absolute positions, showing the positions while they move."""

    params = [MOVES]

    def run(self, moves: list[tuple[Motor, float]]) -> None:
        show = positions_block(self, [motor for motor, _ in moves])
        move(self, moves, on_poll=show)
        show()


class umvr(Macro):
    """Move motors by a distance, showing the positions while they move."""

    params = [RELATIVE_MOVES]

    def run(self, moves: list[tuple[Motor, float]]) -> None:
        show = positions_block(self, [motor for motor, _ in moves])
        move(self, relative_targets(moves), on_poll=show)
        show()


class mvr(Macro):
    """Move motors by a distance from where they are: mvr theta 0.1."""

    params = [RELATIVE_MOVES]

    def run(self, moves: list[tuple[Motor, float]]) -> None:
        move(self, relative_targets(moves))


def _matcher(patterns: list[str]) -> "re.Pattern[str]":
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns or [".*"]), re.IGNORECASE)
    except re.error as exc:
        raise ParamError(f"filter {' '.join(patterns)!r} is not a regular expression: {exc}") \
            from None


class wa(Macro):
    """Show where all motors are (or those whose name matches a filter: wa th.*)."""

    params = [Repeat("filter", [Param("filter", STRING, ".*", "a regular expression")], min=0,
                     description="motor name filters (regular expressions)")]

    def run(self, patterns: list[str]) -> None:
        matcher = _matcher(patterns)
        rows = [["Motor", "Position", "Unit"]]
        rows += [[m.name, format_cell(m.position()), m.unit] for m in self.pool.motors.values()
                 if matcher.fullmatch(m.name)]
        for line in table_lines(rows, numbers_right=True):
            self.output(line)


class wm(Macro):
    """Show the position and limits of the given motors."""

    params = [Repeat("motor_list", [Param("motor", MOTOR, description="motor")], min=1)]

    def run(self, motors: list[Motor]) -> None:
        rows = [["", *[m.name for m in motors]]]
        rows.append(["User High", *[format_cell(m.limits()[1]) for m in motors]])
        rows.append(["Current", *[format_cell(m.position()) for m in motors]])
        rows.append(["User Low", *[format_cell(m.limits()[0]) for m in motors]])
        for line in table_lines(rows, numbers_right=True):
            self.output(line)


class ct(Macro):
    """Count with the active measurement group (or the one given) and show each channel
    (not a scan): ct 0.1, ct 0.1 mg2."""

    params = [Param("integ_time", FLOAT, 1.0, "integration time, in seconds"),
              Param("countable", COUNTABLE, None, "measurement group (default: ActiveMntGrp)")]
    uses_env = ("ActiveMntGrp",)

    def run(self, integ_time: float, countable: MeasurementGroup | None) -> None:
        check_time(integ_time)
        group = countable or active_measurement_group(self)
        self.reserve(*group.channels)
        group.start(integ_time)
        self.context.control.wait_until(group.wait, group.stop)
        values = group.read()
        rows = [[name, "=", format_cell(value)] for name, value in values.items()]
        for line in table_lines(rows, numbers_right=True):
            self.output(line)
