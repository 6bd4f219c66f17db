"""NeXus/HDF5 recorder: one `/entry<ScanID>` per scan, readable live and after a crash.

Everything of an entry (groups, attributes, growing datasets, placeholders for the end
time and status) is created at start, then the file switches to SWMR mode: from then on
a reader in another process sees every flushed point, and a writer killed by SIGKILL
leaves a file that SWMR readers (h5py `swmr=True`, silx) open with all flushed points.
Rows are buffered and written in blocks, all datasets growing in lock-step, at most
`FLUSH_INTERVAL` seconds after they arrived (HDF5's per-call overhead dominates
single-row writes). The layout follows `reference/formats.md` §3.3 so silx, punx and
nexusformat find the default plot; see docs/file-formats.md.
"""

from __future__ import annotations

import datetime
import json
import re
import time
from pathlib import Path
from types import ModuleType
from typing import AbstractSet, Any, Iterable, Mapping, Sequence

import h5py
import numpy as np

from macroserver.datafiles import DataPathError, Folder
from macroserver.metadata.sidecar import program_version, snapshot_record
from macroserver.recorders.base import Recorder, RecorderContext, ensure_parent, value_bytes
from macroserver.recorders.h5file import (
    ScanFile,
    abandon,
    changing,
    link_into_master,
    master_entries,
    open_scans_folder,
)
from macroserver.recorders.names import make_unique
from macroserver.recorders.nxlinks import DetectorLinks
from macroserver.records import (
    Column,
    FrameCount,
    Grid,
    Point,
    PointBlock,
    Role,
    ScanEnd,
    ScanInfo,
    Written,
)
from macroserver.streams import Level

hdf5plugin: ModuleType | None
try:  # Blosc/bitshuffle is much faster than gzip; readers then need hdf5plugin too.
    import hdf5plugin
except ImportError:  # pragma: no cover - depends on the installation
    hdf5plugin = None

FLUSH_INTERVAL = 0.5  # seconds of data at risk at most
MAX_BUFFER_BYTES = 16 << 20  # flush earlier when fast big frames pile up (peak memory)
CHUNK_BYTES = 256 << 10  # chunk size aimed at; one image frame per chunk when larger
MAX_CHUNK_ROWS = 1024  # 8 KiB of float64 scalars per chunk: ~100 chunks for 100,000 points
DIRECT_ROW_BYTES = 64 << 10  # rows this big are written one call each, not copied to a block
TIME_LENGTH = 32  # "2026-11-25T13:47:22.123456+01:00"
STATUS_LENGTH = 256
PROGRAM = "tango-macroserver"
LINKED_FORMAT = "HDF5 detector frames (linked)"
_NAME_JUNK = re.compile(r"[^a-z0-9_]+")


def nexus_name(text: str, fallback: str) -> str:
    """A name matching NeXus' strict pattern `[a-z_][a-z0-9_]*` (punx, nexusformat)."""
    name = _NAME_JUNK.sub("_", text.lower()).strip("_")
    if not name:
        return fallback
    return f"_{name}" if name[0].isdigit() else name


def nexus_names(texts: Iterable[str], fallback: str) -> list[str]:
    return make_unique(nexus_name(t, f"{fallback}{i}") for i, t in enumerate(texts))


def iso_time(epoch: float) -> str:
    """ISO 8601 with the local time zone, as NX_DATE_TIME wants."""
    return datetime.datetime.fromtimestamp(epoch).astimezone().isoformat()


def chunk_rows(row_bytes: int, npoints: int | None) -> int:
    """Rows per chunk: about `CHUNK_BYTES`, no more rows than the scan is expected to have."""
    rows = max(1, min(MAX_CHUNK_ROWS, CHUNK_BYTES // max(row_bytes, 1)))
    return min(rows, npoints) if npoints and npoints > 0 else rows


def compression(rank: int, ndim: int) -> dict[str, Any]:
    """`DataCompressionRank`: -1 none; r >= 0 compresses columns whose per-point rank
    (0 scalar, 1 spectrum, 2 image) is at least r. Blosc/LZ4 with bitshuffle when
    hdf5plugin is importable, else gzip level 1 with shuffle (readable everywhere)."""
    if rank < 0 or ndim < rank:
        return {}
    if hdf5plugin is not None:
        return dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.BITSHUFFLE))
    return {"compression": "gzip", "compression_opts": 1, "shuffle": True}


