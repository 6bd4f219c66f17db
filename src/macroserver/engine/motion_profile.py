"""The motion of a continuous scan, planned and checked before anything moves.

Every point is an interval of `period = integ_time + latency_time` seconds: the
channels count for `integ_time` from the trigger, then rest for `latency_time`. The
motors cross `nr_interv` intervals from start to final at constant velocity, so each
motor's velocity is its range over `nr_interv * period`. They start one ramp early (the
distance covered while accelerating) so as to pass start_pos at full velocity, and
keep that velocity while the last point counts, then decelerate: the overshoot that
`overshoot_correction` moves back from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from macroserver.elements.base import ContinuousMotor, MotionSettings, Motor
from macroserver.engine.scan import check_time
from macroserver.errors import ParamError


@dataclass(frozen=True)
class MotorProfile:
    """One motor's part: where it waits, where it goes, how fast."""

    motor: ContinuousMotor
    start: float
    final: float
    velocity: float
    pre_start: float
    post_final: float
    original: MotionSettings

    @property
    def moves(self) -> bool:
        return self.velocity > 0.0

    def planned(self, index: int, intervals: int) -> float:
        """Where the motor should be at trigger `index` (exact at start and final)."""
        if index == intervals:
            return self.final
        return self.start + (self.final - self.start) * index / intervals


@dataclass(frozen=True)
class MotionProfile:
    """The whole continuous motion: the motors' parts and the trigger timing."""

    motors: tuple[MotorProfile, ...]
    intervals: int
    npoints: int
    integ_time: float
    latency_time: float
    acceleration: float

    @property
    def period(self) -> float:
        return self.integ_time + self.latency_time

    @property
    def duration(self) -> float:
        """From the start of the ramp to the end of the deceleration."""
        return 2.0 * self.acceleration + (self.npoints - 1) * self.period + self.integ_time

    def scan_settings(self, part: MotorProfile) -> MotionSettings:
        return MotionSettings(part.velocity, self.acceleration, part.original.max_velocity)


def point_count(nr_interv: int) -> tuple[int, int]:
    """(intervals, points): nr_interv + 1 points; a negative nr_interv skips the last."""
    if nr_interv == 0:
        raise ParamError("parameter nr_interv must not be 0 (a negative value skips the "
                         "last point)")
    intervals = abs(nr_interv)
    return intervals, intervals + 1 if nr_interv > 0 else intervals


def continuous_motor(motor: Motor) -> ContinuousMotor:
    if not isinstance(motor, ContinuousMotor):
        raise ParamError(
            f"motor {motor.name} cannot scan continuously: its velocity and acceleration "
            "cannot be set (a Tango motor needs Velocity and Acceleration attributes)")
    return motor


def plan_motion(
    motors: Sequence[Motor], starts: Sequence[float], finals: Sequence[float],
    nr_interv: int, integ_time: float, latency_time: float,
) -> MotionProfile:
    """Plan the motion and refuse, before anything moves, a velocity above a motor's
    maximum (the scan's pre-flight checks the limits, ramps included)."""
    intervals, npoints = point_count(nr_interv)
    if not (integ_time > 0 and math.isfinite(integ_time)):
        raise ParamError(f"parameter integ_time must be a finite time above 0 s in a "
                         f"continuous scan, not {integ_time}")
    check_time(integ_time)  # one day at most: 1e308 s made the velocity 0, the ramp NaN
    check_time(latency_time, "latency_time")
    period = integ_time + latency_time
    ramps = [continuous_motor(m) for m in motors]
    originals = [m.motion_settings() for m in ramps]
    velocities = [abs(f - s) / (intervals * period) for s, f in zip(starts, finals)]
    for motor, velocity, original in zip(ramps, velocities, originals):
        if velocity > original.max_velocity:
            raise ParamError(
                f"motor {motor.name} would need {velocity:g} {motor.unit}/s, above its "
                f"maximum velocity {original.max_velocity:g}; use more intervals, a longer "
                "integ_time or latency_time, or a shorter range. Nothing was moved")
    acceleration = max((o.acceleration for o, v in zip(originals, velocities) if v > 0),
                       default=0.0)
    last_offset = (npoints - 1) * period + integ_time  # end of the last point's counting
    parts = []
    for motor, start, final, velocity, original in zip(
            ramps, starts, finals, velocities, originals):
        sign = 1.0 if final >= start else -1.0
        ramp = 0.5 * velocity * acceleration
        pre_start = start - sign * ramp
        post_final = start + sign * (velocity * last_offset + ramp)
        parts.append(MotorProfile(motor, start, final, velocity, pre_start, post_final,
                                  original))
    return MotionProfile(tuple(parts), intervals, npoints, integ_time, latency_time,
                         acceleration)
