"""Post-scan statistics of the scalar channels against the scan's motors, as Sardana's.

Per motor and channel: `min`, `max`, their positions `minpos`/`maxpos`, `mean`, `int`
(the sum), the centre of mass `com`, the full width at half maximum `fwhm` and its
centre `cen`. A peak (values below half maximum on both sides of the maximum) is
measured directly; a step (an erf-like edge) through its derivative, as Sardana does,
so `cen` is the edge's position. Half-maximum crossings are interpolated linearly;
a side that never falls below half maximum ends at the first or last position.

`ScanSeries` keeps the scan's scalar columns as it goes: in memory up to `SPILL_ROWS`
rows, then in an anonymous temporary file, so memory stays flat however long the scan.
A point costs one tuple appended to a list (its values picked by one C call); every
`PENDING_ROWS` points the tuples become one float64 block (numpy converts them at
once). The statistics are computed once at the end, read back `CHUNK` rows at a time
(NaN, a missing value, is left out); the door serves the rows as the last scan's
records (Sardana's `RecordData` read, spock's `%macrodata`).
"""

from __future__ import annotations

import math
import operator
import os
import tempfile
import threading
from typing import IO, Any, Callable, Iterable, Mapping, Sequence, Union

import numpy as np

#: Rows kept in memory before they go to the temporary file.
SPILL_ROWS = 8192
#: Points kept as tuples before they are converted to floats together.
PENDING_ROWS = 512
#: Rows read at once when computing (at most `KEPT_CHUNKS` of them kept while computing).
CHUNK = 16384
KEPT_CHUNKS = 3


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _floats(rows: list[Sequence[Any]], width: int) -> np.ndarray:
    """`rows` as a (rows, width) float64 array; a value that is no number becomes NaN
    (numpy converts None to NaN itself; a string or an array among them: one by one)."""
    try:
        return np.array(rows, dtype=float).reshape(len(rows), width)
    except (TypeError, ValueError, OverflowError):
        return np.array([[_number(v) for v in row] for row in rows],
                        dtype=float).reshape(len(rows), width)


def _row_getter(names: Sequence[str]) -> Callable[[Mapping[str, Any]], Sequence[Any]]:
    """The values of `names` from a point's mapping, as a sequence (one C call)."""
    if len(names) < 2:
        return lambda values: tuple(values[name] for name in names)
    return operator.itemgetter(*names)


class ScanSeries:
    """The scalar values of a scan, row by row: `names` are the columns (motors, then
    channels). Rows are float64; a value that is no number is stored as NaN."""

    def __init__(self, names: Sequence[str], integers: Iterable[str] = ()) -> None:
        self.names = tuple(names)
        #: columns given back as int in `records` (point_nb...)
        self._integers = [name for name in self.names if name in set(integers)]
        self._width = len(self.names)
        self._row = _row_getter(self.names)
        self._pending: list[Sequence[Any]] = []  # points added, not converted yet
        self._blocks: list[np.ndarray] = []  # (rows, width) float64, not in the file yet
        self._buffered = 0  # rows in _blocks
        self._file: IO[bytes] | None = None
        self._spilled = 0
        self._lock = threading.Lock()  # the file and the buffer swap, against readers

    def add(self, values: Mapping[str, Any]) -> None:
        """Append one point (`values` by column name)."""
        pending = self._pending
        try:
            pending.append(self._row(values))
        except KeyError:  # a column missing: NaN there
            pending.append([values.get(name) for name in self.names])
        if len(pending) >= PENDING_ROWS:
            self._settle()

    def add_columns(self, columns: Mapping[str, Any], count: int) -> None:
        """Append `count` points given column by column (a continuous scan's block)."""
        self._settle()
        matrix = np.empty((count, self._width))
        for index, name in enumerate(self.names):
            values = columns.get(name)
            if values is None:
                matrix[:, index] = math.nan
                continue
            try:
                matrix[:, index] = np.asarray(values, dtype=float)
            except (TypeError, ValueError):
                matrix[:, index] = [_number(v) for v in values]
        self._append(matrix)

    def _settle(self) -> None:
        """The points added one by one, converted to floats, as one block."""
        if self._pending:
            self._append(_floats(self._pending, self._width), pending=[])

    def _append(self, matrix: np.ndarray, pending: list | None = None) -> None:
        with self._lock:  # readers see a row in _pending or in _blocks, never both
            self._blocks.append(matrix)
            self._buffered += len(matrix)
            if pending is not None:
                self._pending = pending
        if self._buffered >= SPILL_ROWS:
            self._spill()

    def _spill(self) -> None:
        with self._lock:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="scanstats-")
            for block in self._blocks:
                self._file.write(np.ascontiguousarray(block).data.cast("B"))
            self._file.flush()
            self._spilled += self._buffered
            self._blocks, self._buffered = [], 0

    def __len__(self) -> int:
        return self._spilled + self._buffered + len(self._pending)

    def _view(self) -> "_View":
        """The rows so far, as they are now (points added later are not in it)."""
        with self._lock:
            parts = list(self._blocks)
            pending = list(self._pending)  # the scan's thread may append meanwhile
            fd = self._file.fileno() if self._file is not None else -1
            spilled = self._spilled
        if pending:
            parts.append(_floats(pending, self._width))
        tail = np.concatenate(parts) if parts else np.empty((0, self._width))
        return _View(fd, spilled, self._width, tail)

    def records(self) -> list[dict[str, float]]:
        """Every point as `{column: value}` (NaN for a value that was missing)."""
        view = self._view()
        records = [dict(zip(self.names, row)) for a, b in _chunks(len(view))
                   for row in view.rows(a, b).tolist()]
        for record in records:
            for name in self._integers:
                if math.isfinite(record[name]):
                    record[name] = int(record[name])
        return records

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def statistics(self, motors: Sequence[str], channels: Sequence[str]
                   ) -> dict[str, dict[str, dict[str, float | None]]]:
        """`{motor: {channel: {min, max, minpos, ...}}}` of the points so far; a channel
        without a single number is left out."""
        view = self._view()
        if not len(view) or not self._width:
            return {}
        column = {name: i for i, name in enumerate(self.names)}
        result: dict[str, dict[str, dict[str, float | None]]] = {}
        for motor in motors:
            x = _Column(view, column[motor])
            per_channel = {}
            for channel in channels:
                stats = channel_stats(x, _Column(view, column[channel]))
                if stats is not None:
                    per_channel[channel] = stats
            result[motor] = per_channel
        return result


