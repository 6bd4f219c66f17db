"""SPEC file recorder: scans appended to one text file that silx and PyMca read cleanly.

The SPEC C parser shared by silx and PyMca never raises: it silently zeroes or drops what
it cannot read and prints "Error on scan" on stdout. So everything written here follows
the rules measured in `reference/formats.md` §1: ASCII, `\\n` line ends, two-space
separated blank-free labels, one `write()` per point holding its `@A` spectra and its data
line (an abort never leaves a spectrum without its line), and no `nan`/`inf` tokens
(they read back as 0): non-finite values become documented sentinels, announced by a
`#C` line before the first line that holds one. Images go to EDF files (`edf.py`).
"""

from __future__ import annotations

import json
import math
import mmap
import os
import re
import time
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Sequence, TextIO

import numpy as np

from macroserver.datafiles import Folder
from macroserver.metadata.sidecar import plain, snapshot_record
from macroserver.recorders.base import Recorder, RecorderContext, ensure_parent, value_bytes
from macroserver.recorders.edf import EdfWriter, point_header, safe_file_part
from macroserver.recorders.names import make_unique
from macroserver.records import (
    Column,
    LinkedFrames,
    Point,
    PointBlock,
    Role,
    ScanEnd,
    ScanInfo,
    Written,
)

#: Non-finite values as written (silx/PyMca would read `nan`/`inf` as 0).
NONFINITE_TEXT = {
    "nan": "-1e+300",
    "inf": "1.7976931348623157e+308",
    "-inf": "-1.7976931348623157e+308",
}
NONFINITE_NOTE = "#C non-finite values written as: " + ", ".join(
    f"{k} -> {v}" for k, v in NONFINITE_TEXT.items()
)
_SENTINELS = frozenset(NONFINITE_TEXT.values())
IMAGE_COLUMN = "EDF_nb"
MCA_PER_LINE = 16
MOTORS_PER_LINE = 8
_LABEL_JUNK = re.compile(r"[^A-Za-z0-9_]+")


def spec_label(text: str, fallback: str) -> str:
    """A label safe in `#L`/`#O` lines and EDF mnemonics: `[A-Za-z0-9_]`, blanks to `_`."""
    return _LABEL_JUNK.sub("", text.strip().replace(" ", "_")) or fallback


def unique_labels(texts: Iterable[str], prefix: str) -> list[str]:
    """Sanitised, unique labels; `prefix<i>` stands in for a label with nothing usable."""
    return make_unique(spec_label(t, f"{prefix}{i}") for i, t in enumerate(texts))


def format_number(value: Any) -> str:
    """Full precision (`repr`), integers as integers, non-finite as sentinels."""
    if value is None:
        return NONFINITE_TEXT["nan"]
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value))
    number = float(value)
    if math.isfinite(number):
        return repr(number)
    return NONFINITE_TEXT[repr(number)]


def format_array(values: np.ndarray) -> list[str]:
    """Tokens of a spectrum; the common all-finite case stays a plain `repr` per item."""
    data = np.asarray(values).ravel()
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        return [format_number(v) for v in data.tolist()]
    return list(map(repr if data.dtype.kind == "f" else str, data.tolist()))


def column_tokens(values: Sequence[Any] | None, count: int) -> list[str]:
    """`format_number` of a whole column; the all-finite float case stays a plain `repr`."""
    if values is None:
        return [NONFINITE_TEXT["nan"]] * count
    data = np.asarray(values)
    if data.dtype.kind in "iu":
        return list(map(str, data.tolist()))
    if data.dtype.kind == "f" and np.isfinite(data).all():
        return list(map(repr, data.tolist()))
    return [format_number(v) for v in data.tolist()]


def mca_lines(tokens: Sequence[str]) -> str:
    """`@A` lines, `MCA_PER_LINE` values each, continued with a trailing backslash."""
    rows = [
        " ".join(tokens[i : i + MCA_PER_LINE]) for i in range(0, len(tokens), MCA_PER_LINE)
    ] or [""]
    return "@A " + "\\\n ".join(rows) + "\n"


