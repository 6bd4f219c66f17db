"""How long a Tango motor's equal steps keep it moving, so that its waits skip the polls
that could only find it still moving.

A step scan moves a motor by the same distance at every point. A device without State
events is polled with pauses doubling from 0.5 ms: a 10 ms step was seen done at 15.5 ms,
5.5 ms late (issue 21: dead time). The wait of a step as long as the last one first
sleeps T, the time from the last step's start to the last poll that still found it
moving, plus PROBE (both timed from the return of the write), then polls as usual. That
step ended between that poll and the next, so the first poll finds most steps done (one
poll per step) and a step still moving is seen a pause later (two). A step found done at
its first poll may have ended well before it: the next one polls PROBE / 2 earlier, each
further one so found twice as much earlier again (0.125, 0.25, 0.5, 1 ms...), so the
wait keeps within a fraction of a millisecond of the end, and a motor made faster is
caught up with in a few steps (made ten times faster than 50 ms steps: at the tenth).
Before, T ended at that last poll and a step found done at once kept 90 % of it: 1.9
polls per 10 ms step (1.35 now), 22 steps to catch up with that faster motor. Sleeping
never ends a wait: only a poll that finds the device no longer moving does. A step of
another length, a stop or a change of speed or calibration is waited for as before.
"""

from __future__ import annotations

import math
import time

PROBE = 0.00025  # s past the last poll that found a step moving: the next step's first
#                  poll; half of it: how much earlier after a step found done at once


class MoveTiming:
    """The moves of one motor: the one in progress, and how long the last one moved."""

    def __init__(self) -> None:
        self._target: float | None = None  # the last dial target written
        self._move: tuple[float, float | None] | None = None  # (start, distance) under way
        #: (distance, seconds moving at least, how much earlier to poll if done at once)
        self._last: tuple[float, float, float] | None = None

    def started(self, target: float) -> None:
        """A move to dial `target` was just written."""
        distance = None if self._target is None else abs(target - self._target)
        self._target = target
        self._move = (time.monotonic(), distance)

    def _like_last(self, distance: float | None) -> bool:
        return distance is not None and self._last is not None and math.isclose(
            distance, self._last[0], rel_tol=1e-9, abs_tol=1e-12)

    def moving_for(self) -> float:
        """Seconds from now during which the move under way surely goes on (a step as long
        as the last one); 0 when that is not known."""
        if self._move is None or self._last is None or not self._like_last(self._move[1]):
            return 0.0
        return max(0.0, self._move[0] + self._last[1] - time.monotonic())

    def ended(self, last_seen_moving: float) -> None:
        """The move under way is over; a poll sent at monotonic `last_seen_moving` found it
        still moving (earlier than the move's start: never)."""
        if self._move is None:
            return
        started, distance = self._move
        self._move = None
        if distance is None:
            return
        if last_seen_moving > started:
            self._last = (distance, last_seen_moving - started + PROBE, PROBE / 2)
        elif self._like_last(distance) and self._last is not None:
            # done at its first poll, after waiting out the last step's time: keep most of
            # it (forgetting it polled the next step from its start again), a little less,
            # less again at each step so found, so that a motor grown faster is found out
            _, seconds, probe = self._last
            self._last = (distance, max(0.0, seconds - probe), 2 * probe)
        else:
            self._last = (distance, 0.0, PROBE)

    def forget(self) -> None:
        """The move was stopped, or speed or calibration changed: nothing to go by."""
        self._move = self._last = None
        self._target = None