class _View:
    """Rows of a series: the first `spilled` in the file `fd`, then `tail` in memory.
    Read a `CHUNK` of rows at a time (with pread), the last `KEPT_CHUNKS` read kept: the
    statistics ask for the same rows many times (each channel, its motor, the
    half-maximum walks, a derivative reaching into the next chunk)."""

    def __init__(self, fd: int, spilled: int, width: int, tail: np.ndarray) -> None:
        self.fd, self.spilled, self.width, self.tail = fd, spilled, width, tail
        self._kept: dict[int, np.ndarray] = {}  # chunk number: its rows, oldest first

    def __len__(self) -> int:
        return self.spilled + len(self.tail)

    def rows(self, a: int, b: int) -> np.ndarray:
        """Rows a .. b-1 as a (rows, columns) array (read-only)."""
        parts = []
        while a < b:
            chunk = a // CHUNK
            rows, first = self._read_chunk(chunk), chunk * CHUNK
            end = min(b, first + len(rows))
            parts.append(rows[a - first: end - first])
            a = end
        if not parts:
            return np.empty((0, self.width))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _read_chunk(self, chunk: int) -> np.ndarray:
        rows = self._kept.pop(chunk, None)
        if rows is None:
            a = chunk * CHUNK
            b = min(a + CHUNK, len(self))
            parts = []
            if a < self.spilled:
                end = min(b, self.spilled)
                size = (end - a) * self.width * 8
                raw = os.pread(self.fd, size, a * self.width * 8)
                parts.append(np.frombuffer(raw, dtype=float).reshape(-1, self.width))
            if b > self.spilled:
                parts.append(self.tail[max(a - self.spilled, 0): b - self.spilled])
            rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
            rows.flags.writeable = False  # handed out as views: nobody writes into them
            if len(self._kept) >= KEPT_CHUNKS:
                del self._kept[next(iter(self._kept))]
        self._kept[chunk] = rows  # the most recent last
        return rows


class _Column:
    """One column of a `_View`, indexed like an array (`x[i]`, `x[a:b]`)."""

    def __init__(self, view: _View, index: int) -> None:
        self.view, self.index = view, index

    def __len__(self) -> int:
        return len(self.view)

    def __getitem__(self, key: int | slice) -> Any:
        if isinstance(key, slice):
            a, b, _ = key.indices(len(self.view))
            return self.view.rows(a, max(a, b))[:, self.index]
        key = key + len(self.view) if key < 0 else key
        return self.view.rows(key, key + 1)[0, self.index]


Values = Union[np.ndarray, "_Column"]
"""What the statistics read: an array, or a column of a spilled series (`x[i]`, `x[a:b]`)."""


