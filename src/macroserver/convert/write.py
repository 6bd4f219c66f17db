"""Writing converted scans: replayed into our SPEC or NeXus recorder, or as CSV, inside a
hidden staging folder beside the output, moved into place only when complete (an EDF
folder first, the main file last), so a failure leaves nothing half-written."""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

from macroserver.convert.source import ConvertError, SourceScan
from macroserver.recorders.base import Recorder, RecorderContext
from macroserver.recorders.edf import edf_folder
from macroserver.recorders.h5file import scans_folder
from macroserver.recorders.nexus import NexusRecorder
from macroserver.recorders.spec import SpecRecorder, unique_labels
from macroserver.records import ScanInfo
from macroserver.streams import Level, NullListener

RECORDERS: dict[str, type[Recorder]] = {
    **dict.fromkeys(SpecRecorder.extensions, SpecRecorder),
    **dict.fromkeys(NexusRecorder.extensions, NexusRecorder),
}
FORMATS = (*RECORDERS, ".csv")
#: The folders a format writes beside its file (EDF images; NeXus scan files).
COMPANIONS: dict[type[Recorder] | None, tuple[Callable[[Path], Path], ...]] = {
    SpecRecorder: (edf_folder,), NexusRecorder: (scans_folder,)}


class _Notes(NullListener):
    """Keeps what a recorder says (a Warning from the NeXus recorder, ...)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, level: Level, text: str) -> None:
        self.lines.append(f"{level.value}: {text}")


def output_format(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in FORMATS:
        raise ConvertError(f"{path}: unknown output format {ext or '(no extension)'!r} "
                           f"(one of {', '.join(FORMATS)})")
    return ext


@contextmanager
def staged(target: Path, force: bool) -> Iterator[Path]:
    """A path inside a hidden staging folder next to `target`; on success the file (and
    its EDF folder, or NeXus scans folder) replace the target, on failure everything
    staged is removed."""
    folder = target.parent
    if not folder.is_dir():
        raise ConvertError(f"{folder} is not a folder")
    # only the folders the target's own format writes beside it: scans.nxs may be made
    # beside the scans_edf/ of a scans.dat
    companions = COMPANIONS.get(RECORDERS.get(target.suffix.lower()), ())
    for existing in (target, *(companion(target) for companion in companions)):
        if existing.exists() and not force:
            raise ConvertError(f"{existing} exists (use --force to replace it)")
    # its real path: recorders check that the folder they open is the one they were given
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=folder)).resolve()
    try:
        yield stage / target.name
        for companion in companions:
            staged_folder, final = companion(stage / target.name), companion(target)
            if staged_folder.exists():
                if final.exists():
                    shutil.rmtree(final)
                os.replace(staged_folder, final)
        os.replace(stage / target.name, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def replay(scans: list[SourceScan], path: Path, target: Path) -> list[str]:
    """Each scan through the recorder of `path`'s extension, as the engine drives it
    (`path` is staged, `target` where it will be)."""
    notes = _Notes()
    cls = RECORDERS[path.suffix.lower()]
    for scan in scans:
        recorder = cls(RecorderContext(listener=notes, path=path))
        recorder.start(_linked_for(cls, scan.info, path.parent, target.parent))
        try:
            for point in scan.points():
                recorder.record(point)
        finally:
            recorder.end(scan.end)
    return notes.lines


def _linked_for(cls: type[Recorder], info: ScanInfo, stage: Path, final: Path) -> ScanInfo:
    """`info` with the detector frames it links as `cls` can take them from `stage`.

    SPEC names them in its `#C frames of` line, relative to the file: their folders are
    given as seen from the staging folder, so the text is right where the file ends up.
    NeXus would link them with virtual datasets relative to the staged file, which break
    when it moves: a converted NeXus file keeps the frame numbers only (docs/convert.md)."""
    if not info.linked:
        return info
    if cls is not SpecRecorder:
        return replace(info, linked=())
    return replace(info, linked=tuple(
        replace(linked, folder=Path(os.path.normpath(
            stage / os.path.relpath(linked.folder, final))))
        for linked in info.linked))


def write_csv(scan: SourceScan, path: Path) -> None:
    """The scalar columns, one row per point, labels as the header (RFC 4180)."""
    scalars = [c for c in scan.info.columns if c.ndim == 0]
    labels = unique_labels((c.label or c.name for c in scalars), "col")
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(labels)
        for point in scan.points():
            writer.writerow([_cell(point.values.get(c.name)) for c in scalars])


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write(scans: list[SourceScan], target: Path, force: bool, source: Path) -> list[str]:
    """Write `scans` (of the file `source`) to `target` (format from its extension); the
    recorders' notes. The points are read as they are written: an error names both."""
    fmt = output_format(target)
    if fmt == ".csv" and len(scans) != 1:
        numbers = ", ".join(str(s.info.scan_id) for s in scans[:20])
        raise ConvertError(f"a CSV file holds one scan; choose one with --scan ({numbers})")
    with staged(target, force) as path:
        if fmt == ".csv":
            write_csv(scans[0], path)
            return []
        try:
            notes = replay(scans, path, target)
            _name_target(path, target)
        except (OSError, ValueError, KeyError) as exc:
            raise ConvertError(f"cannot convert {source} to {target}: {exc}") from None
        return notes


def _name_target(staged_path: Path, target: Path) -> None:
    """The file names itself (NeXus @file_name, SPEC #F): the target, not the staging."""
    if RECORDERS[target.suffix.lower()] is NexusRecorder:
        import h5py

        with h5py.File(staged_path, "r+") as f:
            f.attrs["file_name"] = str(target.resolve())
        return
    text = staged_path.read_text(encoding="ascii")
    staged_path.write_text(text.replace(f"#F {staged_path}\n", f"#F {target.resolve()}\n"),
                           encoding="ascii")
