"""How long a Tango motor's equal steps keep it moving, so that its waits skip the polls
that could only find it still moving.

A step scan moves a motor by the same distance at every point. A device without State
events is polled with pauses doubling from 0.5 ms: a 10 ms step was seen done at 15.5 ms,
5.5 ms late (issue 21: dead time). Knowing that the last equal step moved for at least T
(from its start to the last poll that still found it moving), the wait sleeps T before
its first poll and then polls as usual: after a few steps T is within a pause of the true
time, and the end is seen within about a millisecond (two polls per step, where there
were five or six). T underestimates (the end came after that poll), so the wait does not
sleep past the end of a step like the last (by more than the jitter of a write's round
trip, from which both are timed); a step found done at its first poll keeps 90 % of T,
so a motor made faster is caught up with in a few steps. A step of another length, a
stop or a change of speed or calibration is waited for as before.
"""

from __future__ import annotations

import math
import time

SHRINK = 0.9  # a step seen done at its first poll: what the next one waits out, times this


class MoveTiming:
    """The moves of one motor: the one in progress, and how long the last one moved."""

    def __init__(self) -> None:
        self._target: float | None = None  # the last dial target written
        self._move: tuple[float, float | None] | None = None  # (start, distance) under way
        self._last: tuple[float, float] | None = None  # (distance, seconds moving at least)

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
            self._last = (distance, last_seen_moving - started)
        elif self._like_last(distance) and self._last is not None:
            # done at its first poll, after waiting out the last step's time: keep most of
            # it (forgetting it polled the next step from its start again), a little less
            # so that a motor grown faster is found out within a few steps
            self._last = (distance, SHRINK * self._last[1])
        else:
            self._last = (distance, 0.0)

    def forget(self) -> None:
        """The move was stopped, or speed or calibration changed: nothing to go by."""
        self._move = self._last = None
        self._target = None
