"""`macroserver verify FILE`: are the frames a NeXus file links to really there?

Checks every external link and every virtual-dataset source of the file: the target
file exists, is a regular file and lies inside the data folder (the master's folder, or
`--root`; nothing else is opened, hashed or read), the
dataset exists with the expected dtype and at least the mapped frames, the frames a
detector group flags as saved are written in their file, and (`--checksum`) each
source file's SHA-256. Prints a readable report (or JSON with `--json`); the exit code
is 1 when anything is wrong, so scripts can refuse a master copied without its frames.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from macroserver.cli.exitcodes import EXIT_ERROR, EXIT_OK, EXIT_UNUSABLE
from macroserver.cli.unforeseen import add_debug_option, unforeseen_errors
from macroserver.recorders.nxlinks import open_source, saved_in_file
from macroserver.untrusted import (
    MAX_FRAMES,
    MAX_SOURCES,
    UnusableFile,
    inside,
    open_regular,
    regular_file,
)


@dataclass
class SourceCheck:
    """One link or virtual-dataset source and what was found wrong with it."""

    kind: str  # "external link", "virtual source" or "scan file" (an entry's own file)
    where: str  # the path in the master file
    file: str  # as written in the master
    dataset: str
    resolved: str = ""
    frames: int = 0  # frames the master maps to (links: the dataset's)
    sha256: str = ""
    problems: list[str] = field(default_factory=list)


def _links(group: h5py.Group, prefix: str = "",
           seen: set[int] | None = None) -> Iterator[tuple[str, Any]]:
    """(path, link or dataset) of everything below `group`, not following links out;
    an object reached again through a NeXus (hard) link is listed once."""
    seen = set() if seen is None else seen
    for name in group:
        link = group.get(name, getlink=True)
        path = f"{prefix}/{name}"
        if isinstance(link, h5py.ExternalLink):
            yield path, link
            continue
        if isinstance(link, h5py.SoftLink):
            continue
        item = group.get(name)
        if item is None:  # the link is there, the object it names cannot be opened
            raise UnusableFile(f"{group.file.filename}: {path} cannot be opened (a damaged "
                               "HDF5 file)")
        address = h5py.h5o.get_info(item.id).addr
        if address in seen:
            continue
        seen.add(address)
        if isinstance(item, h5py.Group):
            yield from _links(item, path, seen)
        elif isinstance(item, h5py.Dataset):
            yield path, item


def _resolve(master: Path, name: str) -> Path:
    """Where HDF5 looks for a relative source: beside the master (then the cwd); "."
    is the master itself."""
    if name == ".":
        return master
    path = Path(name)
    if path.is_absolute():
        return path
    beside = master.parent / path
    return beside if beside.exists() or not path.exists() else path.resolve()


def _sha256(path: Path) -> str:
    """The SHA-256 of the regular file `path`, read up to the size it had when opened."""
    fd = open_regular(path)
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as stream:
        left = os.fstat(stream.fileno()).st_size
        while left > 0:
            block = stream.read(min(left, 1 << 20))
            if not block:
                break
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def _check_target(check: SourceCheck, master: Path, root: Path, dtype: np.dtype | None,
                  first: int, count: int, checksum: bool) -> None:
    """The file of `check` holds frames first..first+count-1 of a dataset of `dtype`.
    A file outside `root`, or one that is not a regular file (a FIFO, a device), is
    reported and never opened."""
    path = _resolve(master, check.file)
    check.resolved = str(path)
    if not path.exists():
        check.problems.append(f"file {check.file} does not exist (looked for {path})")
        return
    if not inside(path, root):
        check.problems.append(f"file {os.path.realpath(path)} is outside the data folder "
                              f"{root} (not read)")
        return
    try:
        regular_file(path)
        if checksum:
            check.sha256 = _sha256(path)
    except UnusableFile as exc:
        check.problems.append(f"{exc} (not read)")
        return
    if count > MAX_FRAMES:
        check.problems.append(f"the master maps {count:,} frames from {check.file}, more "
                              f"than the {MAX_FRAMES:,} checked at most")
        return
    try:
        with open_source(path) as f:
            if check.dataset not in f:
                check.problems.append(f"{check.file} has no dataset {check.dataset}")
                return
            dataset = f[check.dataset]
            if isinstance(dataset, h5py.Group):  # an entry in a scan's own file
                check.kind = "scan file"
                return
            shape, found = dataset.shape, dataset.dtype
    except OSError as exc:
        check.problems.append(f"{check.file} cannot be read: {exc}")
        return
    if count == 0:
        check.frames = shape[0] if shape else 0
        return
    check.frames = count
    if dtype is not None and found != dtype:
        check.problems.append(f"{check.dataset} is {found}, the master expects {dtype}")
    if not shape or shape[0] < first + count:
        check.problems.append(f"{check.dataset} holds {shape[0] if shape else 0} frames, "
                              f"the master maps frames {first}..{first + count - 1}")
        return
    held = saved_in_file(path, check.dataset, first + count)[first:]
    if not held.all():
        missing = np.flatnonzero(~held) + first
        check.problems.append(f"{len(missing)} mapped frames were never written "
                              f"(first: {missing[:5].tolist()})")


def _flagged_saved(dataset: h5py.Dataset) -> np.ndarray | None:
    """The `frame_saved` flags beside a detector's virtual dataset, if any."""
    flags = dataset.parent.get("frame_saved")
    return flags[()] == 1 if isinstance(flags, h5py.Dataset) else None


