"""The records every recorder sees: the contract between the scan engine and recorders.

A scan is described once (`ScanInfo` with its ordered `Column`s), then streamed as small
`Point`s, then closed by a `ScanEnd` that always carries an explicit status. Recorders
never see the engine, motors or Tango; the engine never sees a file format.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


class Role(enum.StrEnum):
    """What a column holds; recorders use it to pick axes, signals and layouts."""

    POINT_NB = "point_nb"
    MOTOR = "motor"
    TIMER = "timer"
    COUNTER = "counter"
    SPECTRUM = "1d"
    IMAGE = "2d"
    TIMESTAMP = "timestamp"


class EndStatus(enum.StrEnum):
    """How a scan ended; every recorder gets one of these in `ScanEnd`."""

    DONE = "done"
    STOPPED = "stopped"
    ABORTED = "aborted"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the scan, described once at start.

    `shape` is `()` for scalars, `(n,)` for spectra and `(h, w)` for images.
    `output` is False for columns the console table hides unless asked (the timestamp).
    """

    name: str
    label: str
    role: Role
    dtype: str = "float64"
    shape: tuple[int, ...] = ()
    unit: str = ""
    source: str = ""
    output: bool = True
    plot_axes: tuple[str, ...] = ()

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON description (used by the JSON recorder and the Tango layer)."""
        return {
            "name": self.name,
            "label": self.label,
            "role": str(self.role),
            "dtype": self.dtype,
            "shape": list(self.shape),
            "unit": self.unit,
            "source": self.source,
            "output": self.output,
            "plot_type": 1 if self.role in (Role.COUNTER, Role.TIMER) else 0,
            "plot_axes": list(self.plot_axes),
        }


@dataclass(frozen=True, slots=True)
class SnapshotValue:
    """A value read once before the scan (`PreScanSnapshot`, motor positions).

    `source` says what was read (a motor, a Tango attribute, an environment variable);
    a read that failed has `value` None and says why in `error` (a scan never fails
    for a snapshot item)."""

    name: str
    label: str
    value: Any
    unit: str = ""
    source: str = ""
    time: float = 0.0
    error: str = ""


@dataclass(frozen=True, slots=True)
class MetadataValue:
    """One metadata value of a scan: its path inside the NeXus entry (`sample/name`),
    its typed value and units, and where it came from and when (provenance)."""

    path: str
    value: Any
    units: str = ""
    source: str = ""
    time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        item = {"path": self.path, "value": self.value, "source": self.source,
                "time": self.time}
        if self.units:
            item["units"] = self.units
        return item


@dataclass(frozen=True)
class ScanMetadata:
    """The metadata of a scan: values, the NeXus class of each group on their paths
    (`sample` -> NXsample) and the schema they were validated against ("name/version")."""

    values: tuple[MetadataValue, ...] = ()
    groups: Mapping[str, str] = field(default_factory=dict)
    schema: str = ""

    def get(self, path: str, default: Any = None) -> Any:
        for item in self.values:
            if item.path == path:
                return item.value
        return default

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.schema, "groups": dict(self.groups),
                "values": [v.to_dict() for v in self.values]}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> "ScanMetadata":
        values = tuple(
            MetadataValue(v["path"], v["value"], v.get("units", ""), v.get("source", ""),
                          float(v.get("time", 0.0)))
            for v in document.get("values", ()))
        return cls(values, dict(document.get("groups", {})), str(document.get("schema", "")))


@dataclass(frozen=True)
class ScanInfo:
    """Everything known about a scan before its first point."""

    scan_id: int
    title: str
    macro: str
    user: str
    start_time: float
    columns: tuple[Column, ...]
    ref_motors: tuple[str, ...] = ()
    npoints: int | None = None
    integration_time: float = 0.0
    estimated_time: float = 0.0
    scan_dir: Path | None = None
    scan_files: tuple[str, ...] = ()
    motor_positions: tuple[SnapshotValue, ...] = ()
    snapshot: tuple[SnapshotValue, ...] = ()
    compression_rank: int = -1
    scan_shape: tuple[int, ...] = ()
    macro_id: str = ""
    metadata: ScanMetadata = field(default_factory=ScanMetadata)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def columns_with(self, *roles: Role) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.role in roles)

    @property
    def counters(self) -> tuple[str, ...]:
        """Channel names other than the timer, in column order (Sardana's `counters`)."""
        return tuple(
            c.name for c in self.columns if c.role in (Role.COUNTER, Role.SPECTRUM, Role.IMAGE)
        )


@dataclass(frozen=True, slots=True)
class Point:
    """One measured point: `values[column name]`, numpy arrays for 1D/2D columns."""

    index: int
    values: Mapping[str, Any]
    timestamp: float

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


@dataclass(frozen=True, slots=True)
class ScanEnd:
    """How and when the scan ended; `reason` says why for stopped/aborted/failed."""

    status: EndStatus
    end_time: float
    points: int
    reason: str = ""

    @property
    def status_text(self) -> str:
        """`done`, `stopped`, `aborted` or `failed: <why>` for file footers."""
        if self.status is EndStatus.FAILED and self.reason:
            return f"failed: {self.reason}"
        return str(self.status)
