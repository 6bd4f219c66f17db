"""Scans from a NeXus file: ours (one `entry<ScanID>` per scan) and Sardana's NXscan
layout (`measurement/` with `pre_scan_snapshot/` inside, `plot_<i>` NXdata groups,
instrument groups linking the columns; see shared/reference/sardana.md §2.5).

Column roles come from the layout: `point_nb`/`Pt_No` is the point number, `dt` the
timestamp, a column an NXpositioner links or an NXdata names as an axis is a motor,
spectra and images by their rank, other columns are counters; the default plot's
signal is kept (`ScanInfo.extra["signal"]`).
"""

from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from macroserver.convert.source import ConvertError, SourceScan, end_from_text
from macroserver.records import (
    Column,
    LinkedFrames,
    MetadataValue,
    Point,
    Role,
    ScanInfo,
    ScanMetadata,
    SnapshotValue,
)
from macroserver.untrusted import UnusableFile, check_shape, inside, regular_file

POINT_NAMES = {"point_nb", "pt_no", "#pt no"}
TIMESTAMP_NAMES = {"dt"}
_DIGITS = re.compile(r"(\d+)")
#: Bytes of one value read whole (a title, a metadata field, the scan_metadata note).
MAX_VALUE_BYTES = 16 << 20
#: Groups whose fields are metadata in a file without our `scan_metadata` note.
FOREIGN_METADATA_CLASSES = {"NXsample", "NXuser", "NXsource", "NXmonochromator"}


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value[()])
    return str(value)


def _attr(obj: h5py.HLObject, name: str, default: str = "") -> str:
    value = obj.attrs.get(name)
    return default if value is None else _text(value)


def _epoch(text: str, default: float) -> float:
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        return default
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.timestamp()


def _read(dataset: Any) -> Any:
    """A dataset's whole value, refused (one line) when it declares more than a metadata
    value may hold: a hostile file declares sizes it never stores."""
    check_shape(dataset.shape or (), dataset.dtype.itemsize,
                f"{dataset.file.filename}:{dataset.name}")
    if dataset.size * dataset.dtype.itemsize > MAX_VALUE_BYTES:
        raise UnusableFile(f"{dataset.file.filename}:{dataset.name} holds "
                           f"{dataset.size * dataset.dtype.itemsize:,} bytes, more than a "
                           f"value read whole may ({MAX_VALUE_BYTES >> 20} MiB)")
    return dataset[()]


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.ndim else _plain(value[()])
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _nx_class(obj: Any) -> str:
    return _attr(obj, "NX_class") if isinstance(obj, (h5py.Group, h5py.Dataset)) else ""


