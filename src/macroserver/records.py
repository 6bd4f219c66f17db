"""The records every recorder sees: the contract between the scan engine and recorders.

A scan is described once (`ScanInfo` with its ordered `Column`s), then streamed as small
`Point`s, then closed by a `ScanEnd` that always carries an explicit status. Recorders
never see the engine, motors or Tango; the engine never sees a file format.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np


class Role(enum.StrEnum):
    """What a column holds; recorders use it to pick axes, signals and layouts."""

    POINT_NB = "point_nb"
    MOTOR = "motor"
    TIMER = "timer"
    COUNTER = "counter"
    SPECTRUM = "1d"
    IMAGE = "2d"
    TIMESTAMP = "timestamp"
    FRAME = "frame"  # the frame number a self-saving detector saved for this point
    #: Where a motor was planned to be at the point (continuous scans); the MOTOR column
    #: beside it holds where it was.
    PLANNED = "planned"

    @classmethod
    def of_channel(cls, kind: str) -> Role:
        """The role of a channel whose configured `kind` is timer, counter, spectrum, image
        or selfsaving (a detector saving its own frames: its value is the frame number).

        A Role is accepted as it is, so a channel's `kind` may be either."""
        if isinstance(kind, Role) and kind in _CHANNEL_KIND:
            return kind
        try:
            return _CHANNEL_ROLE[kind]
        except KeyError:
            raise ValueError(f"kind must be one of {tuple(_CHANNEL_ROLE)}, not {kind!r}") from None

    @property
    def channel_kind(self) -> str:
        """The configuration's word for a channel role (timer, counter, spectrum, image,
        selfsaving)."""
        return _CHANNEL_KIND[self]

    @property
    def scalar(self) -> bool:
        return self not in (Role.SPECTRUM, Role.IMAGE)

    @property
    def ndim(self) -> int:
        return {Role.SPECTRUM: 1, Role.IMAGE: 2}.get(self, 0)


_CHANNEL_ROLE = {"timer": Role.TIMER, "counter": Role.COUNTER, "spectrum": Role.SPECTRUM,
                 "image": Role.IMAGE, "selfsaving": Role.FRAME}
_CHANNEL_KIND = {role: kind for kind, role in _CHANNEL_ROLE.items()}
#: The channel kinds a configuration may name.
CHANNEL_KINDS = tuple(_CHANNEL_ROLE)


class EndStatus(enum.StrEnum):
    """How a macro or a scan ended: in `ScanEnd` for recorders, in the runner's and the
    client's outcome, in mspock's exit code. On the Door's MacroStatus it is sent as
    Sardana's word for it (`macro_state`)."""

    DONE = "done"
    STOPPED = "stopped"
    ABORTED = "aborted"
    FAILED = "failed"

    @property
    def macro_state(self) -> str:
        """Sardana's MacroStatus state for this end: finish, stop, abort or exception."""
        return _MACRO_STATE[self]

    @classmethod
    def from_macro_state(cls, state: str) -> EndStatus | None:
        """The end a MacroStatus state means; None for a state that is no end (start, pause)."""
        return _END_OF_MACRO_STATE.get(state)


_MACRO_STATE = {EndStatus.DONE: "finish", EndStatus.STOPPED: "stop",
                EndStatus.ABORTED: "abort", EndStatus.FAILED: "exception"}
