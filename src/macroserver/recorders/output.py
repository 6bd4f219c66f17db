"""The console table: one Output message per line, as spock users know it.

`OutputCols` picks columns: an int N keeps the first N, a list keeps the named ones
(case-insensitive, point number and timestamp included). Arrays show as their shape.

Rows that come faster than one per COALESCE_GAP (step scans at integration time 0) go
out several lines to an Output event (recorders/coalesce.py), every row kept. Points that
come in blocks (continuous scans, thousands per second) are thinned on screen to about
1 / ROW_INTERVAL rows per second, with a note; the first and last points are always
shown, and files and RecordData get every point.
"""

from __future__ import annotations

import datetime
import time

from macroserver.formatting import format_cell
from macroserver.recorders.base import Recorder
from macroserver.recorders.coalesce import COALESCE_GAP, Coalescer
from macroserver.records import EndStatus, Point, PointBlock, ScanEnd, ScanInfo
from macroserver.streams import Level

MIN_WIDTH = 8
SEPARATOR = "  "
#: Blocks of points (continuous scans) show at most one row per this many seconds.
ROW_INTERVAL = 0.1


def _duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=max(0.0, seconds)))


class OutputRecorder(Recorder):
    """Writes the scan table to the Output stream."""

    name = "output"
    format_name = "table"
    queue_size = 8
    flush_gap = COALESCE_GAP

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
        self._rows: Coalescer[str] = Coalescer()
        self._last_block: PointBlock | None = None
        self._shown_at, self._shown_index = 0.0, -1
        self._skipped = self._skipped_note = False
        self._columns = self._pick(info)
        self._names = [c.name for c in self._columns]
        self._widths = [max(MIN_WIDTH, len(c.label)) for c in self._columns]
        started = time.ctime(info.start_time)
        estimate = info.estimated_time
        self._emit(f"Scan #{info.scan_id} started at {started}. " + (
            f"It will take about {_duration(round(estimate))}" if estimate >= 0.5
            else "It will take less than a second"))
        self._emit(SEPARATOR.join(c.label.center(w) for c, w in zip(self._columns, self._widths)))

    def _emit(self, text: str) -> None:
        """`text` after the rows still waiting (in order)."""
        self.flush()
        self.context.message(Level.OUTPUT, text)

    def record(self, point: Point) -> None:
        values = point.values
        self._emit_rows(self._rows.add(SEPARATOR.join(
            format_cell(values.get(name)).center(width)
            for name, width in zip(self._names, self._widths))))

    def flush(self) -> None:
        """The rows waiting, in one Output event."""
        self._emit_rows(self._rows.take())

    def _emit_rows(self, rows: list[str]) -> None:
        if rows:
            self.context.message(Level.OUTPUT, "\n".join(rows))

    def record_block(self, block: PointBlock) -> None:
        now = time.monotonic()
        self._last_block = block
        if block.first > 0 and now - self._shown_at < ROW_INTERVAL:
            self._skipped = True
            return
        if block.first > 0 and not self._skipped_note:
            self._emit(f"(thinned on screen: about {1 / ROW_INTERVAL:g} rows/s; the files "
                       "and RecordData get every point)")
            self._skipped_note = True
        last = block.point(len(block) - 1 if block.first > 0 else 0)
        self.record(last)
        self._shown_at, self._shown_index = now, last.index
        if block.first == 0 and len(block) > 1:
            self._skipped = True

    def end(self, end: ScanEnd) -> None:
        block = self._last_block
        if block is not None and block.first + len(block) - 1 != self._shown_index:
            self.record(block.point(len(block) - 1))
        if self._skipped:
            self._emit(f"({end.points} points recorded, rows thinned on screen)")
        info = self._info
        elapsed = end.end_time - info.start_time
        counting = end.points * info.integration_time
        if end.status is not EndStatus.DONE:
            self._emit(f"Scan #{info.scan_id} {end.status_text} after {end.points} point(s)")
        # without counting time (integ_time 0) every second is "dead": say nothing then
        dead = (f". Dead time {100.0 * max(0.0, elapsed - counting) / elapsed:.1f}%"
                if counting > 0 and elapsed > 0 else "")
        self._emit(f"Scan #{info.scan_id} ended at {time.ctime(end.end_time)}, "
                   f"taking {_duration(elapsed)}{dead}")
