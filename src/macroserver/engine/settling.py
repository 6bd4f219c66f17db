"""Settling: the time a motor needs at rest after a move before a point is counted.

IcePAP and SPEC users call it settle or dwell time (vibrations damping, a closed loop
converging). A step scan waits it after each point's move, before the post-move hooks
and the counting: the longest settling time of the motors that moved, since they settle
together; a motor commanded to where it already is does not move, so it does not count.
The forecast counts the same waits, so estimate and clock agree. A motor tells it with
`settling_time()` (elements/base.py `SettlingMotor`); one that does not has none, and a
scan of motors with none pays nothing per point.
"""

from __future__ import annotations

from typing import Sequence

from macroserver.elements.base import Motor, SettlingMotor


def settling_time(motor: Motor) -> float:
    """The seconds to wait after `motor` moved (0 for a motor that cannot tell)."""
    return motor.settling_time() if isinstance(motor, SettlingMotor) else 0.0


def settling_of_moves(times: Sequence[float],
                      moves: Sequence[tuple[int, Sequence[float]]]) -> float:
    """The settling a plan's `moves` (how many times, each motor's distance) wait in
    all, `times` being the motors' settling times in the same order."""
    return sum(count * longest(times, [d != 0 for d in distances])
               for count, distances in moves)


def longest(times: Sequence[float], moved: Sequence[bool]) -> float:
    """The longest settling time of the motors that moved."""
    return max((t for t, m in zip(times, moved) if m), default=0.0)


class Settling:
    """The waits of one scan's moves: it knows each motor's settling time (read once,
    at the start) and where each was last sent."""

    def __init__(self, motors: Sequence[Motor]) -> None:
        self.times = [settling_time(m) for m in motors]
        #: False: no motor settles, the scan never asks (nothing per point)
        self.needed = any(self.times)
        self._last: list[float | None] = [m.position() for m in motors] if self.needed \
            else []

    def after(self, targets: Sequence[float | None]) -> float:
        """The seconds to wait after the motors were sent to `targets` (None: that motor
        was not sent anywhere)."""
        moved = [t is not None and t != last for t, last in zip(targets, self._last)]
        self._last = [last if t is None else t for t, last in zip(targets, self._last)]
        return longest(self.times, moved)