_END_OF_MACRO_STATE = {state: end for end, state in _MACRO_STATE.items()}


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
class LinkedFrames:
    """Where a self-saving detector writes its frames, so recorders link them, never copy.

    Frame `n` is frame `n % frames_per_file` of dataset `dataset` in file
    `folder / file_name(n // frames_per_file)`. `column` is the scan column holding each
    point's frame number; `planned` the frames the detector was armed for.
    """

    column: str
    folder: Path
    prefix: str
    suffix: str
    dataset: str
    frames_per_file: int
    frame_shape: tuple[int, ...]
    frame_dtype: str
    planned: int
    first_file_number: int = 0
    index_digits: int = 4

    def file_name(self, file_index: int) -> str:
        """The name of the detector's `file_index`-th file of this scan (Lima's naming)."""
        number = self.first_file_number + file_index
        return f"{self.prefix}{number:0{self.index_digits}d}{self.suffix}"

    def locate(self, frame: int) -> tuple[str, int]:
        """(file name, index inside that file) of frame number `frame`."""
        return self.file_name(frame // self.frames_per_file), frame % self.frames_per_file

    def files(self, frames: int) -> list[tuple[str, int]]:
        """(file name, frames it holds) of the files that hold the first `frames` frames."""
        per = self.frames_per_file
        return [(self.file_name(k), min(per, frames - k * per))
                for k in range(-(-frames // per))]


@dataclass(frozen=True, slots=True)
class FrameCount:
    """What a self-saving detector reported at the end of a scan (None: not known)."""

    acquired: int | None
    saved: int | None


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
    #: per-element metadata from a MetadataManager: {element: {nx_class, units, ...}}
    elements: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def get(self, path: str, default: Any = None) -> Any:
        for item in self.values:
            if item.path == path:
                return item.value
        return default

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"schema": self.schema, "groups": dict(self.groups),
                                    "values": [v.to_dict() for v in self.values]}
        if self.elements:
            document["elements"] = {k: dict(v) for k, v in self.elements.items()}
        return document

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> "ScanMetadata":
        values = tuple(
            MetadataValue(v["path"], v["value"], v.get("units", ""), v.get("source", ""),
                          float(v.get("time", 0.0)))
            for v in document.get("values", ()))
        return cls(values, dict(document.get("groups", {})), str(document.get("schema", "")),
                   dict(document.get("elements", {})))


@dataclass(frozen=True)
class Grid:
    """A 2D scan laid out as rows (meshct): `slow_positions` of the slow motor, each row
    `fast_positions` of the fast one; `snake` rows alternate direction. Point `i` is the
    cell (i // len(fast), i % len(fast)), counted backwards on odd rows of a snake."""

    slow: str
    fast: str
    slow_positions: Sequence[float]
    fast_positions: Sequence[float]
    snake: bool = False

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.slow_positions), len(self.fast_positions)

    def cells(self, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, columns) of points first .. first + count - 1."""
        width = len(self.fast_positions)
        index = np.arange(first, first + count)
        rows, cols = index // width, index % width
        if self.snake:
            cols = np.where(rows % 2 == 1, width - 1 - cols, cols)
        return rows, cols


@dataclass(frozen=True, slots=True)
class Written:
    """Where a recorder actually put a scan, reported by the recorder itself.

    It can differ from what ScanFile asked for: an entry name already taken in a NeXus
    file gets a suffix (its data are in `<stem>_scans/`, reached through the entry).
    ScanHistory, the JSON packets, showscan and the web view read this instead of
    recomputing names."""

    path: Path
    format: str
    #: the NeXus entry holding the scan (`entry12`, `entry12_2`); "" for other formats
    entry: str = ""
    #: the scan's `#S` number in a SPEC file
    scan_number: int | None = None
    #: image files written beside it, as a path pattern (`{channel}`, `{point:05d}`)
    images: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (ScanHistory, the JSON recorder's `data_desc`)."""
        return {"path": str(self.path), "format": self.format, "entry": self.entry or None,
                "scan_number": self.scan_number, "images": self.images or None}


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
    linked: tuple[LinkedFrames, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    grid: Grid | None = None
    #: where the file recorders put this scan (set once they have started; see `Written`)
    written: tuple[Written, ...] = ()

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
class PointBlock:
    """Consecutive points at once, column by column (continuous scans produce thousands
    per second; one queue item and one batch write per block instead of per point).

    `columns[name]` holds `len(block)` values: a numpy array for scalar columns, a list
    of arrays for 1D/2D ones. `first` is the index of the first point.
    """

    first: int
    columns: Mapping[str, Sequence[Any]]
    timestamps: Sequence[float]

    def __len__(self) -> int:
        return len(self.timestamps)

    def point(self, offset: int) -> Point:
        """The point at `offset` in the block (0 is the first)."""
        values = {name: column[offset] for name, column in self.columns.items()}
        values = {k: v.item() if isinstance(v, np.generic) else v for k, v in values.items()}
        return Point(self.first + offset, values, float(self.timestamps[offset]))

    def points(self) -> Iterator[Point]:
        """The block as single points, for recorders that write point by point."""
        names = list(self.columns)
        for offset, row in enumerate(zip(*(self.columns[n] for n in names))):
            values = dict(zip(names, (v.item() if isinstance(v, np.generic) else v
                                      for v in row)))
            yield Point(self.first + offset, values, float(self.timestamps[offset]))


@dataclass(frozen=True, slots=True)
class ScanEnd:
    """How and when the scan ended; `reason` says why for stopped/aborted/failed."""

    status: EndStatus
    end_time: float
    points: int
    reason: str = ""
    frames: Mapping[str, FrameCount] = field(default_factory=dict)  # by detector column
    #: the scan's statistics, as the `ScanStats` variable holds them ({} when none)
    stats: Mapping[str, Any] = field(default_factory=dict)

    @property
    def status_text(self) -> str:
        """`done`, `stopped`, `aborted` or `failed: <why>` for file footers."""
        if self.status is EndStatus.FAILED and self.reason:
            return f"failed: {self.reason}"
        return str(self.status)
