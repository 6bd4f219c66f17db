"""`sardana.util.motion`: `MotionPath`, the time a motor takes from one position to
another with a trapezoidal velocity profile (acceleration, constant velocity,
deceleration; a triangle when the distance is too short to reach the velocity)."""

from __future__ import annotations

import math
from typing import Any


class Motor:
    """The motion parameters a `MotionPath` needs (Sardana's `sardana.util.motion.Motor`):
    velocities in units/s, acceleration and deceleration times in s."""

    def __init__(self, min_vel: float = 0.0, max_vel: float = math.inf,
                 accel_time: float = 0.0, decel_time: float = 0.0, **kwargs: Any) -> None:
        self.min_vel, self.max_vel = float(min_vel), float(max_vel)
        self.accel_time, self.decel_time = float(accel_time), float(decel_time)

    @classmethod
    def fromMotor(cls, motor: Any) -> "Motor":  # noqa: N802 (Sardana's name)
        """From a motor that tells its velocity and acceleration (else: instantaneous)."""
        settings = getattr(motor, "motion_settings", None)
        if settings is None:
            return cls()
        values = settings()
        velocity = values.velocity if values.velocity is not None else math.inf
        return cls(0.0, velocity, values.acceleration, values.acceleration)


BaseMotor = Motor


class MotionPath:
    """From `initial_user_pos` to `final_user_pos` with `motor`'s parameters: the
    duration and where acceleration ends and deceleration starts."""

    def __init__(self, motor: Motor, initial_user_pos: float, final_user_pos: float,
                 active_time: float | None = None) -> None:
        self.motor = motor
        self.initial_user_pos = float(initial_user_pos)
        self.final_user_pos = float(final_user_pos)
        self.active_time = active_time
        self.displacement = abs(self.final_user_pos - self.initial_user_pos)
        self._calculate()

    def _calculate(self) -> None:
        m = self.motor
        velocity = m.max_vel
        if self.active_time:  # the velocity that covers the distance in active_time
            velocity = min(velocity, self.displacement / self.active_time)
        if self.displacement == 0 or math.isinf(velocity):
            self.max_vel, self.duration = velocity, 0.0
            self.accel_displacement = self.decel_displacement = 0.0
            self.max_vel_time = 0.0
            return
        accel_d = velocity * m.accel_time / 2
        decel_d = velocity * m.decel_time / 2
        if accel_d + decel_d > self.displacement:  # never reaches the velocity: triangle
            scale = math.sqrt(self.displacement / (accel_d + decel_d))
            velocity *= scale
            accel_d, decel_d = accel_d * scale, decel_d * scale
            accel_time, decel_time = m.accel_time * scale, m.decel_time * scale
        else:
            accel_time, decel_time = m.accel_time, m.decel_time
        self.max_vel = velocity
        self.accel_displacement, self.decel_displacement = accel_d, decel_d
        self.max_vel_displacement = self.displacement - accel_d - decel_d
        self.max_vel_time = self.max_vel_displacement / velocity
        self.accel_time, self.decel_time = accel_time, decel_time
        self.duration = accel_time + self.max_vel_time + decel_time


class Motion:
    """Several `MotionPath`s started together: the longest one sets the duration."""

    def __init__(self, paths: list[MotionPath]) -> None:
        self.paths = paths
        self.duration = max((p.duration for p in paths), default=0.0)


__all__ = ["MotionPath", "Motion", "BaseMotor", "Motor"]
