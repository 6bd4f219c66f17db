"""Every scan in every format after the fact: NeXus <-> SPEC (+EDF images, MCA lines),
either -> CSV (`macroserver convert`), and the catalogue record of a NeXus file
(`macroserver catalogue`). Input is read into the records the recorders take, and
written by the recorders themselves (see `source.py`)."""

from __future__ import annotations

from pathlib import Path

import h5py

from macroserver.convert.nexus_in import read_nexus
from macroserver.convert.source import ConvertError, SourceScan, pick
from macroserver.convert.spec_in import read_spec
from macroserver.convert.write import output_format, write
from macroserver.untrusted import regular_file

__all__ = ["ConvertError", "convert", "read_scans"]


def read_scans(path: Path, scan_id: int | None = None) -> list[SourceScan]:
    """The scans of a NeXus/HDF5 file or of a SPEC file, told apart by their content
    (of a SPEC file, only those numbered `scan_id` when given)."""
    regular_file(path)  # not a FIFO (h5py.is_hdf5 would wait on it forever)
    if h5py.is_hdf5(path):
        return read_nexus(path)
    with open(path, "rb") as stream:
        head = stream.read(4096)
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        raise ConvertError(f"cannot read {path}: a damaged or truncated HDF5 file")
    if not head.lstrip().startswith(b"#"):
        raise ConvertError(f"cannot read {path}: neither HDF5 nor a SPEC file (which starts "
                           "with '#' header lines)")
    return read_spec(path, scan_id)


def convert(source: Path, target: Path, scan_id: int | None = None,
            force: bool = False) -> list[str]:
    """Convert the scans of `source` (or scan `scan_id`) into `target`; the notes the
    writers made. ConvertError with one line saying what is wrong."""
    output_format(target)  # refuse an unknown output before reading anything
    if target.resolve() == source.resolve():
        raise ConvertError(f"{target} is the input file")
    scans = pick(read_scans(source, scan_id), scan_id, str(source))
    return write(scans, target, force, source)