def verify(path: Path, root: Path | None = None, checksum: bool = False) -> list[SourceCheck]:
    """Every link and virtual source of `path`, checked; also those of the scans' own
    files its entries link to (the NeXus recorder's layout, names relative to them)."""
    master = path.resolve()
    folder = Path(os.path.realpath(root or master.parent))
    return _verify_file(master, folder, checksum, nested=False)


def _verify_file(master: Path, folder: Path, checksum: bool, nested: bool
                 ) -> list[SourceCheck]:
    checks: list[SourceCheck] = []
    regular_file(master)
    with open_source(master) if nested else h5py.File(master, "r", locking=False) as f:
        for where, item in _links(f):
            if len(checks) >= MAX_SOURCES:
                raise UnusableFile(f"{master} links more than {MAX_SOURCES:,} sources")
            if isinstance(item, h5py.ExternalLink):
                check = SourceCheck("external link", where, item.filename, item.path)
                _check_target(check, master, folder, None, 0, 0, checksum)
                checks.append(check)
                if check.kind == "scan file" and not check.problems and not nested:
                    checks += _scan_file(check, folder, checksum)
            elif item.is_virtual:
                checks += _virtual_sources(where, item, master, folder, checksum)
    return checks


def _scan_file(check: SourceCheck, folder: Path, checksum: bool) -> list[SourceCheck]:
    """The links of an entry's own scan file; one it cannot open (cut by a full disk)
    is a problem of that link, naming the scan file."""
    try:
        return _verify_file(Path(check.resolved), folder, checksum, True)
    except (OSError, UnusableFile) as exc:
        check.problems.append(f"scan file {check.resolved} cannot be read: {exc}")
        return []


def _first_axis(space: h5py.h5s.SpaceID, length: int = 1) -> tuple[int, int]:
    """First and last index along the first axis of a selection; an "all" selection
    without a shape (h5py gives no source shape then) covers `length`."""
    if space.get_select_type() == h5py.h5s.SEL_ALL:
        return 0, (space.shape[0] if space.shape else length) - 1
    (first, *_), (last, *_) = space.get_select_bounds()
    return first, last


def _virtual_sources(where: str, dataset: h5py.Dataset, master: Path, folder: Path,
                     checksum: bool) -> list[SourceCheck]:
    flags = _flagged_saved(dataset)
    checks = []
    for source in dataset.virtual_sources():
        check = SourceCheck("virtual source", where, source.file_name, source.dset_name)
        vfirst, vlast = _first_axis(source.vspace)
        first, last = _first_axis(source.src_space, vlast - vfirst + 1)
        if flags is not None and not flags[vfirst:vlast + 1].all():
            check.problems.append(f"points {vfirst}..{vlast} are mapped but flagged "
                                  "not saved in frame_saved")
        _check_target(check, master, folder, dataset.dtype, first, last - first + 1,
                      checksum)
        checks.append(check)
    return checks


def report(path: Path, checks: list[SourceCheck]) -> str:
    """The readable report: one line per source, its problems indented below it."""
    lines = [f"{path}: {len(checks)} linked sources"]
    for check in checks:
        state = "ok" if not check.problems else "PROBLEM"
        digest = f" sha256 {check.sha256}" if check.sha256 else ""
        lines.append(f"  {state:7} {check.where} -> {check.file}:{check.dataset} "
                     f"({check.frames} frames){digest}")
        lines += [f"          {problem}" for problem in check.problems]
    problems = sum(len(c.problems) for c in checks)
    lines.append(f"{problems} problem{'s' if problems != 1 else ''}")
    return "\n".join(lines)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "verify", help="check a NeXus file's external links and virtual-dataset sources")
    parser.add_argument("file", type=Path)
    parser.add_argument("--root", type=Path, help="the data folder the sources must be in "
                        "(default: the file's folder)")
    parser.add_argument("--checksum", action="store_true", help="SHA-256 of each source file")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_debug_option(parser)
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        with unforeseen_errors(f"cannot verify {args.file}", args.debug):
            checks = verify(args.file, args.root, args.checksum)
    except UnusableFile as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except OSError as exc:
        print(f"Error: cannot read {args.file}: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    problems = sum(len(c.problems) for c in checks)
    if args.json:
        print(json.dumps({"file": str(args.file), "problems": problems,
                          "sources": [asdict(c) for c in checks]}, indent=1))
    else:
        print(report(args.file, checks))
    return EXIT_ERROR if problems else EXIT_OK
