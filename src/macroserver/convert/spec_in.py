"""Scans from a SPEC file, read with silx's SpecFile (the C parser PyMca shares): ours and
those other programs write.

Roles: `Pt_No` is the point number, `dt`/`Epoch` the timestamp, columns named in `#O`
(or, for other programs, the first column: SPEC's x) are motors. In our files the first
channel after the motors is the timer and the rest are counters (so the default plot
is what the recorder chose); in other files the last column is the detector (SPEC's y).
Spectra come from `@A` lines (one per `#@DET_i` per point), images from the EDF files
the `#C EDF images:` line names, metadata and snapshot from `#UMETA`/`#USNAP` lines.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from macroserver.convert.edf_names import check_pattern, edf_path
from macroserver.convert.source import ConvertError, SourceScan, end_from_text, no_scan
from macroserver.convert.spec_text import MAX_SCANS, check_spec_text
from macroserver.datafiles import fd_path
from macroserver.metadata.schema import load_schema
from macroserver.records import (
    Column,
    MetadataValue,
    Point,
    Role,
    ScanInfo,
    ScanMetadata,
    SnapshotValue,
)
from macroserver.untrusted import open_regular, regular_file

OUR_HEADER = "tango-macroserver"
POINT_LABELS = {"pt_no", "#pt no", "pt no", "point_nb"}
TIMESTAMP_LABELS = {"dt", "epoch"}
TIMER_LABELS = {"seconds", "time", "sec"}
EDF_LINE = re.compile(r"EDF images: (\S+), point = (\S+), channel in: (.*)")
END_LINE = re.compile(r"Acquisition ended at .*\(status: (.*)\)")
_DECODER = json.JSONDecoder()


def _spec_file(path: Path, scan_id: int | None) -> Any:
    """silx's SpecFile of `path` (or of scan `scan_id` alone, cut out of it), once the
    text was checked (spec_text.py). Opened by descriptor path: silx encodes a path as
    ASCII (non-ASCII names failed), and its index of a file grows quadratically with
    the scans (40,000 took 18 s), so a large file is read one scan at a time."""
    try:
        from silx.io.specfile import SpecFile
    except ImportError:
        raise ConvertError("reading SPEC files needs silx: pip install silx") from None
    fd = open_regular(path)
    try:
        index = check_spec_text(fd, path)
        if scan_id is not None:
            text = index.one_scan(fd, scan_id)
            if text is None:
                raise no_scan(str(path), scan_id, [s[0] for s in index.scans])
            os.close(fd)
            fd = _unlinked_copy(text)
        elif len(index.scans) > MAX_SCANS:
            raise ConvertError(f"{path} holds {len(index.scans):,} scans, more than the "
                               f"{MAX_SCANS:,} converted at once; convert one with --scan N")
        return SpecFile(fd_path(fd))
    except ConvertError:
        raise
    except Exception as exc:  # silx raises its own SfError* classes
        raise ConvertError(f"cannot read {path} as a SPEC file: {exc}") from None
    finally:
        os.close(fd)


def _unlinked_copy(text: bytes) -> int:
    """A descriptor of a temporary file holding `text`, already removed from its folder."""
    fd, name = tempfile.mkstemp(suffix=".spec")
    os.unlink(name)
    os.write(fd, text)
    return fd


def read_spec(path: Path, scan_id: int | None = None) -> list[SourceScan]:
    """Every scan of the file, or only the last one numbered `scan_id`."""
    sf = _spec_file(path, scan_id)
    scans = []
    for index in range(len(sf)):
        scan = sf[index]
        try:
            scans.append(_scan(path, scan))
        except (KeyError, ValueError, IndexError, MemoryError) as exc:
            raise ConvertError(f"{path}: scan #S {scan.number} cannot be read: "
                               f"{type(exc).__name__}: {exc}") from None
    return scans


def _json_pair(text: str) -> tuple[Any, dict[str, Any]]:
    """`<JSON value> <JSON details>` of a #UMETA/#USNAP line."""
    value, end = _DECODER.raw_decode(text)
    rest = text[end:].strip()
    details = _DECODER.raw_decode(rest)[0] if rest else {}
    return value, details if isinstance(details, dict) else {}


def _header_lines(header: dict[str, str], key: str) -> list[str]:
    return [line for line in header.get(key, "").split("\n") if line.strip()]


def _metadata(header: dict[str, str]) -> tuple[ScanMetadata, tuple[SnapshotValue, ...]]:
    values, snapshot = [], []
    for line in _header_lines(header, "UMETA"):
        path, _, rest = line.partition(" ")
        value, details = _json_pair(rest)
        values.append(MetadataValue(path, value, details.get("units", ""),
                                    details.get("source", ""), float(details.get("time", 0.0))))
    for line in _header_lines(header, "USNAP"):
        name, _, rest = line.partition(" ")
        value, details = _json_pair(rest)
        snapshot.append(SnapshotValue(name, details.get("label", name), value,
                                      details.get("units", ""), details.get("source", ""),
                                      float(details.get("time", 0.0)), details.get("error", "")))
    groups = {}
    for item in values:
        parts = item.path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            groups["/".join(parts[:depth])] = "NXcollection"
    groups.update({g: c for g, c in _schema_groups().items() if g in groups})
    schema = header.get("UMETA_SCHEMA", "")
    return ScanMetadata(tuple(values), groups, schema), tuple(snapshot)


@functools.lru_cache(maxsize=1)
def _schema_groups() -> dict[str, str]:
    """The default schema's NeXus classes (read once: 200,000 scans read it 200,000 times)."""
    return dict(load_schema().groups)