def _chunks(n: int, start: int = 0, stop: int | None = None) -> Iterable[tuple[int, int]]:
    stop = n if stop is None else stop
    for a in range(start, stop, CHUNK):
        yield a, min(a + CHUNK, stop)


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def channel_stats(x: Values, y: Values) -> dict[str, float | None] | None:
    """Sardana's statistics of `y` against `x` (None when `y` holds no number).
    Undefined values (a centre of mass of a zero sum) are None."""
    n = len(y)
    low, high, at_low, at_high = math.inf, -math.inf, -1, -1
    total, moment, count = 0.0, 0.0, 0
    for a, b in _chunks(n):
        values, positions = np.asarray(y[a:b], dtype=float), np.asarray(x[a:b], dtype=float)
        finite = ~np.isnan(values)
        if not finite.any():
            continue
        i = int(np.argmin(np.where(finite, values, np.inf)))
        if values[i] < low:
            low, at_low = float(values[i]), a + i
        i = int(np.argmax(np.where(finite, values, -np.inf)))
        if values[i] > high:
            high, at_high = float(values[i]), a + i
        total += float(values[finite].sum())
        moment += float((values[finite] * positions[finite]).sum())
        count += int(finite.sum())
    if count == 0:
        return None
    half = (high - low) / 2 + low
    below_left = _any(y, 0, at_high, lambda v: v < half)
    below_right = _any(y, at_high, n, lambda v: v < half)
    if (below_left and below_right) or n == 1:
        shape = _curve(y, 0.0)
        peak, level = at_high, half
    else:  # a step: its derivative is the peak (rising edge, or falling: negated)
        shape = _curve(y, 1.0 if below_left else -1.0)
        peak, level = _derivative_peak(shape, n)
    left = _crossing(x, shape, n, peak, level, -1)
    right = _crossing(x, shape, n, peak, level, +1)
    return {
        "min": low, "max": high,
        "minpos": float(x[at_low]), "maxpos": float(x[at_high]),
        "mean": total / count, "int": total,
        "com": moment / total if total else None,
        "fwhm": _finite(right - left), "cen": _finite((right + left) / 2),
    }


def _any(y: Values, start: int, stop: int, test: Callable[[np.ndarray], np.ndarray]
         ) -> bool:
    return any(bool(test(np.asarray(y[a:b], float)).any()) for a, b in _chunks(len(y), start,
                                                                                stop))


def _curve(y: Values, derivative: float) -> Callable[[int, int], np.ndarray]:
    """What the half-maximum crossings are looked for on, read in slices [a, b): `y`
    itself (`derivative` 0), or its derivative times `derivative` (+1 or -1)."""
    if not derivative:
        return lambda a, b: np.asarray(y[a:b], dtype=float)
    return lambda a, b: derivative * _gradient(y, a, b)


def _gradient(y: Values, a: int, b: int) -> np.ndarray:
    """numpy.gradient(y)[a:b] (unit spacing), reading only y[a-1:b+1]."""
    n = len(y)
    lo, hi = max(a - 1, 0), min(b + 1, n)
    part = np.asarray(y[lo:hi], dtype=float)
    if len(part) < 2:
        return np.zeros(b - a)
    return np.gradient(part)[a - lo: a - lo + (b - a)]


def _derivative_peak(shape: Callable[[int, int], np.ndarray], n: int) -> tuple[int, float]:
    """(index of the maximum, half maximum) of the derivative."""
    low, high, at_high = math.inf, -math.inf, 0
    for a, b in _chunks(n):
        values = np.where(np.isnan(part := shape(a, b)), -np.inf, part)
        i = int(np.argmax(values))
        if values[i] > high:
            high, at_high = float(values[i]), a + i
        low = min(low, float(np.nanmin(part))) if not np.isnan(part).all() else low
    return at_high, (high - low) / 2 + low


def _crossing(x: Values, shape: Callable[[int, int], np.ndarray], n: int, peak: int,
              level: float, step: int) -> float:
    """Where the curve, walking from `peak` in direction `step`, first falls below
    `level` (interpolated between the two points around it); the first or last position
    when it never does."""
    if step < 0:
        spans = [(max(b - CHUNK, 0), b) for b in range(peak + 1, 0, -CHUNK)]
    else:
        spans = list(_chunks(n, peak))
    for a, b in spans:
        values = shape(a, b)
        below = np.nonzero(~(values >= level))[0]
        if len(below):
            inside = int(below[-1] if step < 0 else below[0]) + a
            outside = inside + (1 if step < 0 else -1)
            x0, x1 = float(x[inside]), float(x[outside])
            y0, y1 = float(shape(inside, inside + 1)[0]), float(shape(outside, outside + 1)[0])
            if y1 == y0:
                return x0
            return x0 + (level - y0) * (x1 - x0) / (y1 - y0)
    return float(x[0] if step < 0 else x[n - 1])
