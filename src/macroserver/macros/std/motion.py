"""Moving and reading motors, and counting without a scan."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from macroserver.elements.base import MeasurementGroup, Motor, outside_limits
from macroserver.engine.scan import active_measurement_group, check_time
from macroserver.errors import ParamError
from macroserver.formatting import format_cell
from macroserver.macros import (
    COUNT_PLACES,
    COUNTABLE,
    FLOAT,
    MOTOR,
    MOVE_PLACES,
    NO_PLACE,
    POST_ACQ,
    POST_MOVE,
    PRE_ACQ,
    PRE_MOVE,
    Macro,
    Param,
    Repeat,
    run_hooks,
)
from macroserver.macros.std.tables import column_table, table_lines

BLOCK_START, BLOCK_END = "<BLOCK>", "</BLOCK>"
"""Lines around output that replaces the previous block (Sardana's convention)."""


def move(macro: Macro, targets: list[tuple[Motor, float]],
         on_poll: Callable[[], None] | None = None) -> None:
    """Check every target against its limits, then move all motors together and wait
    (calling `on_poll` about every poll interval while they move); the macro's pre-move
    and post-move hooks around the motion (mv, umv, mvr, umvr have them, as Sardana's)."""
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
    run_hooks(PRE_MOVE, macro.hooks_at(PRE_MOVE))
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
    run_hooks(POST_MOVE, macro.hooks_at(POST_MOVE))


UPDATE_WIDTH = 10  # the column width of umv's and uct's updating tables


def update_block(macro: Macro, names: list[str], values: list[Any]) -> None:
    """One value per element as Sardana's umv and uct show it (a column each, 4
    decimals), in a block spock and mspock update in place."""
    cells = [[f"{v:{UPDATE_WIDTH}.4f}" if isinstance(v, (int, float, np.number))
              else format_cell(v)] for v in values]
    lines = column_table(cells, names, UPDATE_WIDTH)
    macro.output("\n".join([BLOCK_START, *lines, BLOCK_END]))


def positions_block(macro: Macro, motors: list[Motor]) -> Callable[[], None]:
    """Show the motors' positions as a block spock and mspock update in place."""
    def show() -> None:
        update_block(macro, [m.name for m in motors], [m.position() for m in motors])

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
    hook_places = MOVE_PLACES

    def run(self, moves: list[tuple[Motor, float]]) -> None:
        move(self, moves)


class umv(Macro):
    """Move motors to absolute positions, showing the positions while they move."""

    params = [MOVES]
    hook_places = MOVE_PLACES

    def run(self, moves: list[tuple[Motor, float]]) -> None:
        show = positions_block(self, [motor for motor, _ in moves])
        move(self, moves, on_poll=show)
        show()


class umvr(Macro):
    """Move motors by a distance, showing the positions while they move."""

    params = [RELATIVE_MOVES]
    hook_places = MOVE_PLACES

    def run(self, moves: list[tuple[Motor, float]]) -> None:
        show = positions_block(self, [motor for motor, _ in moves])
        move(self, relative_targets(moves), on_poll=show)
        show()


class mvr(Macro):
    """Move motors by a distance from where they are: mvr theta 0.1."""

    params = [RELATIVE_MOVES]
    hook_places = MOVE_PLACES

    def run(self, moves: list[tuple[Motor, float]]) -> None:
        move(self, relative_targets(moves))


class ct(Macro):
    """Count with the active measurement group (or the one given) and show each channel
    (not a scan): ct 0.1, ct 0.1 mg2."""

    params = [Param("integ_time", FLOAT, 1.0, "integration time, in seconds"),
              Param("countable", COUNTABLE, None, "measurement group (default: ActiveMntGrp)")]
    uses_env = ("ActiveMntGrp",)
    hook_places = COUNT_PLACES

    def run(self, integ_time: float, countable: MeasurementGroup | None) -> None:
        check_time(integ_time)
        group = countable or active_measurement_group(self)
        self.reserve(*group.channels)
        run_hooks(PRE_ACQ, self.hooks_at(PRE_ACQ))
        group.start(integ_time)
        self.context.control.wait_until(group.wait, group.stop)
        values = group.read()
        run_hooks(POST_ACQ, self.hooks_at(POST_ACQ) + self.hooks_at(NO_PLACE))
        rows = [[name, "=", format_cell(value)] for name, value in values.items()]
        for line in table_lines(rows, numbers_right=True):
            self.output(line)


class uct(Macro):
    """Count with the active measurement group (or the one given), showing the values
    as they change, in a table updated in place (Sardana's uct)."""

    params = ct.params
    uses_env = ct.uses_env

    def run(self, integ_time: float, countable: MeasurementGroup | None) -> None:
        check_time(integ_time)
        group = countable or active_measurement_group(self)
        self.reserve(*group.channels)
        names = [c.label for c in group.channels]

        def show() -> None:
            update_block(self, names, [c.read() for c in group.channels])

        def done(timeout: float) -> bool:
            finished = group.wait(timeout)
            show()
            return finished

        group.start(integ_time)
        self.context.control.wait_until(done, group.stop)