def _numbered_lines(key: str, items: Sequence[str], sep: str) -> list[str]:
    """`#O0 a  b ...`/`#P0 1 2 ...` lines, `MOTORS_PER_LINE` items each, as SPEC writes."""
    return [
        f"#{key}{n} " + sep.join(items[i : i + MOTORS_PER_LINE])
        for n, i in enumerate(range(0, len(items), MOTORS_PER_LINE))
    ]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def last_header_motors(f: BinaryIO) -> list[str] | None:
    """Motor names of the file header in force at the end of the (non-empty) file `f`
    (None: no header)."""
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        start = m.rfind(b"\n#F ") + 1
        if start == 0 and not m[:3] == b"#F ":
            return None
        end = m.find(b"\n#S ", start)
        block = m[start : end if end >= 0 else len(m)].decode("ascii", "replace")
    names: list[str] = []
    for line in block.split("\n"):
        if line.startswith("#O"):
            names.extend(line.split(" ", 1)[1].split("  ") if " " in line else [])
    return names


def _header_json(value: Any) -> str:
    return json.dumps(plain(value), ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def metadata_lines(info: ScanInfo) -> list[str]:
    """`#UMETA` and `#USNAP` header lines: `<path or name> <JSON value> <JSON details>`
    (units, source, time; a failed snapshot read's error). silx keeps them in
    `scan_header_dict['UMETA']`, PyMca in `header('UMETA')`, spec2nexus as unrecognized
    lines, so nothing a SPEC reader does breaks and the values come back typed."""
    metadata = info.metadata
    lines = [f"#UMETA_SCHEMA {metadata.schema}"] if metadata.schema else []
    for item in metadata.values:
        details = {k: v for k, v in item.to_dict().items() if k not in ("path", "value")}
        lines.append(f"#UMETA {item.path} {_header_json(item.value)} {_header_json(details)}")
    for snap in info.snapshot:
        record = snapshot_record(snap)
        details = {k: v for k, v in record.items() if k not in ("name", "value")}
        lines.append(f"#USNAP {'_'.join(snap.name.split())} {_header_json(record['value'])} "
                     f"{_header_json(details)}")
    return lines


class SpecRecorder(Recorder):
    """Appends one `#S` scan per run to a SPEC file; images as EDF files beside it."""

    name = "spec"
    format_name = "SPEC"
    extensions = (".dat", ".spec")
    #: the file header and a scan's #S..#L lines (the snapshot makes them long)
    SCAN_OVERHEAD = 16 << 10
    #: a number as written (repr of a float64) and its separator
    NUMBER_TEXT = 24
    #: an EDF file's header, besides its pixels
    EDF_HEADER = 4 << 10

    @classmethod
    def estimate_bytes(cls, columns: Sequence[Column], npoints: int) -> int:
        """Text numbers for scalars and spectra (@A lines); an EDF file per image."""
        per_point = 0
        for column in columns:
            if column.ndim == 2:
                per_point += value_bytes(column) + cls.EDF_HEADER + cls.NUMBER_TEXT
            else:
                per_point += cls.NUMBER_TEXT * math.prod(column.shape)
        return cls.SCAN_OVERHEAD + npoints * per_point

    def __init__(self, context: RecorderContext) -> None:
        super().__init__(context)
        self._file: TextIO | None = None
        self._folder: Folder | None = None
        self._edf: EdfWriter | None = None
        self._edf_files: list[Path] = []
        self._scan_number: int | None = None  # the #S line once written
        self._noted_nonfinite = False

    def destination(self, info: ScanInfo) -> list[Written]:
        """The file, the scan number (the ScanID) and the images' folder, opened (a link
        there is refused before the scan starts)."""
        path = self.context.path
        if path is None:
            raise ValueError("the SPEC recorder needs a file path")
        policy = self.context.file_policy
        ensure_parent(path, policy)
        folder = self._folder = Folder(path.parent, policy)
        if any(c.ndim >= 2 for c in info.columns):
            self._edf = EdfWriter(folder, path, info.scan_id)
        return self._written(path, info.scan_id)

    def start(self, info: ScanInfo) -> None:
        if self._folder is None:
            self.destination(info)
        assert self._folder is not None and self.context.path is not None
        path, folder = self.context.path, self._folder
        self._info = info
        self._scalars = [c for c in info.columns if c.ndim == 0]
        self._spectra = [c for c in info.columns if c.ndim == 1]
        self._images = [c for c in info.columns if c.ndim >= 2]
        self._motor_names = unique_labels((m.name for m in info.motor_positions), "motor")
        self._counters = [c for c in self._scalars if c.role in (Role.TIMER, Role.COUNTER)]
        if self._images:
            self._start_edf_motors(info)

        parts = []
        size, motors = folder.size(path.name), None
        if size:
            with os.fdopen(folder.open(path.name, os.O_RDWR), "rb+") as f:
                removed = _cut_incomplete_point(f)
                if removed:
                    parts.append(f"#C {removed} bytes of an incomplete last point removed "
                                 "(the previous writer was killed mid-write)\n")
                size -= removed
                motors = last_header_motors(f) if size else None
        if not size or motors != self._motor_names:
            parts.append(("\n" if size else "") + self._file_header(path, info))
        parts.append(self._scan_header(info))
        fd = folder.open(path.name, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        self._file = os.fdopen(fd, "a", encoding="ascii", errors="backslashreplace",
                               newline="\n")
        self._write("".join(parts))
        self._scan_number = info.scan_id

    def _start_edf_motors(self, info: ScanInfo) -> None:
        """All motors for the EDF headers: start positions, scanned ones updated per point."""
        self._edf_positions = {m.name: m.value for m in info.motor_positions}
        for col in info.columns_with(Role.MOTOR):
            self._edf_positions.setdefault(col.name, math.nan)
        self._edf_motor_labels = unique_labels(self._edf_positions, "motor")
        self._scanned = info.columns_with(Role.MOTOR)
        self._counter_labels = unique_labels((c.label or c.name for c in self._counters), "ct")

    def _file_header(self, path: Path, info: ScanInfo) -> str:
        lines = [
            f"#F {path}",
            f"#E {int(info.start_time)}",
            f"#D {time.ctime(info.start_time)}",
            f"#C tango-macroserver  User = {_one_line(info.user)}",
            *_numbered_lines("O", self._motor_names, "  "),
        ]
        return "\n".join(line.rstrip() for line in lines) + "\n"

    def _scan_header(self, info: ScanInfo) -> str:
        started = time.ctime(info.start_time)
        positions = [format_number(m.value) for m in info.motor_positions]
        texts = [c.label or c.name for c in self._scalars]
        labels = unique_labels(texts + [IMAGE_COLUMN] if self._images else texts, "col")
        lines = [
            "",
            f"#S {info.scan_id} {_one_line(info.title)}",
            f"#U {_one_line(info.user)}",
            f"#D {started}",
            f"#T {info.integration_time!r}  (Seconds)",
            *_numbered_lines("P", positions, " "),
            f"#C Acquisition started at {started}",
            *metadata_lines(info),
        ]
        if self._edf is not None:
            channels = " ".join(safe_file_part(c.name) for c in self._images)
            lines.append(
                f"#C EDF images: {self._edf.folder.name}/{self._edf.pattern}, "
                f"point = {IMAGE_COLUMN}, channel in: {channels}"
            )
        lines += [frames_line(linked, info, self.context.path) for linked in info.linked]
        lines += self._mca_header()
        lines += [f"#N {len(labels)}", "#L " + "  ".join(labels)]
        return "\n".join(line.rstrip() for line in lines) + "\n"

    def _mca_header(self) -> list[str]:
        if not self._spectra:
            return []
        n = self._spectra[0].shape[0]
        lines = [f"#@MCA %{MCA_PER_LINE}C", f"#@CHANN {n} 0 {n - 1} 1", "#@CALIB 0 1 0"]
        lines.append(f"#@MCA_NB {len(self._spectra)}")
        for i, col in enumerate(self._spectra):
            lines.append(f"#@DET_{i} {spec_label(col.label or col.name, f'mca{i}')}")
        return lines

    def record(self, point: Point) -> None:
        values = point.values
        parts = []
        nonfinite = False
        for col in self._spectra:
            tokens = format_array(values[col.name])
            nonfinite = nonfinite or not _SENTINELS.isdisjoint(tokens)
            parts.append(mca_lines(tokens))
        row = [format_number(values.get(c.name)) for c in self._scalars]
        if self._images:
            self._write_images(point)
            row.append(str(point.index))
        if not self._noted_nonfinite and (nonfinite or not _SENTINELS.isdisjoint(row)):
            parts.insert(0, NONFINITE_NOTE + "\n")
            self._noted_nonfinite = True
        parts.append(" ".join(row) + "\n")
        self._write("".join(parts))

    def record_block(self, block: PointBlock) -> None:
        """Scalar-only scans: every row of the block formatted column by column and
        written at once; with spectra or images, point by point."""
        if self._spectra or self._images:
            super().record_block(block)
            return
        count = len(block)
        tokens = [column_tokens(block.columns.get(c.name), count) for c in self._scalars]
        rows = list(map(" ".join, zip(*tokens)))
        parts = []
        if not self._noted_nonfinite and any(not _SENTINELS.isdisjoint(t) for t in tokens):
            parts.append(NONFINITE_NOTE + "\n")
            self._noted_nonfinite = True
        parts.append("\n".join(rows) + "\n")
        self._write("".join(parts))

    def _write_images(self, point: Point) -> None:
        assert self._edf is not None
        for col in self._scanned:
            self._edf_positions[col.name] = point.values.get(col.name, math.nan)
        motors = dict(zip(self._edf_motor_labels, self._edf_positions.values()))
        counters = {
            label: point.values.get(c.name, math.nan)
            for label, c in zip(self._counter_labels, self._counters)
        }
        header = point_header(
            self._info.scan_id,
            self._info.title,
            point.index,
            motors,
            counters,
            self._info.integration_time,
            point.timestamp,
        )
        for col in self._images:
            self._edf_files.append(
                self._edf.write(col.name, point.index, point.values[col.name], header))

    def _write(self, text: str) -> None:
        assert self._file is not None
        self._file.write(text)
        self._file.flush()

    def end(self, end: ScanEnd) -> None:
        for folder in (self._edf, self._folder):
            if folder is not None:
                folder.close()
        if self._file is None:
            return
        try:
            self._write(
                f"#C Acquisition ended at {time.ctime(end.end_time)} "
                f"(status: {_one_line(end.status_text)})\n"
            )
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
            self._file = None

    def written(self) -> list[Written]:
        """The SPEC file, the scan's `#S` number and where its EDF images go."""
        path = self.context.path
        if path is None or not path.is_file() or self._scan_number is None:
            return []
        return self._written(path, self._scan_number)

    def _written(self, path: Path, scan_number: int) -> list[Written]:
        images = str(self._edf.folder / self._edf.pattern) if self._edf is not None else ""
        return [Written(path, self.format_name, scan_number=scan_number, images=images)]

    def files_written(self) -> list[tuple[Path, str]]:
        """The SPEC file and the EDF images of this scan."""
        return super().files_written() + [(p, "EDF") for p in self._edf_files if p.is_file()]


def frames_line(linked: LinkedFrames, info: ScanInfo, path: Path | None) -> str:
    """`#C` line naming a self-saving detector's files (relative to the SPEC file)."""
    files = linked.files(linked.planned)
    folder = os.path.relpath(linked.folder, path.parent) if path else str(linked.folder)
    column = spec_label(info.column(linked.column).label or linked.column, linked.column)
    return (f"#C frames of {column}: {folder}/{files[0][0]} to {files[-1][0]}, "
            f"{linked.frames_per_file} per file, dataset {linked.dataset}; "
            f"the frame number of each point is in column {column}")


def _cut_incomplete_point(f: BinaryIO) -> int:
    """Truncate what a killed writer left of its last point; returns the bytes removed.

    A point is one `write()` (its `@A` lines, then its data line), but the kernel may
    complete only part of a large write when the process is killed. What follows the last
    `\\n`, and `@A` lines (with their ` ` continuations) not followed by their data line,
    are cut, so the next scan starts on a clean line and no spectrum lacks its row.
    """
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - (1 << 20)))
    tail = f.read()
    offset = size - len(tail)
    keep = tail.rfind(b"\n") + 1
    while keep:
        start = tail.rfind(b"\n", 0, keep - 1) + 1
        line = tail[start:keep]
        if not line.startswith((b"@A", b" ")):
            break
        keep = start
    if offset + keep == size or (keep == 0 and offset):
        return 0
    f.truncate(offset + keep)
    return size - offset - keep
