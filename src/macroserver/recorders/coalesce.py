"""Coalescing a live recorder's points: at most one Door event every COALESCE_GAP.

At integration time 0 a scan takes thousands of points per second; one Tango event per
point costs every client (and the server's event thread) more CPU than the points do,
and the clients fell behind by hundreds of milliseconds. A live recorder (the table,
the JSON packets) hands each point to a `Coalescer`: a point that comes at least the gap
after the last sending goes out at once (a lone point never waits); sooner ones wait,
and go out together at the next point after the gap or at the recorder's `flush()` (the
recorder manager calls it within `flush_gap` of the queue running empty). Nothing is
dropped and the order is kept; a sending holds at most `limit` points.
"""

from __future__ import annotations

import time
from typing import Generic, TypeVar

T = TypeVar("T")

#: Least time between two sendings of points: clients take at most about 500 events/s
#: however fast the scan runs.
COALESCE_GAP = 0.002
#: Most points in one sending (an Output event holds at most 512 lines; a JSON block
#: stays a few hundred kB even with inline spectra).
COALESCE_LIMIT = 256


class Coalescer(Generic[T]):
    """The points waiting to be sent, and when the last sending was."""

    def __init__(self, gap: float = COALESCE_GAP, limit: int = COALESCE_LIMIT) -> None:
        self.gap = gap
        self.limit = limit
        self._pending: list[T] = []
        self._sent_at = -gap

    def add(self, item: T) -> list[T]:
        """Queue `item`; the items to send now (oldest first), or [] when they wait."""
        self._pending.append(item)
        if (time.monotonic() - self._sent_at >= self.gap
                or len(self._pending) >= self.limit):
            return self.take()
        return []

    def take(self) -> list[T]:
        """Every item waiting (oldest first), counted as sent now."""
        pending, self._pending = self._pending, []
        if pending:
            self._sent_at = time.monotonic()
        return pending

    def sent(self) -> None:
        """Something went out by another way (a block of points): the gap starts now."""
        self._sent_at = time.monotonic()