def _column_dtype(column: Column) -> np.dtype:
    try:
        dtype = np.dtype(column.dtype)
    except TypeError:
        return np.dtype("float64")
    if dtype.kind == "b":
        return np.dtype("int8")  # NeXus has no boolean type
    return dtype if dtype.kind in "iuf" else np.dtype("float64")


def _fill(dtype: np.dtype) -> Any:
    return np.nan if dtype.kind == "f" else 0


def _fixed_text(text: str, length: int) -> bytes:
    return text.encode("utf-8")[:length].decode("utf-8", "ignore").encode("utf-8")


class _Series:
    """One growing measurement dataset and the rows not yet written to it."""

    def __init__(self, dataset: h5py.Dataset, column: Column) -> None:
        self.dataset = dataset
        self.key = column.name
        self.shape = column.shape
        self.fill = _fill(dataset.dtype)
        self.scalar = dataset.dtype.type
        self.row_bytes = dataset.dtype.itemsize * int(np.prod(column.shape, dtype=np.int64))
        self.rows: list[Any] = []
        # one unfiltered chunk per frame: frames go straight into their chunk, bypassing
        # HDF5's selection and conversion machinery (about 40% less time per 2D frame)
        self.direct = (
            self.row_bytes >= DIRECT_ROW_BYTES
            and dataset.chunks == (1, *column.shape)
            and dataset.id.get_create_plist().get_nfilters() == 0
        )
        self.zeros = (0,) * len(column.shape)

    def value(self, values: Mapping[str, Any]) -> tuple[Any, int]:
        """This column's value of a point (checked) and its size in bytes."""
        value = values.get(self.key)
        if value is None:
            return (np.full(self.shape, self.fill) if self.shape else self.fill), 8
        if not self.shape:
            return self.scalar(value), 8  # converted now: a bad value fails this point only
        array = np.asarray(value)
        if array.shape != self.shape:
            raise ValueError(
                f"column {self.key!r}: value of shape {array.shape}, declared {self.shape}"
            )
        return array, array.nbytes

    def column(self, values: Sequence[Any] | None, count: int) -> tuple[Any, int]:
        """This column's values of a block of `count` points (checked) and their bytes."""
        if values is None:
            return [self.value({})[0]] * count, 8 * count
        if not self.shape:
            return np.asarray(values, dtype=self.dataset.dtype), 8 * count
        checked = [self.value({self.key: v}) for v in values]
        return [v for v, _ in checked], sum(size for _, size in checked)

    def grow(self, rows: int) -> None:
        self.dataset.resize(rows, axis=0)

    def write(self, start: int) -> None:
        """Small rows go as one block; big frames one call each (no copy into a block)."""
        if self.row_bytes >= DIRECT_ROW_BYTES:
            dtype, direct = self.dataset.dtype, self.direct
            write_chunk = self.dataset.id.write_direct_chunk
            for i, row in enumerate(self.rows, start):
                if direct and row.dtype == dtype and row.flags.c_contiguous:
                    write_chunk((i, *self.zeros), row)
                else:
                    self.dataset[i] = row
        else:
            block = np.asarray(self.rows, dtype=self.dataset.dtype)
            self.dataset[start : start + len(block)] = block
        self.rows.clear()


