"""The recorder plug-in contract.

A recorder class is instantiated once per scan with a `RecorderContext`, then receives
`destination(info)` and `start(info)`, `record(point)` for every point in order (or
`record_block(block)` for consecutive points at once; by default it calls `record`), and
always `end(end)`, all in its own worker thread (see `manager.py`). It may buffer; a
recorder that overrides `flush()` gets it once its queue has run empty (at most every
`flush_gap` seconds, and within that time of going idle), so it can bound the data at
risk in time.

How a recorder is selected for a scan is declared by class attributes:

- `extensions`: a file recorder, chosen for each `ScanFile` entry with one of these
  extensions (or by name through `ScanRecorder`); it gets `context.path`.
- `enable_env`: a non-file recorder that is on when that environment variable is set
  to a true value (`JsonRecorder`, `SharedMemory`); `None` means always on (the table).
  `enable_default`: whether it is on while the variable is not defined (JSON: yes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from macroserver.datafiles import FilePolicy, ensure_folder
from macroserver.records import Column, Point, PointBlock, ScanEnd, ScanInfo, Written
from macroserver.streams import Level, MacroListener, NullListener


@dataclass
class RecorderContext:
    """What a recorder may use: its file, the environment, and the macro's streams."""

    listener: MacroListener = field(default_factory=NullListener)
    env: Mapping[str, Any] = field(default_factory=dict)  # read only: the server's own values
    path: Path | None = None
    file_policy: FilePolicy = field(default_factory=FilePolicy)
    door_name: str = "local"

    def message(self, level: Level, text: str) -> None:
        self.listener.message(level, text)


class Recorder:
    """Base class of all recorders; override `start`, `record`, `end` (and maybe `flush`)."""

    #: Registry name, as used in `ScanRecorder` (the class name is accepted too).
    name: ClassVar[str] = ""
    #: Human-readable format name for "Operation will be saved in <file> (<format>)".
    format_name: ClassVar[str] = ""
    #: File extensions (lower case, with the dot) this recorder writes.
    extensions: ClassVar[tuple[str, ...]] = ()
    #: Environment variable that switches a non-file recorder on; None = always on.
    enable_env: ClassVar[str | None] = None
    #: Value suggested in the hint when `enable_env` is not defined.
    enable_example: ClassVar[str] = "True"
    #: On while `enable_env` is not defined (no hint then); `senv <it> False` turns it off.
    enable_default: ClassVar[bool] = False
    #: A critical recorder's failure stops the scan instead of only disabling it.
    critical: ClassVar[bool] = False
    #: Points a recorder may lag behind before the scan waits for it. Live recorders
    #: (table, JSON) keep it small so what clients see trails the scan by milliseconds.
    queue_size: ClassVar[int] = 256
    #: Least time between two idle `flush()` calls (the data at risk grows by at most
    #: this much); a recorder that went idle is flushed within this time.
    flush_gap: ClassVar[float] = 0.05

    def __init__(self, context: RecorderContext) -> None:
        self.context = context

    def destination(self, info: ScanInfo) -> list[Written] | None:
        """Where this scan will be written, decided before the files are opened; called
        first, in the scan's thread (keep it short), then `start` in the recorder's
        thread. A file recorder that
        answers (a list, as `written()` would give once started) lets the scan go on
        while it opens its files (the points queue up meanwhile); a file that then
        cannot be opened stops the scan. None (the default): the scan waits for `start`
        and asks `written()`. What fails here leaves the recorder out before the scan
        starts, as a failing `start` does then."""
        return None

    def start(self, info: ScanInfo) -> None:
        """Called once before any point."""

    def record(self, point: Point) -> None:
        """Called for every point, in order."""

    def record_block(self, block: PointBlock) -> None:
        """Called with consecutive points at once (continuous scans), in order with the
        single points. Recorders that can write a batch faster override it."""
        record = self.record
        for point in block.points():
            record(point)

    def flush(self) -> None:
        """Called when the recorder has caught up with the scan; write what is buffered."""

    def end(self, end: ScanEnd) -> None:
        """Always called last, also after a failure of this recorder (to close files)."""

    def written(self) -> list[Written]:
        """Where this recorder put the scan, as it actually did; asked once `start` has
        returned (the live recorders and the JSON `ref` get it) and after `end` (the
        ScanHistory). A file recorder that writes elsewhere than `context.path`, or
        names its part of the file, overrides it."""
        path = self.context.path
        return [Written(path, self.format_name)] if path is not None and path.is_file() else []

    @classmethod
    def estimate_bytes(cls, columns: Sequence[Column], npoints: int) -> int:
        """Bytes the file(s) of a scan of `npoints` points of `columns` would take, asked
        before the scan starts (free space, dry run); each format knows its own
        overhead. 0: this recorder writes no file."""
        return 0

    def files_written(self) -> list[tuple[Path, str]]:
        """(path, format) of every file this scan went to, for the catalogue sidecar."""
        return [(w.path, w.format) for w in self.written() if w.path.is_file()]


def value_bytes(column: Column) -> int:
    """Bytes of one value of `column` in binary form (its dtype times its shape)."""
    return np.dtype(column.dtype).itemsize * math.prod(column.shape)


def ensure_parent(path: Path, policy: FilePolicy) -> None:
    """Create the folders leading to `path` with the configured mode and group."""
    ensure_folder(path.parent, policy)
