"""Arming and finishing the self-saving detectors of a scan.

Each detector saves into its own folder under the scan's ScanDir,
`<ScanDir>/<ScanFile stem>_scan<ID>/<channel>_NNNN.h5`, so the NeXus master beside it
links the frames with relative paths (a copied or moved data folder still reads). The
folder must lie inside the data roots, and the detector must report saving there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Sequence

from macroserver.datafiles import DataPathError, DataRoots, FilePolicy
from macroserver.elements.base import Channel, ElementError
from macroserver.elements.selfsaving import SelfSavingChannel, is_self_saving
from macroserver.errors import EnvError
from macroserver.records import FrameCount, LinkedFrames


def self_saving(channels: Iterable[Channel]) -> list[SelfSavingChannel]:
    return [c for c in channels if is_self_saving(c)]  # type: ignore[misc]


def frames_folder(scan_dir: Path | None, stem: str, scan_id: int, roots: DataRoots,
                  policy: FilePolicy) -> Path:
    """A new folder for this scan's detector files, created inside the data roots."""
    if scan_dir is None:
        raise EnvError("a detector of the measurement group saves its own frames under "
                       "ScanDir: set ScanDir (and ScanFile) first")
    base = f"{stem}_scan{scan_id}"
    folder, n = scan_dir / base, 1
    while folder.exists():
        n += 1
        folder = scan_dir / f"{base}_{n}"
    try:
        roots.resolve_dir(str(folder))
    except DataPathError as exc:
        raise EnvError(str(exc)) from None
    folder.mkdir(parents=True, mode=policy.dir_mode)
    policy.apply(folder, is_dir=True)
    return folder


def arm(detectors: Sequence[SelfSavingChannel], folder: Path, frames: int,
        roots: DataRoots) -> tuple[LinkedFrames, ...]:
    """Arm every detector for `frames` frames in `folder`; refuse one saving elsewhere."""
    linked = []
    for detector in detectors:
        where = detector.arm(folder, f"{detector.name}_", frames)
        try:
            roots.resolve_dir(str(where.folder))
        except DataPathError as exc:
            detector.stop()
            raise ElementError(f"detector {detector.name} would save outside the data "
                               f"roots; refused: {exc}") from None
        linked.append(where)
    return tuple(linked)


def finish(detectors: Sequence[SelfSavingChannel],
           warn: Callable[[str], None]) -> dict[str, FrameCount]:
    """Let each detector finish saving; what it acquired and saved (None if unreachable,
    then the recorders go by the files alone)."""
    counts = {}
    for detector in detectors:
        try:
            counts[detector.name] = detector.finish(detector.save_timeout)
        except ElementError as exc:
            warn(f"{exc}; its frame counts are unknown, the files are checked instead")
            counts[detector.name] = FrameCount(None, None)
    return counts


def disarm(detectors: Sequence[SelfSavingChannel], folder: Path) -> None:
    """Stop detectors armed for a scan that will not run (best effort), and remove the
    folder made for their files if it stayed empty."""
    for detector in detectors:
        try:
            detector.stop()
        except ElementError:
            pass
    try:
        folder.rmdir()
    except OSError:  # not empty (a detector saved something), or already gone
        pass