def read_nexus(path: Path) -> list[SourceScan]:
    """Every NXentry of the file that has a `measurement` group, in ScanID order. An
    entry linked from another file is followed only to a regular file in `path`'s folder."""
    regular_file(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ConvertError(f"cannot read {path} as HDF5: {exc} (damaged or truncated?)") from None
    scans = []
    with f:
        for name in f:
            _check_link(path, name, f.get(name, getlink=True))
            entry = f.get(name)
            if _nx_class(entry) == "NXentry" and isinstance(entry.get("measurement"),
                                                              h5py.Group):
                try:
                    scans.append(_scan(path, entry))
                except (KeyError, OSError, ValueError, TypeError) as exc:
                    raise ConvertError(f"{path}: {name} cannot be read: {exc}") from None
    # HDF5 lists names alphabetically (entry10 before entry4): scans go by ScanID, so
    # a converted file has them in the order they were taken, its default the newest
    return sorted(scans, key=lambda scan: scan.info.scan_id)


def _check_link(path: Path, name: str, link: Any) -> None:
    if isinstance(link, h5py.ExternalLink):
        target = path.parent / link.filename
        if not inside(target, path.parent):
            raise UnusableFile(f"{path}: {name} links {link.filename}, outside the folder "
                               f"{path.parent} (not read)")
        if os.path.lexists(target):
            regular_file(target)


def _scan(path: Path, entry: h5py.Group) -> SourceScan:
    name = entry.name.strip("/")
    identifier = _text(_read(entry["entry_identifier"])) if "entry_identifier" in entry else ""
    digits = _DIGITS.findall(identifier) or _DIGITS.findall(name) or ["0"]
    scan_id = int(digits[0])
    start = _epoch(_text(_read(entry["start_time"])), 0.0) if "start_time" in entry else 0.0
    end_time = _epoch(_text(_read(entry["end_time"])), start) if "end_time" in entry else start
    measurement = entry["measurement"]
    keys = [k for k in measurement if isinstance(measurement[k], h5py.Dataset)
            and measurement[k].ndim >= 1]
    npoints = min((measurement[k].shape[0] for k in keys), default=0)
    for key in keys:  # per point: a row must fit in memory, the points be countable
        ds = measurement[key]
        check_shape((min(ds.shape[0], npoints), *ds.shape[1:]), ds.dtype.itemsize,
                    f"{path}:{ds.name}")
    signal, axes = _default_plot(entry, measurement)
    linked = _positioner_columns(entry, measurement)
    columns = []
    for key in keys:
        ds = measurement[key]
        label = _attr(ds, "long_name", key)
        role = _role(key, label, ds, key in linked or key in axes)
        columns.append(Column("point_nb" if role is Role.POINT_NB else key, label, role,
                              dtype=str(ds.dtype) if ds.dtype.kind in "iuf" else "float64",
                              shape=tuple(ds.shape[1:]), unit=_attr(ds, "units"), source=key))
    metadata, snapshot = _metadata(entry)
    info = ScanInfo(
        scan_id=scan_id,
        title=_text(_read(entry["title"])) if "title" in entry else name,
        macro=(_text(_read(entry["title"])).split() or [""])[0] if "title" in entry else "",
        user=_text(_read(entry["user/name"])) if "user/name" in entry else "",
        start_time=start,
        columns=tuple(columns),
        ref_motors=tuple(c.name for c in columns if c.role is Role.MOTOR and c.name in axes),
        npoints=npoints,
        motor_positions=_positions(entry, measurement,
                                   [c.source for c in columns if c.role is Role.MOTOR]),
        snapshot=snapshot,
        scan_shape=(npoints,),
        metadata=metadata,
        extra={"signal": signal} if signal else {},
        linked=_linked_frames(entry, {measurement[c.source].id: c.name for c in columns}),
    )
    status = _text(_read(entry["notes/data"])) if "notes/data" in entry else "done"
    end = end_from_text(status, end_time, npoints)
    return SourceScan(info, lambda: _points(path, name, info, npoints, start), end)


def _role(key: str, label: str, ds: h5py.Dataset, is_motor: bool) -> Role:
    if key.lower() in POINT_NAMES or label.lower() in POINT_NAMES:
        return Role.POINT_NB
    if key.lower() in TIMESTAMP_NAMES:
        return Role.TIMESTAMP
    if ds.ndim == 2:
        return Role.SPECTRUM
    if ds.ndim >= 3:
        return Role.IMAGE
    return Role.MOTOR if is_motor else Role.COUNTER


def _default_plot(entry: h5py.Group, measurement: h5py.Group) -> tuple[str, list[str]]:
    """Signal and axes (measurement keys) of the entry's default NXdata (ours: @default;
    Sardana: plot_1), matched to measurement datasets by object identity."""
    names = {measurement[k].id: k for k in measurement}
    plots = [entry[_attr(entry, "default")]] if _attr(entry, "default") in entry else []
    plots += [entry[k] for k in entry if _nx_class(entry[k]) == "NXdata"]
    signal, axes = "", []
    for plot in plots:
        if not isinstance(plot, h5py.Group):
            continue
        for key in plot:
            item = plot[key]
            if item.id not in names:
                continue
            if key == _attr(plot, "signal") or _attr(item, "signal") in ("1", "True"):
                signal = signal or names[item.id]
        axis_names = _axis_names(plot.attrs.get("axes"))
        axis_names += [a for k in plot for a in _axis_names(plot[k].attrs.get("axes"))]
        axis_names += [k[: -len("_indices")] for k in plot.attrs if k.endswith("_indices")]
        for axis in axis_names:
            if axis in plot and plot[axis].id in names and names[plot[axis].id] not in axes:
                axes.append(names[plot[axis].id])
    return signal, axes


def _axis_names(value: Any) -> list[str]:
    """`@axes` as a list: NeXus' array of names, or the old colon-joined string (Sardana)."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        return [a for a in _text(value).split(":") if a]
    return [_text(a) for a in np.atleast_1d(value)]


def _positioner_columns(entry: h5py.Group, measurement: h5py.Group) -> set[str]:
    """Measurement keys that an NXpositioner (ours: value) links."""
    names = {measurement[k].id: k for k in measurement}
    linked = set()
    instrument = entry.get("instrument")
    if isinstance(instrument, h5py.Group):
        for group in instrument.values():
            if _nx_class(group) == "NXpositioner" and "value" in group:
                if group["value"].id in names:
                    linked.add(names[group["value"].id])
    return linked


#: a detector's file name as Lima numbers them: prefix, file number, suffix
_FRAME_FILE = re.compile(r"(.*?)(\d+)(\.[^.]*)?\Z")


def _linked_frames(entry: h5py.Group, columns: dict[Any, str]) -> tuple[LinkedFrames, ...]:
    """The self-saving detectors whose frames the entry links (an NXdetector with
    `frame_numbers` and a virtual `data` over the detector's files, recorders/nxlinks.py),
    so a converted scan names (SPEC `#C frames of`) or links (NeXus) the same files.
    `columns`: measurement dataset id -> column name."""
    instrument = entry.get("instrument")
    if not isinstance(instrument, h5py.Group):
        return ()
    found = []
    for detector in instrument.values():
        if _nx_class(detector) != "NXdetector" or not isinstance(detector, h5py.Group):
            continue
        data, numbers = detector.get("data"), detector.get("frame_numbers")
        if not (isinstance(data, h5py.Dataset) and data.is_virtual and data.ndim == 3
                and isinstance(numbers, h5py.Dataset)):
            continue
        column = columns.get(numbers.id)  # the measurement column it is linked to
        sources = data.virtual_sources()
        first = _FRAME_FILE.match(Path(sources[0].file_name).name) if sources else None
        if column is None or first is None:
            continue
        planned = (int(detector["frames_planned"][()]) if "frames_planned" in detector
                   else data.shape[0])
        found.append(LinkedFrames(
            column=column,
            # relative to the file holding the dataset (ours: the scan's own file)
            folder=(Path(data.file.filename).parent / sources[0].file_name).parent.resolve(),
            prefix=first.group(1), suffix=first.group(3) or "",
            dataset=sources[0].dset_name,
            frames_per_file=max(s.src_space.shape[0] for s in sources),
            frame_shape=tuple(data.shape[1:]), frame_dtype=str(data.dtype),
            planned=planned, first_file_number=int(first.group(2)),
            index_digits=len(first.group(2))))
    return tuple(found)


def _positions(entry: h5py.Group, measurement: h5py.Group,
               scanned: list[str]) -> tuple[SnapshotValue, ...]:
    """Start positions of all motors, as the engine reads them: the scanned ones' first
    value, the others' NXpositioner value."""
    values = [SnapshotValue(_attr(measurement[k], "long_name", k), _attr(measurement[k],
                            "long_name", k), _plain(measurement[k][0]),
                            _attr(measurement[k], "units"))
              for k in scanned if measurement[k].ndim == 1 and measurement[k].shape[0] > 0]
    instrument = entry.get("instrument")
    if isinstance(instrument, h5py.Group):
        for key, group in instrument.items():
            if _nx_class(group) != "NXpositioner" or "value" not in group:
                continue
            value = group["value"]
            if value.ndim == 0:
                name = _text(_read(group["name"])) if "name" in group else key
                values.append(SnapshotValue(name, name, _plain(_read(value)),
                                            _attr(value, "units")))
    return tuple(values)


def _metadata(entry: h5py.Group) -> tuple[ScanMetadata, tuple[SnapshotValue, ...]]:
    """Our `scan_metadata` note (typed, with provenance); else the fields of the entry's
    NXsample/NXuser/... groups and the pre_scan_snapshot datasets of other programs."""
    if "scan_metadata/data" in entry:
        document = json.loads(_text(_read(entry["scan_metadata/data"])))
        snapshot = tuple(
            SnapshotValue(s["name"], s.get("label", s["name"]), s.get("value"),
                          s.get("units", ""), s.get("source", ""), float(s.get("time", 0.0)),
                          s.get("error", ""))
            for s in document.get("snapshot", ()))
        return ScanMetadata.from_dict(document), snapshot
    return _foreign_metadata(entry), _foreign_snapshot(entry)


def _foreign_metadata(entry: h5py.Group) -> ScanMetadata:
    values, groups = [], {}
    for key, group in entry.items():
        if _nx_class(group) in FOREIGN_METADATA_CLASSES:
            groups[key] = _nx_class(group)
            for field, ds in group.items():
                if isinstance(ds, h5py.Dataset) and ds.ndim <= 1:
                    values.append(MetadataValue(f"{key}/{field}", _plain(_read(ds)),
                                                _attr(ds, "units"), f"file {entry.name}"))
    for field in ("experiment_identifier", "experiment_description"):
        if field in entry:
            values.append(MetadataValue(field, _text(_read(entry[field])), "",
                                        f"file {entry.name}"))
    return ScanMetadata(tuple(values), groups, "")


def _foreign_snapshot(entry: h5py.Group) -> tuple[SnapshotValue, ...]:
    group = entry.get("pre_scan_snapshot") or entry.get("measurement/pre_scan_snapshot")
    if not isinstance(group, h5py.Group):
        return ()
    return tuple(
        SnapshotValue(key, _attr(ds, "long_name", key), _plain(_read(ds)), _attr(ds, "units"),
                      error=_attr(ds, "error"))
        for key, ds in group.items() if isinstance(ds, h5py.Dataset))


def _points(path: Path, entry_name: str, info: ScanInfo, npoints: int,
            start: float) -> Iterator[Point]:
    """Scalars read whole, spectra and images one row at a time."""
    with h5py.File(path, "r") as f:
        measurement = f[entry_name]["measurement"]
        scalars = {c.name: measurement[c.source][:npoints].tolist()
                   for c in info.columns if c.ndim == 0}
        arrays = {c.name: measurement[c.source] for c in info.columns if c.ndim}
        dt = scalars.get("dt")
        for i in range(npoints):
            values: dict[str, Any] = {k: v[i] for k, v in scalars.items()}
            values.update({k: ds[i] for k, ds in arrays.items()})
            yield Point(i, values, start + (dt[i] if dt else 0.0))
