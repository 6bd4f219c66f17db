"""The catalogue sidecar: one JSON document per scan, written atomically beside the data.

It holds what a data catalogue (ICAT, SciCat, a facility's own) needs without opening
the data files: dataset name, ScanID, title, start/end, end status, the metadata with
its provenance, the pre-scan snapshot, and every file written with its size and
sha256. A copy waits in an outbox folder until a catalogue takes it (deletes it), so a
catalogue that is down loses nothing. The same document is pushed on the MacroServer's
`ScanMetadata` attribute.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import math
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from macroserver.datafiles import FilePolicy, ensure_folder
from macroserver.records import ScanEnd, ScanInfo, SnapshotValue

FORMAT = "tango-macroserver-scan/1"
SUFFIX = ".scan.json"
_CHUNK = 1 << 20


PROGRAM = "tango-macroserver"


@functools.cache
def program_version() -> str:
    """The installed version of tango-macroserver, "unknown" when it is not installed;
    read once (importlib's lookup took ~5 ms of every scan's start)."""
    try:
        return metadata.version(PROGRAM)
    except metadata.PackageNotFoundError:
        return "unknown"


def program_label() -> str:
    """`tango-macroserver <version>`, as catalogues record the producing software."""
    version = program_version()
    return PROGRAM if version == "unknown" else f"{PROGRAM} {version}"


def iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch).astimezone().isoformat()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


#: At most this many bytes are checksummed at a scan's end (hashing runs at ~0.7 GB/s
#: here, and a file many scans append to would be hashed again after every one); files
#: beyond get sha256 None. `[metadata] checksum_limit_mb` changes it.
CHECKSUM_LIMIT = 1 << 30


def file_record(path: Path, fmt: str = "", checksum: bool = True) -> dict[str, Any]:
    """Name, size and (unless told not to) checksum of a written file."""
    record = {"path": str(path), "name": path.name, "size": path.stat().st_size,
              "sha256": sha256(path) if checksum else None}
    if fmt:
        record["format"] = fmt
    return record


def plain(value: Any) -> Any:
    """A value as strict JSON holds it: numpy to Python, non-finite numbers to None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def snapshot_record(item: SnapshotValue) -> dict[str, Any]:
    record = {"name": item.name, "label": item.label, "value": plain(item.value),
              "source": item.source, "time": item.time}
    if item.unit:
        record["units"] = item.unit
    if item.error:
        record["error"] = item.error
    return record


def dataset_name(info: ScanInfo) -> str:
    """`<first file stem>_<ScanID>` (the scan's name in a catalogue)."""
    stem = Path(info.scan_files[0]).stem if info.scan_files else "scan"
    return f"{stem}_{info.scan_id}"


def scan_document(info: ScanInfo, end: ScanEnd, files: Iterable[tuple[Path, str]],
                  program: str, checksum_limit: int = CHECKSUM_LIMIT,
                  first: Iterable[Path] = (),
                  release: Callable[[Path], None] | None = None) -> dict[str, Any]:
    """The sidecar document of a finished scan (`first`, `release`: `file_records`)."""
    return {
        "format": FORMAT,
        "dataset": dataset_name(info),
        "scan_id": info.scan_id,
        "title": info.title,
        "user": info.user,
        "start_time": iso(info.start_time),
        "end_time": iso(end.end_time),
        "end_status": str(end.status),
        "end_reason": end.reason,
        "points": end.points,
        "program": program,
        "metadata": info.metadata.to_dict(),
        "snapshot": [snapshot_record(s) for s in info.snapshot],
        "files": file_records(files, checksum_limit, first, release),
    }


def file_records(files: Iterable[tuple[Path, str]], limit: int, first: Iterable[Path] = (),
                 release: Callable[[Path], None] | None = None) -> list[dict[str, Any]]:
    """Records of the files that exist, checksummed while the bytes hashed stay within
    `limit`: the `first` files (a later scan writes them and waits) before the others,
    `release(path)` called once each is done; the records keep the order of `files`."""
    files = list(files)
    early = set(first)
    order = sorted(range(len(files)), key=lambda n: files[n][0] not in early)
    records: dict[int, dict[str, Any]] = {}
    budget = limit
    for n in order:
        path, fmt = files[n]
        if path.is_file():
            size = path.stat().st_size
            records[n] = file_record(path, fmt, size <= budget)
            budget -= size if size <= budget else 0
        if release is not None:
            release(path)
    return [records[n] for n in sorted(records)]


def write_json_atomically(path: Path, document: Mapping[str, Any],
                          policy: FilePolicy | None = None) -> None:
    """Write, fsync, rename: a reader sees the whole document or none. New folders, and
    the file, get the policy's mode and group."""
    policy = policy or FilePolicy()
    ensure_folder(path.parent, policy)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        policy.apply(Path(temp))
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=1, allow_nan=False, ensure_ascii=False)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def free_name(folder: Path, stem: str) -> Path:
    """`<stem>.scan.json`, or `<stem>_1.scan.json`... when a scan of that name exists."""
    path, n = folder / f"{stem}{SUFFIX}", 0
    while path.exists():
        n += 1
        path = folder / f"{stem}_{n}{SUFFIX}"
    return path


def publish(document: Mapping[str, Any], data_dir: Path, outbox: Path,
            policy: FilePolicy) -> tuple[Path, Path]:
    """The sidecar beside the data, and its copy in the outbox; both paths."""
    sidecar = free_name(data_dir, str(document["dataset"]))
    write_json_atomically(sidecar, document, policy)
    queued = free_name(outbox, sidecar.name[: -len(SUFFIX)])
    write_json_atomically(queued, document, policy)
    return sidecar, queued
