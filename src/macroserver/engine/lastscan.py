"""The last scan of each door, as its scalar columns (`scanstats.ScanSeries`).

Sardana's Door serves the last macro's data when its `RecordData` attribute is read
(spock's `%macrodata`). Here each door keeps its last scan's series, spilled to a file
when long, until its next scan starts; the records are built only when asked for.
"""

from __future__ import annotations

import threading

from macroserver.scanstats import ScanSeries


class LastScans:
    """Per door, the series of the scan it ran last (the one running included)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[str, ScanSeries] = {}

    def keep(self, door: str, series: ScanSeries) -> None:
        """`series` is now `door`'s last scan; the one before is dropped (its file closed)."""
        with self._lock:
            previous = self._series.get(door.lower())
            self._series[door.lower()] = series
        if previous is not None and previous is not series:
            previous.close()

    def records(self, door: str) -> list[dict[str, float]] | None:
        """The records of `door`'s last scan; None before its first scan."""
        with self._lock:
            series = self._series.get(door.lower())
        return series.records() if series is not None else None