class NexusRecorder(Recorder):
    """Appends `/entry<ScanID>` to an HDF5 file: measurement, instrument, snapshot, plot."""

    name = "nexus"
    format_name = "NeXus"
    extensions = (".h5", ".nxs", ".hdf5")
    #: the entry's groups, metadata, snapshot, plot and the master's link (measured:
    #: ~100 KiB for a demo scan), and per column its dataset headers and last chunk
    FILE_OVERHEAD = 256 << 10
    COLUMN_OVERHEAD = 16 << 10

    @classmethod
    def estimate_bytes(cls, columns: Sequence[Column], npoints: int) -> int:
        """Uncompressed values plus the layout: compression only makes it smaller."""
        per_point = sum(value_bytes(c) for c in columns)
        return cls.FILE_OVERHEAD + len(columns) * cls.COLUMN_OVERHEAD + npoints * per_point

    def __init__(self, context: RecorderContext) -> None:
        super().__init__(context)
        self._file: h5py.File | None = None
        self._folder: Folder | None = None
        self._scans: Folder | None = None  # the `_scans` folder until the scan file holds it
        self._scan: ScanFile | None = None
        self._path: Path | None = None  # this scan's own file (see h5file.py)
        self._series: list[_Series] = []
        self._small: list[_Series] = []  # written first, then flushed
        self._frames: list[_Series] = []  # frames of 64 KiB or more, written after
        self._entry: h5py.Group | None = None
        self._links: list[DetectorLinks] = []
        self._grid: tuple[Grid, h5py.Dataset, h5py.Dataset, _Series] | None = None
        self._entry_name = ""
        self._written = 0
        self._pending = 0
        self._pending_bytes = 0
        self._last_flush = time.monotonic()

    # -- start --------------------------------------------------------------------------

    def destination(self, info: ScanInfo) -> list[Written]:
        """The master and the entry this scan gets (the master's names read now), its
        folders opened (a link there is refused before the scan starts)."""
        path = self.context.path
        if path is None:
            raise ValueError("the NeXus recorder needs a file path")
        ensure_parent(path, self.context.file_policy)
        folder = self._folder = Folder(path.parent, self.context.file_policy)
        try:
            taken = master_entries(folder, path.name)
        except OSError as exc:
            taken = frozenset()
            self.context.message(Level.WARNING, f"cannot read {path} ({exc})")
        self._entry_name = _entry_name(info.scan_id, taken)
        if self._entry_name != f"entry{info.scan_id}":
            self.context.message(
                Level.WARNING,
                f"{path} already holds entry{info.scan_id} (ScanID reused?); "
                f"this scan is written to {self._entry_name}",
            )
        self._scans = open_scans_folder(folder, path)
        return [Written(path, self.format_name, entry=self._entry_name)]

    def start(self, info: ScanInfo) -> None:
        if self._scans is None:
            self.destination(info)
        assert self._scans is not None and self.context.path is not None
        path = self.context.path
        scans, self._scans = self._scans, None
        scan = self._scan = ScanFile(scans, path, info.scan_id)
        self._file, self._path = scan.file, scan.path
        self._file.attrs.update(_root_attrs(scan.path))
        entry = self._entry = self._new_entry(info)
        keys = [c.name for c in info.columns]
        names = dict(zip(keys, nexus_names(keys, "column")))
        self._create_measurement(entry, info, names)
        self._create_snapshot(entry, info)
        self._create_instrument(entry, info, names)
        for linked in info.linked:
            links = DetectorLinks(linked, names[linked.column], self._path)
            links.create(entry, entry["measurement"][names[linked.column]])
            self._links.append(links)
        if info.grid is not None:
            self._create_grid_plot(entry, info, info.grid, names)
        else:
            self._create_plot(entry, info, names)
        self._create_metadata(entry, info)
        self._start_swmr(self._path)
        self._link(path, entry.name.lstrip("/"))
        self._last_flush = time.monotonic()

    def _link(self, master: Path, entry: str) -> None:
        """Join the scan's file into the master (readers of the master see it live)."""
        assert self._folder is not None and self._path is not None
        try:
            link_into_master(self._folder, master, entry, self._path, _root_attrs(master))
        except (OSError, DataPathError) as exc:
            self.context.message(
                Level.WARNING,
                f"cannot add {entry} to {master} ({exc}); this scan is in {self._path}")

    def _new_entry(self, info: ScanInfo) -> h5py.Group:
        f = self._file
        assert f is not None
        name = self._entry_name
        f.attrs["default"] = name
        entry = f.create_group(name)
        entry.attrs.update(NX_class="NXentry", default="data")
        entry["title"] = info.title
        entry["start_time"] = iso_time(info.start_time)
        entry.create_dataset("end_time", shape=(), dtype=h5py.string_dtype("utf-8", TIME_LENGTH))
        entry["entry_identifier"] = str(info.scan_id)
        entry["program_name"] = PROGRAM
        entry["program_name"].attrs["version"] = program_version()
        if info.metadata.get("user/name") is None:
            user = entry.create_group("user")
            user.attrs["NX_class"] = "NXuser"
            user["name"] = info.user
        notes = entry.create_group("notes")
        notes.attrs["NX_class"] = "NXnote"
        notes["type"] = "text/plain"
        notes["description"] = "how the scan ended: done, stopped, aborted or failed: <why>"
        notes.create_dataset("data", shape=(), dtype=h5py.string_dtype("utf-8", STATUS_LENGTH))
        return entry

    def _create_measurement(
        self, entry: h5py.Group, info: ScanInfo, names: Mapping[str, str]
    ) -> None:
        group = entry.create_group("measurement", track_order=True)  # column order kept
        group.attrs["NX_class"] = "NXcollection"
        for column in info.columns:
            dtype = _column_dtype(column)
            row_bytes = dtype.itemsize * int(np.prod(column.shape, dtype=np.int64))
            ds = group.create_dataset(
                names[column.name],
                shape=(0, *column.shape),
                maxshape=(None, *column.shape),
                dtype=dtype,
                chunks=(chunk_rows(row_bytes, info.npoints), *column.shape),
                fillvalue=_fill(dtype),
                **compression(info.compression_rank, column.ndim),
            )
            ds.attrs["long_name"] = column.label or column.name
            if column.unit:
                ds.attrs["units"] = column.unit
            if column.ndim in (1, 2):
                ds.attrs["interpretation"] = "spectrum" if column.ndim == 1 else "image"
            self._series.append(_Series(ds, column))
        self._small = [s for s in self._series if s.row_bytes < DIRECT_ROW_BYTES]
        self._frames = [s for s in self._series if s.row_bytes >= DIRECT_ROW_BYTES]

    def _create_snapshot(self, entry: h5py.Group, info: ScanInfo) -> None:
        group = entry.create_group("pre_scan_snapshot")
        group.attrs["NX_class"] = "NXcollection"
        for item, name in zip(info.snapshot, nexus_names((s.name for s in info.snapshot), "v")):
            group[name] = _stored(item.value)
            group[name].attrs["long_name"] = item.label or item.name
            if item.unit:
                group[name].attrs["units"] = item.unit
            if item.error:
                group[name].attrs["error"] = item.error

    def _create_metadata(self, entry: h5py.Group, info: ScanInfo) -> None:
        """Each metadata value at its path in the entry (groups with their NeXus class),
        and the whole record with provenance and schema as JSON in `scan_metadata`, so
        `macroserver catalogue` can rebuild the sidecar from this file alone."""
        meta = info.metadata
        for item in meta.values:
            parent, _, name = item.path.rpartition("/")
            group = entry
            for depth, part in enumerate(parent.split("/") if parent else []):
                if part not in group:
                    child = group.create_group(part)
                    child.attrs["NX_class"] = meta.groups.get(
                        "/".join(parent.split("/")[: depth + 1]), "NXcollection")
                group = group[part]
            if not isinstance(group, h5py.Group) or name in group:
                self.context.message(Level.WARNING, f"metadata {item.path} not written to "
                                     f"{entry.name}: the recorder already wrote that path")
                continue
            group[name] = _stored(item.value)
            if item.units:
                group[name].attrs["units"] = item.units
        note = entry.create_group("scan_metadata")
        note.attrs["NX_class"] = "NXnote"
        note["type"] = "application/json"
        note["description"] = (f"scan metadata with provenance, schema {meta.schema} "
                               "(tango-macroserver)")
        note["data"] = json.dumps({**meta.to_dict(), "snapshot": [
            snapshot_record(s) for s in info.snapshot]}, allow_nan=False)

    def _create_instrument(
        self, entry: h5py.Group, info: ScanInfo, names: Mapping[str, str]
    ) -> None:
        """One NXpositioner per motor; a scanned motor's `value` links its measurement."""
        instrument = entry.create_group("instrument")
        instrument.attrs["NX_class"] = "NXinstrument"
        motors = {m.name: m for m in info.motor_positions}
        scanned = {c.name: c for c in info.columns_with(Role.MOTOR)}
        all_motors = list(motors) + [m for m in scanned if m not in motors]
        for motor, group_name in zip(all_motors, nexus_names(all_motors, "motor")):
            positioner = instrument.create_group(group_name)
            positioner.attrs["NX_class"] = "NXpositioner"
            positioner["name"] = motor
            if motor in scanned:
                positioner["value"] = _linkable(entry["measurement"][names[motor]])
            else:
                positioner["value"] = _stored(motors[motor].value)
                if motors[motor].unit:
                    positioner["value"].attrs["units"] = motors[motor].unit

    def _create_plot(self, entry: h5py.Group, info: ScanInfo, names: Mapping[str, str]) -> None:
        """The default plot: first counter against the reference motor. `@axes` names
        one axis per signal dimension (NeXus; nexusformat rejects more), so a mesh's
        slow motor is an alternative axis of the same dimension (`<slow>_indices=0`)."""
        signal, axes = plot_columns(info)
        plot = entry.create_group("data")
        plot.attrs["NX_class"] = "NXdata"
        measurement = entry["measurement"]
        plot[names[signal]] = _linkable(measurement[names[signal]])
        plot.attrs["signal"] = names[signal]
        if axes:
            plot.attrs["axes"] = [names[axes[0]]]
        for axis in axes:
            plot[names[axis]] = _linkable(measurement[names[axis]])
            plot.attrs[f"{names[axis]}_indices"] = 0

    def _create_grid_plot(self, entry: h5py.Group, info: ScanInfo, grid: Grid,
                          names: Mapping[str, str]) -> None:
        """A 2D scan's default plot: the first counter as a (slow, fast) image against
        both motors' planned positions, filled as the points come (NaN until then);
        `measurement` keeps every point as a 1D series with the measured positions.
        The image and the slow axis grow a row at a time with the data: a mesh of
        10^6 x 10^6 planned points takes the room of the rows it did, not 8 TB."""
        signal, _ = plot_columns(info)
        plot = entry.create_group("data")
        plot.attrs["NX_class"] = "NXdata"
        width = len(grid.fast_positions)
        cols = min(width, CHUNK_BYTES // 8)
        image = plot.create_dataset(names[signal], shape=(0, width), maxshape=(None, width),
                                    chunks=(max(1, CHUNK_BYTES // 8 // cols), cols),
                                    dtype="f8", fillvalue=np.nan)
        plot.attrs["signal"] = names[signal]
        plot.attrs["axes"] = [names[grid.slow], names[grid.fast]]
        slow = plot.create_dataset(names[grid.slow], shape=(0,), maxshape=(None,),
                                   chunks=(MAX_CHUNK_ROWS,), dtype="f8")
        plot.create_dataset(names[grid.fast], data=np.asarray(grid.fast_positions, dtype="f8"))
        for axis, dim in ((grid.slow, 0), (grid.fast, 1)):
            plot.attrs[f"{names[axis]}_indices"] = dim
            unit = info.column(axis).unit
            if unit:
                plot[names[axis]].attrs["units"] = unit
        self._grid = (grid, image, slow, next(s for s in self._series if s.key == signal))

    def _fill_grid(self, first: int) -> None:
        """Put the signal's pending rows (points first, ...) into the plot's image,
        growing it (and the slow axis) to the last row they reach."""
        if self._grid is None:
            return
        grid, image, slow, series = self._grid
        values = np.asarray(series.rows, dtype="f8")
        rows, cols = grid.cells(first, len(values))
        height = int(rows[-1]) + 1 if len(rows) else 0
        if height > image.shape[0]:
            done = image.shape[0]
            image.resize(height, axis=0)
            slow.resize(height, axis=0)
            slow[done:height] = np.asarray(grid.slow_positions[done:height], dtype="f8")
        for row in np.unique(rows):
            mask = rows == row
            low, high = int(cols[mask].min()), int(cols[mask].max())
            line = image[row, low:high + 1]
            line[cols[mask] - low] = values[mask]
            image[row, low:high + 1] = line

    def _start_swmr(self, path: Path) -> None:
        assert self._file is not None
        try:
            self._file.swmr_mode = True
        except RuntimeError as exc:
            self.context.message(
                Level.WARNING,
                f"{path} was not created for SWMR ({exc}); it cannot be read while this "
                "scan runs and a crash may leave it unreadable. Use a new file for live reading.",
            )
        self._file.flush()

    # -- points ---------------------------------------------------------------------------

    def record(self, point: Point) -> None:
        values = [s.value(point.values) for s in self._series]  # all checked before any kept
        for series, (value, size) in zip(self._series, values):
            series.rows.append(value)
            self._pending_bytes += size
        self._pending += 1
        if (
            time.monotonic() - self._last_flush >= FLUSH_INTERVAL
            or self._pending_bytes >= MAX_BUFFER_BYTES
        ):
            self.flush()

    def record_block(self, block: PointBlock) -> None:
        count = len(block)
        columns = [s.column(block.columns.get(s.key), count) for s in self._series]
        for series, (values, size) in zip(self._series, columns):
            series.rows.extend(values)
            self._pending_bytes += size
        self._pending += count
        if (
            time.monotonic() - self._last_flush >= FLUSH_INTERVAL
            or self._pending_bytes >= MAX_BUFFER_BYTES
        ):
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows of every dataset, then make them visible to readers."""
        self._last_flush = time.monotonic()
        if not self._pending or self._file is None:
            return
        rows = self._written + self._pending
        self._fill_grid(self._written)
        for series in self._series:
            series.grow(rows)
        try:
            for series in self._small:
                series.write(self._written)
            if self._frames:  # rows and scalars visible before the frames take the space
                self._file.flush()
                for series in self._frames:
                    series.write(self._written)
        except OSError:
            self._keep_rows(rows)
            raise
        self._written = rows
        self._pending = self._pending_bytes = 0
        self._file.flush()

    def _keep_rows(self, rows: int) -> None:
        """A write failed (disk full, file too large): the points stay in the file with
        what was written before (the rows and scalars were flushed before the frames: a
        frame that did not fit reads as the fill value), so SPEC and NeXus agree."""
        for series in self._series:
            series.rows.clear()
        self._written, self._pending, self._pending_bytes = rows, 0, 0

    # -- end ------------------------------------------------------------------------------

    def end(self, end: ScanEnd) -> None:
        f = self._file
        if f is None:
            self._close_files()
            return
        try:
            try:
                self.flush()
            finally:
                entry = self._entry
                if entry is not None and "notes/data" in entry:
                    entry["end_time"][()] = _fixed_text(iso_time(end.end_time), TIME_LENGTH)
                    entry["notes/data"][()] = _fixed_text(end.status_text, STATUS_LENGTH)
            rebuild = self._finish_links(end)
            f.flush()  # what close would write: if that fails, it fails here
        except BaseException:
            abandon(f)
            self._file = None
            self._close_files()
            raise
        f.close()
        self._file = None
        try:
            if rebuild:
                self._rebuild_links(rebuild)
        finally:
            self._close_files()

    def _close_files(self) -> None:
        for opened in (self._scan, self._scans, self._folder):
            if opened is not None:
                opened.close()
        self._scan = self._scans = self._folder = None

    def _finish_links(self, end: ScanEnd) -> list[DetectorLinks]:
        """Frame counts and flags of the linked detectors; those whose virtual dataset
        must be rebuilt for the points that happened (after the SWMR file is closed)."""
        entry = self._entry
        if entry is None or end.points < 0:
            return []
        rebuild = []
        for links in self._links:
            count = end.frames.get(links.linked.column, FrameCount(None, None))
            changed, missing, text = links.finish(entry, end.points, count)
            if changed:
                rebuild.append(links)
            if missing:
                self.context.message(Level.WARNING, f"{links.linked.column}: {text}")
        return rebuild

    def _rebuild_links(self, rebuild: list[DetectorLinks]) -> None:
        assert self._scan is not None and self._entry_name
        entry_name = self._entry_name
        try:
            with changing(self._scan.reopen()) as f:
                for links in rebuild:
                    links.rebuild(f[entry_name])
        except OSError as exc:
            self.context.message(
                Level.WARNING,
                f"cannot reopen {self._path} to fit the detector frames to the "
                f"{rebuild[0].available.size} points done ({exc}); the linked dataset "
                "keeps its planned length, frame_saved flags the frames that hold data")


    def written(self) -> list[Written]:
        """The master the scan is in (through a link to its own file) and its entry
        (`entry<ID>_<n>` when `entry<ID>` was taken)."""
        path = self.context.path
        if path is None or not path.is_file() or self._entry is None:
            return []
        return [Written(path, self.format_name, entry=self._entry_name)]

    def files_written(self) -> list[tuple[Path, str]]:
        """The scan's own file, the master that links it, and the self-saving detectors'
        files it links (the frames are part of the scan's data, for the catalogue sidecar)."""
        files = [(path, self.format_name) for path in (self._path, self.context.path)
                 if path is not None and path.is_file()]
        for links in self._links:
            linked = links.linked
            files += [(linked.folder / name, LINKED_FORMAT)
                      for name, _ in linked.files(linked.planned)
                      if (linked.folder / name).is_file()]
        return files


def _entry_name(scan_id: int, taken: AbstractSet[str]) -> str:
    """`entry<ScanID>`, or with a suffix (`_1`, `_2`...) when the master holds it."""
    base = name = f"entry{scan_id}"
    n = 0
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name


def _root_attrs(path: Path) -> dict[str, str]:
    """The NXroot attributes of a new file."""
    return {"NX_class": "NXroot", "file_name": str(path), "file_time": iso_time(time.time()),
            "creator": PROGRAM, "HDF5_Version": h5py.version.hdf5_version,
            "h5py_version": h5py.version.version}


def plot_columns(info: ScanInfo) -> tuple[str, list[str]]:
    """Signal and axes (column names) of the default plot: the default axis first,
    then, for a mesh, the slow motor (an alternative axis of the same dimension).
    The signal is the first counter, or the scalar channel `info.extra["signal"]` names."""
    by_role = {role: [c.name for c in info.columns_with(role)] for role in Role}
    signal = (by_role[Role.COUNTER] or by_role[Role.TIMER] or by_role[Role.POINT_NB] or [""])[0]
    if info.extra.get("signal") in by_role[Role.COUNTER] + by_role[Role.TIMER]:
        signal = info.extra["signal"]  # a converted scan keeps its file's default plot
    motors = [m for m in info.ref_motors if m in by_role[Role.MOTOR]] or by_role[Role.MOTOR]
    if len(info.scan_shape) == 2 and len(motors) >= 2:
        axes = [motors[0], motors[1]]  # the fast motor is the default axis
    else:
        axes = motors[:1] or by_role[Role.POINT_NB][:1]
    return signal, [a for a in axes if a != signal]


def _stored(value: Any) -> Any:
    """A snapshot value as HDF5 can hold it: numbers as numbers, anything else as text."""
    array = np.asarray(value) if value is not None else np.asarray(np.nan)
    return array if array.dtype.kind in "biuf" else str(value)


def _linkable(dataset: h5py.Dataset) -> h5py.Dataset:
    """Mark `dataset` as a NeXus link source (nxvalidate wants `@target`), then share it."""
    dataset.attrs["target"] = dataset.name
    return dataset
