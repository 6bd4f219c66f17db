"""Synthetic scans for driving recorders directly (no engine, no Tango)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from macroserver.packets import per_point
from macroserver.recorders.base import Recorder
from macroserver.records import Column, EndStatus, Point, Role, ScanEnd, ScanInfo

SPECTRUM_LEN = 256
IMAGE_SHAPE = (251, 251)


class Collector:
    """A MacroListener that keeps every record packet and message it gets."""

    def __init__(self) -> None:
        self.packets: list[tuple[str, bytes]] = []
        self.messages: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def record_data(self, codec: str, payload: bytes) -> None:
        with self._lock:
            self.packets.append((codec, payload))

    def message(self, level: Any, text: str) -> None:
        with self._lock:
            self.messages.append((str(level), text))

    def status(self, status: dict[str, Any]) -> None:
        pass

    def result(self, values: list[str]) -> None:
        pass

    def decoded(self) -> list[dict[str, Any]]:
        """Packets parsed as strict JSON: NaN/Infinity tokens raise."""
        return [json.loads(p.decode(), parse_constant=reject_constant) for _, p in self.packets]

    def per_point(self) -> list[dict[str, Any]]:
        """The decoded packets with coalesced `record_block`s expanded, as clients see them."""
        return [point for packet in self.decoded() for point in per_point(packet)]


def reject_constant(token: str) -> Any:
    raise ValueError(f"non-standard JSON constant {token!r}")


def make_info(
    npoints: int | None = 5,
    spectrum_len: int = SPECTRUM_LEN,
    image: bool = True,
    scan_dir: Path | None = None,
    scan_files: tuple[str, ...] = (),
    title: str = "ascan mot01 0 1 4 0.1",
) -> ScanInfo:
    """A step scan: point_nb, two motors, timer, two counters (one label with a blank),
    a spectrum, optionally an image, and the timestamp."""
    columns = [
        Column("point_nb", "#Pt No", Role.POINT_NB, dtype="int64"),
        Column("mot01", "mot01", Role.MOTOR, unit="mm"),
        Column("mot02", "mot02", Role.MOTOR),
        Column("ct", "ct", Role.TIMER, unit="s"),
        Column("ct01", "ct01", Role.COUNTER),
        Column("ct02", "ct 02", Role.COUNTER),
        Column("mca01", "mca01", Role.SPECTRUM, shape=(spectrum_len,)),
    ]
    if image:
        columns.append(Column("img01", "img01", Role.IMAGE, dtype="uint16", shape=IMAGE_SHAPE))
    columns.append(Column("dt", "dt", Role.TIMESTAMP, output=False))
    return ScanInfo(
        scan_id=7,
        title=title,
        macro="ascan",
        user="tester",
        start_time=time.time(),
        columns=tuple(columns),
        ref_motors=("mot01", "mot02"),
        npoints=npoints,
        integration_time=0.1,
        estimated_time=0.5,
        scan_dir=scan_dir,
        scan_files=scan_files,
        macro_id="macro-42",
    )


def make_point(info: ScanInfo, index: int) -> Point:
    """Point `index` with values that identify it (mixed python and numpy types)."""
    values: dict[str, Any] = {}
    for col in info.columns:
        if col.role is Role.POINT_NB:
            values[col.name] = index
        elif col.role is Role.MOTOR:
            values[col.name] = np.float64(0.25 * index)
        elif col.role is Role.TIMER:
            values[col.name] = 0.1
        elif col.role is Role.COUNTER:
            values[col.name] = np.float32(10 * index + 1)
        elif col.role is Role.SPECTRUM:
            values[col.name] = np.arange(col.shape[0], dtype=np.float64) + index
        elif col.role is Role.IMAGE:
            values[col.name] = np.full(col.shape, index, dtype=np.uint16)
        else:
            values[col.name] = 0.01 * index
    return Point(index=index, values=values, timestamp=info.start_time + 0.01 * index)


def points(info: ScanInfo, n: int) -> Iterator[Point]:
    return (make_point(info, i) for i in range(n))


def run_scan(
    recorder: Recorder, info: ScanInfo, n: int, status: EndStatus = EndStatus.DONE,
    reason: str = "",
) -> None:
    """The recorder lifecycle as the manager drives it: start, record×n, flush, end."""
    recorder.start(info)
    for point in points(info, n):
        recorder.record(point)
    recorder.flush()
    recorder.end(ScanEnd(status=status, end_time=time.time(), points=n, reason=reason))