def _start_time(header: dict[str, str], file_header: dict[str, str]) -> float:
    for text in (header.get("D", ""), file_header.get("D", "")):
        try:
            return time.mktime(time.strptime(text.strip(), "%a %b %d %H:%M:%S %Y"))
        except ValueError:
            try:
                return float(text)
            except ValueError:
                continue
    return float(file_header.get("E", 0) or 0)


def _roles(labels: list[str], motors: set[str], ours: bool, title_words: set[str]) -> list[Role]:
    roles = []
    for i, label in enumerate(labels):
        low = label.lower()
        if low in POINT_LABELS:
            roles.append(Role.POINT_NB)
        elif low in TIMESTAMP_LABELS:
            roles.append(Role.TIMESTAMP)
        elif label in motors and (ours or label in title_words) or (
                not ours and i == 0 and label not in motors):
            roles.append(Role.MOTOR)
        else:
            roles.append(Role.COUNTER)
    channels = [i for i, r in enumerate(roles) if r is Role.COUNTER]
    if ours and len(channels) > 1:
        roles[channels[0]] = Role.TIMER  # our writer puts the timer first
    elif not ours:
        for i in channels[:-1]:
            if labels[i].lower() in TIMER_LABELS:
                roles[i] = Role.TIMER
    return roles


def _signal(labels: list[str], roles: list[Role], ours: bool) -> str:
    """The default plot's signal: our first counter, else SPEC's y (the last channel)."""
    channels = [label for label, role in zip(labels, roles) if role is Role.COUNTER]
    return (channels[0] if ours else channels[-1]) if channels else ""


def _scan(path: Path, scan: Any) -> SourceScan:
    header = scan.scan_header_dict
    file_header = scan.file_header_dict
    ours = OUR_HEADER in file_header.get("C", "")
    labels = list(scan.labels)
    data = np.atleast_2d(scan.data) if labels else np.empty((0, 0))
    npoints = data.shape[1] if data.size else 0
    edf = EDF_LINE.search(header.get("C", ""))
    image_column = edf.group(2) if edf else None
    title = header.get("S", "").split(" ", 1)[1] if " " in header.get("S", "") else ""
    motor_names = [str(m) for m in scan.motor_names]
    positions = [float(p) for p in scan.motor_positions]
    roles = _roles(labels, set(motor_names), ours, set(title.split()[1:]))
    columns = [Column(label if roles[i] is not Role.POINT_NB else "point_nb", label, roles[i],
                      dtype="int64" if roles[i] is Role.POINT_NB else "float64")
               for i, label in enumerate(labels) if label != image_column]
    spectra = _spectrum_names(scan.mca_header_dict, len(scan.mca), npoints)
    n = len(scan.mca[0]) if spectra else 0
    columns += [Column(name, name, Role.SPECTRUM, shape=(n,)) for name in spectra]
    images = _images(path, edf, npoints) if edf else {}
    columns += [Column(name, name, Role.IMAGE, shape=shape)
                for name, (shape, _) in images.items()]
    metadata, snapshot = _metadata(header)
    start = _start_time(header, file_header)
    integration = header.get("T", "0").split()
    info = ScanInfo(
        scan_id=int(scan.number), title=title, macro=(title.split() or [""])[0],
        user=header.get("U", ""), start_time=start, columns=tuple(columns),
        ref_motors=tuple(c.name for c in columns if c.role is Role.MOTOR), npoints=npoints,
        integration_time=float(integration[0]) if integration else 0.0,
        motor_positions=tuple(SnapshotValue(m, m, p)
                              for m, p in zip(motor_names, positions)),
        snapshot=snapshot, scan_shape=(npoints,), metadata=metadata,
        extra={"signal": _signal(labels, roles, ours)},
    )
    ended = END_LINE.search(header.get("C", ""))
    end = end_from_text(ended.group(1) if ended else "done", start, npoints)
    index = {label: i for i, label in enumerate(labels)}

    def points() -> Iterator[Point]:
        for p in range(npoints):
            values: dict[str, Any] = {}
            for column in columns:
                if column.ndim == 0:
                    value = data[index[column.label], p]
                    values[column.name] = int(value) if column.role is Role.POINT_NB else value
            for k, name in enumerate(spectra):
                values[name] = np.asarray(scan.mca[p * len(spectra) + k])
            for name, (_, pattern) in images.items():
                number = int(data[index[image_column], p]) if image_column in index else p
                values[name] = _read_edf(edf_path(pattern, path.parent, name, number))
            yield Point(p, values, start + float(values.get("dt", 0.0) or 0.0))

    return SourceScan(info, points, end)


def _spectrum_names(mca_header: dict[str, str], count: int, npoints: int) -> list[str]:
    """Names of the spectra of one point: `#@DET_i` (ours, Sardana), else mca_0..k-1."""
    if not count or not npoints or count % npoints:
        return []
    return [mca_header.get(f"DET_{i}", "").strip() or f"mca_{i}"
            for i in range(count // npoints)]


def _images(path: Path, edf: re.Match[str], npoints: int) -> dict[str, tuple[tuple, str]]:
    """channel -> (shape, file pattern) from our `#C EDF images:` line (edf_names.py),
    the shape read from the first point's image: one that cannot be read is an error
    naming it, as any later one is (a column is never dropped). A scan without points
    has no images."""
    pattern, channels = check_pattern(edf.group(1), path), edf.group(3).split()
    if not npoints:
        return {}
    return {channel: (tuple(_read_edf(edf_path(pattern, path.parent, channel, 0)).shape),
                      pattern) for channel in channels}


def _read_edf(path: Path) -> np.ndarray:
    import fabio

    try:
        regular_file(path)
        return fabio.open(str(path)).data
    except Exception as exc:
        raise ConvertError(f"cannot read the EDF image {path}: "
                           f"{type(exc).__name__}: {exc}") from None
