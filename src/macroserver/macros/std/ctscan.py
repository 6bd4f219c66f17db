"""Continuous-scan macros with Sardana's names, parameters and semantics.

`ascanct theta 0 10 100 0.01` gives 101 points, one every 0.01 s, while theta cruises
from 0 to 10 at 100 deg/s (a negative nr_interv skips the last point). The motor
starts early enough to pass start_pos at full velocity, keeps it while the last point
counts, and then comes back to final_pos unless overshoot_correction is False. Relative
scans (`dscanct`, `d2scanct`) return the motors to where they started.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from macroserver.elements.base import Motor
from macroserver.engine.ctscan import ContinuousScan, CtRow
from macroserver.engine.motion_profile import (
    MotionProfile,
    continuous_motor,
    plan_motion,
    point_count,
)
from macroserver.engine.scan import (
    SCAN_ENV,
    Computed,
    LinearPositions,
    check_intervals,
    check_time,
)
from macroserver.errors import ParamError
from macroserver.macros import (
    BOOLEAN,
    CONTINUOUS_SCAN_PLACES,
    FLOAT,
    INTEGER,
    MOTOR,
    Macro,
    Param,
)
from macroserver.macros.std.scan import (
    INTEG_TIME,
    distinct,
    motor_params,
    motor_ranges,
    return_to,
)
from macroserver.records import Grid

NR_INTERV = Param("nr_interv", INTEGER, description=(
    "number of scan intervals (points = intervals + 1); a negative value skips the "
    "last point"))
LATENCY = Param("latency_time", FLOAT, 0.0, "time between the end of one point's counting "
                "and the next trigger, in seconds")
OVERSHOOT = Param("overshoot_correction", BOOLEAN, None,
                  "move back to final_pos after the scan (False: stay where the motor "
                  "stopped); unset: the ScanOvershootCorrection environment variable, else True")


SLOW_DOWN = Param("slow_down", FLOAT, 1.0, "global scan slow down factor (0, 1]: the "
                  "fraction of each motor's velocity the scan moves at")


def _check(nr_interv: int) -> None:
    intervals, _ = point_count(nr_interv)
    check_intervals(intervals)


class _LineCt(Macro):
    """What the continuous scans along a line share: their places and environment, and
    their arguments (motor triples, then nr_interv, integ_time, ...)."""

    uses_env = SCAN_ENV
    hook_places = CONTINUOUS_SCAN_PLACES
    dry_runs = True

    #: How many motor triples come first; the tail is nr_interv, integ_time, ...
    motor_count = 1

    def ranges(self, args: Sequence[Any]
               ) -> tuple[list[Motor], list[float], list[float], Sequence[Any]]:
        """The motors, starts and finals, and the tail of the arguments (its
        nr_interv checked)."""
        split = 3 * self.motor_count
        motors, starts, finals = motor_ranges(args[:split])
        tail = args[split:]
        _check(tail[0])
        return motors, starts, finals, tail


class _AbsoluteCt(_LineCt):
    def run(self, *args: Any) -> None:
        motors, starts, finals, tail = self.ranges(args)
        nr_interv, integ_time, latency_time, overshoot = tail
        if overshoot is None:
            overshoot = self.env.get("ScanOvershootCorrection", True) is not False
        profile = plan_motion(motors, starts, finals, nr_interv, integ_time, latency_time)
        ContinuousScan(self, [CtRow(profile)], motors,
                       overshoot_correction=overshoot).run()


class ascanct(_AbsoluteCt):
    """Continuous absolute scan of one motor.

    The motor starts before start_pos so as to pass it at constant velocity and stops
    after final_pos so as to keep it while the last point counts; then it moves back to
    final_pos unless overshoot_correction is False.
    """

    params = [*motor_params(1), NR_INTERV, INTEG_TIME, LATENCY, OVERSHOOT]


class a2scanct(_AbsoluteCt):
    """Continuous absolute scan of two motors moving together (the first is the plot axis)."""

    motor_count = 2
    params = [*motor_params(2), NR_INTERV, INTEG_TIME, LATENCY, OVERSHOOT]


class a3scanct(_AbsoluteCt):
    """Continuous absolute scan of three motors moving together."""

    motor_count = 3
    params = [*motor_params(3), NR_INTERV, INTEG_TIME, LATENCY, OVERSHOOT]


class _RelativeCt(_LineCt):
    def run(self, *args: Any) -> None:
        motors, starts, finals, (nr_interv, integ_time, latency_time) = self.ranges(args)
        origins = [m.position() for m in motors]
        profile = plan_motion(motors, [o + s for o, s in zip(origins, starts)],
                              [o + f for o, f in zip(origins, finals)],
                              nr_interv, integ_time, latency_time)
        ContinuousScan(self, [CtRow(profile)], motors, overshoot_correction=False).run(
            restore=lambda: return_to(self, motors, origins))


class dscanct(_RelativeCt):
    """Continuous scan of one motor relative to its position; it returns there afterwards."""

    params = [*motor_params(1), NR_INTERV, INTEG_TIME, LATENCY]


class d2scanct(_RelativeCt):
    """Continuous relative scan of two motors moving together; both return afterwards."""

    motor_count = 2
    params = [*motor_params(2), NR_INTERV, INTEG_TIME, LATENCY]


class _MeshRows(Computed[CtRow]):
    """The rows of a meshct, made when asked (10^6 rows cost nothing before the scan's
    pre-flight refuses them); odd rows use `backward` (the same as `forward` unless
    bidirectional)."""

    def __init__(self, forward: MotionProfile, backward: MotionProfile, slow_motor: Motor,
                 slow: Sequence[float]) -> None:
        self.forward, self.backward, self.slow_motor, self.slow = (
            forward, backward, slow_motor, slow)

    def __len__(self) -> int:
        return len(self.slow)

    def item(self, index: int) -> CtRow:
        profile = self.backward if index % 2 else self.forward
        return CtRow(profile, ((self.slow_motor, self.slow[index]),))


def as_many_points(motors: Sequence[Motor], starts: Sequence[float], finals: Sequence[float],
                   integ_time: float, slow_down: float) -> int:
    """The intervals of an `ascanc`-style scan: as many back-to-back points of
    `integ_time` as the slowest motor's move takes at `slow_down` times its velocity
    (its maximum when no velocity is set), rounded up so no motor moves faster."""
    if not 0 < slow_down <= 1:
        raise ParamError(f"parameter slow_down must be in (0, 1], not {slow_down}")
    check_time(integ_time)
    if integ_time <= 0:
        raise ParamError("parameter integ_time must be above 0 s in a continuous scan")
    duration = 0.0
    for motor, start, final in zip(motors, starts, finals):
        settings = continuous_motor(motor).motion_settings()
        velocity = settings.velocity or settings.max_velocity
        if not (0 < velocity < math.inf):
            raise ParamError(f"motor {motor.name} has no velocity to scan continuously at; "
                             "give it a velocity or max_velocity, or use ascanct")
        duration = max(duration, abs(final - start) / (velocity * slow_down))
    return max(1, math.ceil(duration / integ_time - 1e-9))


class _AbsoluteC(Macro):
    """Sardana's continuous scans: the motors move at (slow_down times) their velocity
    and the group counts back to back, integ_time each, as long as they move."""

    uses_env = SCAN_ENV
    hook_places = CONTINUOUS_SCAN_PLACES
    dry_runs = True
    motor_count = 1

    def run(self, *args: Any) -> None:
        motors, starts, finals = motor_ranges(args[: 3 * self.motor_count])
        integ_time, slow_down = args[3 * self.motor_count :]
        self.scan(motors, starts, finals,
                  as_many_points(motors, starts, finals, integ_time, slow_down), integ_time)

    def scan(self, motors: list[Motor], starts: list[float], finals: list[float],
             intervals: int, integ_time: float) -> None:
        profile = plan_motion(motors, starts, finals, intervals, integ_time, 0.0)
        overshoot = self.env.get("ScanOvershootCorrection", True) is not False
        ContinuousScan(self, [CtRow(profile)], motors, overshoot_correction=overshoot).run()


class ascanc(_AbsoluteC):
    """Continuous absolute scan of one motor, as many points as its motion allows."""

    params = [*motor_params(1), INTEG_TIME, SLOW_DOWN]


class a2scanc(_AbsoluteC):
    """Continuous absolute scan of two motors moving together."""

    motor_count = 2
    params = [*motor_params(2), INTEG_TIME, SLOW_DOWN]


class dscanc(_AbsoluteC):
    """Continuous scan of one motor relative to its position; it returns there afterwards."""

    params = [*motor_params(1), INTEG_TIME, SLOW_DOWN]

    def scan(self, motors: list[Motor], starts: list[float], finals: list[float],
             intervals: int, integ_time: float) -> None:
        origins = [m.position() for m in motors]
        profile = plan_motion(motors, [o + s for o, s in zip(origins, starts)],
                              [o + f for o, f in zip(origins, finals)], intervals,
                              integ_time, 0.0)
        ContinuousScan(self, [CtRow(profile)], motors, overshoot_correction=False).run(
            restore=lambda: return_to(self, motors, origins))


FAST_MOTOR = [
    Param("motor1", MOTOR, description="fast motor, moving continuously"),
    Param("m1_start_pos", FLOAT, description="start position of motor1"),
    Param("m1_final_pos", FLOAT, description="final position of motor1"),
]
SLOW_MOTOR = [
    Param("motor2", MOTOR, description="slow motor, stepped between rows"),
    Param("m2_start_pos", FLOAT, description="start position of motor2"),
    Param("m2_final_pos", FLOAT, description="final position of motor2"),
    Param("m2_nr_interv", INTEGER, description="intervals of motor2"),
]
BIDIRECTIONAL = Param("bidirectional", BOOLEAN, False, "snake: every other row backwards")


class meshct(Macro):
    """Grid scan: motor1 moves continuously along each row, motor2 steps between rows.

    (m1_nr_interv + 1) * (m2_nr_interv + 1) points (a negative m1_nr_interv skips each
    row's last point); bidirectional scans every other row backwards (snake). The files
    keep the (motor2, motor1) shape: NeXus gets a 2D default plot.
    """

    uses_env = SCAN_ENV
    hook_places = CONTINUOUS_SCAN_PLACES
    dry_runs = True

    params = [
        *FAST_MOTOR,
        Param("m1_nr_interv", INTEGER, description="intervals of motor1 (negative: skip the "
                                                   "last point of each row)"),
        *SLOW_MOTOR, INTEG_TIME, BIDIRECTIONAL, LATENCY,
    ]

    def run(self, m1: Motor, s1: float, f1: float, n1: int, m2: Motor, s2: float, f2: float,
            n2: int, integ_time: float, bidirectional: bool, latency_time: float) -> None:
        self.grid(m1, s1, f1, n1, m2, s2, f2, n2, integ_time, bidirectional, latency_time)

    def grid(self, m1: Motor, s1: float, f1: float, n1: int, m2: Motor, s2: float, f2: float,
             n2: int, integ_time: float, bidirectional: bool, latency_time: float) -> None:
        _check(n1)
        check_intervals(n2, "m2_nr_interv")
        distinct([m1, m2])
        forward = plan_motion([m1], [s1], [f1], n1, integ_time, latency_time)
        backward = plan_motion([m1], [f1], [s1], n1, integ_time, latency_time) \
            if bidirectional else forward
        slow = LinearPositions(s2, f2, n2)
        rows = _MeshRows(forward, backward, m2, slow)
        scan = ContinuousScan(self, rows, [m1, m2], scan_shape=(n2 + 1, forward.npoints),
                              overshoot_correction=False)
        part = forward.motors[0]
        fast = LinearPositions(part.start, part.final, forward.intervals, forward.npoints)
        scan.grid = Grid(m2.name, m1.name, slow, fast, bidirectional)
        scan.run()


class meshc(meshct):
    """Grid scan: motor1 moves continuously along each row at slow_down times its
    velocity, counting back to back; motor2 steps between rows."""

    params = [
        *FAST_MOTOR, Param("slow_down", FLOAT, description=SLOW_DOWN.description),
        *SLOW_MOTOR, INTEG_TIME, BIDIRECTIONAL,
    ]

    def run(self, m1: Motor, s1: float, f1: float, slow_down: float,  # type: ignore[override]
            m2: Motor, s2: float, f2: float, n2: int, integ_time: float,
            bidirectional: bool) -> None:
        n1 = as_many_points([m1], [s1], [f1], integ_time, slow_down)
        self.grid(m1, s1, f1, n1, m2, s2, f2, n2, integ_time, bidirectional, 0.0)
