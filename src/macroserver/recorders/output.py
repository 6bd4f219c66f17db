"""The console table: one Output message per line, as spock users know it.

`OutputCols` picks columns: an int N keeps the first N, a list keeps the named ones
(case-insensitive, point number and timestamp included). Arrays show as their shape.
"""

from __future__ import annotations

import datetime
import time

from macroserver.formatting import format_cell
from macroserver.recorders.base import Recorder
from macroserver.records import EndStatus, Point, ScanEnd, ScanInfo
from macroserver.streams import Level

MIN_WIDTH = 8
SEPARATOR = "  "


def _duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=max(0.0, seconds)))


class OutputRecorder(Recorder):
    """Writes the scan table to the Output stream."""

    name = "output"
    format_name = "table"
    queue_size = 8

    def _pick(self, info: ScanInfo) -> list:
        wanted = self.context.env.get("OutputCols")
        if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted > 0:
            return [c for c in info.columns if c.output][:wanted]
        if isinstance(wanted, (list, tuple)) and wanted:
            names = {str(n).lower() for n in wanted}
            return [c for c in info.columns if c.name.lower() in names]
        return [c for c in info.columns if c.output]

    def start(self, info: ScanInfo) -> None:
        self._info = info
        self._columns = self._pick(info)
        self._names = [c.name for c in self._columns]
        self._widths = [max(MIN_WIDTH, len(c.label)) for c in self._columns]
        started = time.ctime(info.start_time)
        self._emit(f"Scan #{info.scan_id} started at {started}. "
                   f"It will take at least {_duration(round(info.estimated_time))}")
        self._emit(SEPARATOR.join(c.label.center(w) for c, w in zip(self._columns, self._widths)))

    def _emit(self, text: str) -> None:
        self.context.message(Level.OUTPUT, text)

    def record(self, point: Point) -> None:
        values = point.values
        self._emit(SEPARATOR.join(
            format_cell(values.get(name)).center(width)
            for name, width in zip(self._names, self._widths)))

    def end(self, end: ScanEnd) -> None:
        info = self._info
        elapsed = end.end_time - info.start_time
        counting = end.points * info.integration_time
        dead = 100.0 * max(0.0, elapsed - counting) / elapsed if elapsed > 0 else 0.0
        if end.status is not EndStatus.DONE:
            self._emit(f"Scan #{info.scan_id} {end.status_text} after {end.points} point(s)")
        self._emit(f"Scan #{info.scan_id} ended at {time.ctime(end.end_time)}, "
                   f"taking {_duration(elapsed)}. Dead time {dead:.1f}%")
