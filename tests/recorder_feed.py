"""Synthetic scans for the file recorder tests: a ScanInfo, its points, and a driver.

The driver calls a recorder exactly as the recorder manager does (start, record...,
flush when idle, always end), so tests exercise the real lifecycle without an engine.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from macroserver.datafiles import FilePolicy
from macroserver.recorders.base import Recorder, RecorderContext
from macroserver.records import (
    Column,
    EndStatus,
    Point,
    Role,
    ScanEnd,
    ScanInfo,
    SnapshotValue,
)
from macroserver.streams import Level, NullListener

START = 1_795_614_442.25
ODD_COUNTER = "ct 02/µ sum"


@dataclass
class Collector(NullListener):
    """Keeps the messages a recorder sends, to check its warnings."""

    messages: list[tuple[Level, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def message(self, level: Level, text: str) -> None:
        with self.lock:
            self.messages.append((level, text))


def make_info(
    scan_id: int = 1,
    npoints: int = 5,
    *,
    spectra: int = 0,
    images: int = 0,
    image_shape: tuple[int, int] = (251, 251),
    mesh: bool = False,
    odd_names: bool = False,
    compression_rank: int = -1,
) -> ScanInfo:
    """An ascan-like (or mesh-like) scan description with the usual column order."""
    motors = ["mot01", "mot02"] if mesh else ["mot01"]
    counter2 = ODD_COUNTER if odd_names else "ct02"
    cols = [Column("point_nb", "#Pt No", Role.POINT_NB, dtype="int64")]
    cols += [Column(m, m, Role.MOTOR, unit="mm") for m in motors]
    cols += [Column("timer", "timer", Role.TIMER, unit="s")]
    cols += [Column("ct01", "ct01", Role.COUNTER, unit="counts")]
    cols += [Column(counter2, counter2, Role.COUNTER)]
    cols += [
        Column(f"mca{i:02d}", f"mca{i:02d}", Role.SPECTRUM, shape=(256,)) for i in range(spectra)
    ]
    image_names = ["ccd/image µ" if odd_names and i == 0 else f"img{i:02d}" for i in range(images)]
    cols += [Column(n, n, Role.IMAGE, shape=image_shape) for n in image_names]
    cols += [Column("dt", "dt", Role.TIMESTAMP, unit="s", output=False)]
    positions = tuple(SnapshotValue(m, m, 0.5 * i, "mm") for i, m in enumerate(motors + ["gap x"]))
    shape = (npoints // 2, 2) if mesh else (npoints,)
    title = f"{'mesh' if mesh else 'ascan'} mot01 0 1 {npoints - 1} 0.1"
    return ScanInfo(
        scan_id=scan_id,
        title=title,
        macro=title.split()[0],
        user="tester",
        start_time=START + scan_id,
        columns=tuple(cols),
        ref_motors=tuple(motors),
        npoints=npoints,
        integration_time=0.1,
        motor_positions=positions,
        snapshot=(
            SnapshotValue("ring/current", "Ring current", 199.5, "mA"),
            SnapshotValue("mode", "mode", "uniform"),
        ),
        compression_rank=compression_rank,
        scan_shape=shape,
    )


def make_points(info: ScanInfo, n: int, *, nonfinite: bool = False) -> list[Point]:
    """Deterministic points; with `nonfinite`, point 1 holds NaN, +inf and -inf."""
    rng = np.random.default_rng(info.scan_id)
    points = []
    for i in range(n):
        values: dict[str, Any] = {}
        for col in info.columns:
            if col.role is Role.POINT_NB:
                values[col.name] = i
            elif col.role is Role.MOTOR:
                values[col.name] = 0.1 * i + 1 / 3
            elif col.role is Role.TIMESTAMP:
                values[col.name] = 0.1 * i + 1e-7
            elif col.ndim == 0:
                values[col.name] = float(rng.normal(1000, 30))
            else:
                values[col.name] = rng.random(col.shape) * 1e3
        if nonfinite and i == 1:
            names = [c.name for c in info.columns if c.role is Role.COUNTER]
            values[names[0]], values[names[1]], values["timer"] = math.nan, math.inf, -math.inf
            for col in info.columns_with(Role.SPECTRUM):
                values[col.name] = values[col.name].copy()
                values[col.name][:3] = (math.nan, math.inf, -math.inf)
        points.append(Point(i, values, START + 0.1 * i))
    return points


def run_scan(
    recorder_cls: type[Recorder],
    path: Path,
    info: ScanInfo,
    points: list[Point],
    *,
    status: EndStatus = EndStatus.DONE,
    reason: str = "",
    flush_every: int = 1,
    listener: Collector | None = None,
    policy: FilePolicy | None = None,
) -> Recorder:
    """Drive one recorder through a scan as the recorder manager does."""
    context = RecorderContext(
        listener=listener or Collector(), path=path, file_policy=policy or FilePolicy()
    )
    recorder = recorder_cls(context)
    try:
        recorder.start(info)
        for point in points:
            recorder.record(point)
            if (point.index + 1) % flush_every == 0:
                recorder.flush()
        recorder.flush()
    except Exception as exc:
        recorder.end(ScanEnd(EndStatus.FAILED, START + 100, len(points), str(exc)))
        raise
    recorder.end(ScanEnd(status, START + 100, len(points), reason))
    return recorder
