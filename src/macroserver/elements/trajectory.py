"""Where a simulated motor is at any time: piecewise constant-acceleration motion.

A move is a trapezoid (accelerate for the acceleration time, cruise at the velocity,
decelerate) or a triangle when the distance is too short to reach the velocity. The
position is a pure function of time, so a simulated motor can answer "where were you
at t?" for past instants too, as an encoder capture would (continuous scans use it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trajectory:
    """Segments starting at `times`, each from `positions[k]` with `velocities[k]` and a
    constant `accelerations[k]`; after `end_time` the motor rests at `final`."""

    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    accelerations: np.ndarray
    end_time: float
    final: float

    @classmethod
    def at_rest(cls, position: float, now: float = 0.0) -> "Trajectory":
        return cls(np.array([now]), np.array([position]), np.zeros(1), np.zeros(1), now, position)

    def position_at(self, t: float) -> float:
        """The position at monotonic time `t`."""
        if t >= self.end_time:
            return self.final
        k = max(0, int(np.searchsorted(self.times, t, "right")) - 1)
        dt = max(0.0, t - self.times[k])
        return float(self.positions[k] + self.velocities[k] * dt
                     + 0.5 * self.accelerations[k] * dt * dt)

    def positions_at(self, t: np.ndarray) -> np.ndarray:
        """`position_at` for many instants at once."""
        k = np.clip(np.searchsorted(self.times, t, "right") - 1, 0, len(self.times) - 1)
        dt = np.maximum(0.0, t - self.times[k])
        x = self.positions[k] + self.velocities[k] * dt + 0.5 * self.accelerations[k] * dt * dt
        return np.where(t >= self.end_time, self.final, x)

    def velocity_at(self, t: float) -> float:
        if t >= self.end_time:
            return 0.0
        k = max(0, int(np.searchsorted(self.times, t, "right")) - 1)
        return float(self.velocities[k] + self.accelerations[k] * max(0.0, t - self.times[k]))

    def truncated(self, t: float) -> "Trajectory":
        """The same motion cut at `t`: the motor stops dead there (a stall)."""
        if t >= self.end_time:
            return self
        where = self.position_at(t)
        keep = self.times < t
        return Trajectory(self.times[keep], self.positions[keep], self.velocities[keep],
                          self.accelerations[keep], t, where)

    def crossing(self, x: float) -> float | None:
        """The first time the motor passes `x` (None if it never does); by bisection."""
        lo, hi = float(self.times[0]), self.end_time
        x0, x1 = self.position_at(lo), self.final
        if not min(x0, x1) <= x <= max(x0, x1) or x0 == x1:
            return None
        rising = x1 > x0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if (self.position_at(mid) < x) == rising:
                lo = mid
            else:
                hi = mid
        return hi


def plan_move(start: float, target: float, velocity: float | None, acceleration_time: float,
              now: float) -> Trajectory:
    """A move from rest at `start` to rest at `target`.

    `velocity` None or 0 moves at once; `acceleration_time` is the time to reach the
    velocity from rest (Sardana's `Acceleration`), 0 for an instant ramp.
    """
    distance = abs(target - start)
    if not velocity or distance == 0.0:
        return Trajectory.at_rest(target, now)
    sign = 1.0 if target > start else -1.0
    if acceleration_time <= 0.0:
        duration = distance / velocity
        return Trajectory(np.array([now]), np.array([start]), np.array([sign * velocity]),
                          np.zeros(1), now + duration, target)
    accel = velocity / acceleration_time
    ramp = velocity * acceleration_time  # both ramps together
    if distance >= ramp:
        peak, t_ramp = velocity, acceleration_time
        cruise = (distance - ramp) / velocity
    else:
        peak = math.sqrt(distance * accel)
        t_ramp, cruise = peak / accel, 0.0
    t1, t2 = now + t_ramp, now + t_ramp + cruise
    x1 = start + sign * 0.5 * peak * t_ramp
    x2 = x1 + sign * peak * cruise
    return Trajectory(
        np.array([now, t1, t2]), np.array([start, x1, x2]),
        np.array([0.0, sign * peak, sign * peak]), np.array([sign * accel, 0.0, -sign * accel]),
        t2 + t_ramp, target)


def plan_stop(current: Trajectory, velocity: float | None, acceleration_time: float,
              now: float) -> Trajectory:
    """Decelerate from the motion at `now` to rest, at the configured deceleration."""
    where, speed = current.position_at(now), current.velocity_at(now)
    if speed == 0.0 or acceleration_time <= 0.0 or not velocity:
        return Trajectory.at_rest(where, now)
    decel = velocity / acceleration_time
    duration = abs(speed) / decel
    sign = 1.0 if speed > 0 else -1.0
    final = where + 0.5 * speed * duration
    return Trajectory(np.array([now]), np.array([where]), np.array([speed]),
                      np.array([-sign * decel]), now + duration, final)
