"""One EDF file per point and image channel, beside a SPEC file.

SPEC files hold only numbers per line, so images go to `<stem>_edf/` next to the SPEC
file, one EDF per point and channel (the ESRF habit), named so a directory listing sorts
by scan, channel and point. Each file is written under a temporary name and renamed into
place, so a reader (or a crash) never sees half an image.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Mapping

import fabio.edfimage
import numpy as np

from macroserver.datafiles import Folder, fd_path

# fabio silently drops ';', '}' and newlines from header values and non-ASCII characters.
_UNSAFE_VALUE = re.compile(r"[;{}\r\n]|[^\x20-\x7e]")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def edf_folder(spec_path: Path) -> Path:
    """The folder holding the images of the scans of `spec_path`."""
    return spec_path.with_name(f"{spec_path.stem}_edf")


def edf_file_pattern(spec_path: Path, scan_id: int) -> str:
    """File name pattern of a scan's images, with `{channel}` and `{point:05d}` fields."""
    return f"{spec_path.stem}_S{scan_id}_{{channel}}_{{point:05d}}.edf"


def safe_file_part(name: str) -> str:
    """A channel name usable inside a file name (no slash, blank or unicode)."""
    return _UNSAFE_NAME.sub("_", name).strip("._") or "channel"


def header_value(value: object) -> str:
    """A header value that fabio stores unchanged (ASCII, no `;`/`}`/newline)."""
    return _UNSAFE_VALUE.sub("_", str(value))


class EdfWriter:
    """Writes the images of one scan; `write` returns the path of the complete file.

    Files go into `<stem>_edf/`, opened inside the SPEC file's folder (`Folder`: a
    symlink at the folder, a temporary or an image name is refused, never followed)."""

    def __init__(self, parent: Folder, spec_path: Path, scan_id: int) -> None:
        self._folder = parent.subfolder(edf_folder(spec_path).name)
        self.folder = self._folder.path
        self.pattern = edf_file_pattern(spec_path, scan_id)

    def close(self) -> None:
        self._folder.close()

    def name_for(self, channel: str, point: int) -> str:
        return self.pattern.format(channel=safe_file_part(channel), point=point)

    def path_for(self, channel: str, point: int) -> Path:
        return self.folder / self.name_for(channel, point)

    def write(
        self, channel: str, point: int, image: np.ndarray, header: Mapping[str, object]
    ) -> Path:
        """Write one image atomically; `header` keys follow the ESRF conventions silx reads."""
        data = np.asarray(image)
        if data.dtype == np.bool_:  # EDF has no boolean type
            data = data.astype(np.uint8)
        name = self.name_for(channel, point)
        partial = f".{name}.part"
        values = {k: header_value(v) for k, v in header.items()}
        block = edf_header(data, values)
        folder = self._folder
        folder.remove(partial)  # a killed writer's leftover (or a planted link): a new file
        fd = folder.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        with os.fdopen(fd, "wb") as f:
            if block is None:  # a case fabio's own writer must handle (by path only)
                fabio.edfimage.EdfImage(data=data, header=values).write(fd_path(fd))
            else:  # fabio's bytes, without its per-character header scan and two data copies
                f.write(block)
                f.write(np.ascontiguousarray(data).data)
        folder.replace(partial, name)
        return self.folder / name


_EDF_TYPES = fabio.edfimage.NUMPY_EDF_DTYPE
_BLOCK = fabio.edfimage.BLOCKSIZE
_RESERVED = ("SIZE", "EDF_BINARYSIZE", "EDF_HEADERSIZE", "BYTEORDER", "DATATYPE", "HEADERID",
             "IMAGE", "EDF_DATABLOCKID")


def edf_header(data: np.ndarray, header: Mapping[str, str]) -> bytes | None:
    """The header block fabio's `EdfImage(data, header).write()` writes for a single
    frame, byte for byte (tests/test_edf_writer.py checks it), for `header_value`-clean
    values; None when fabio must write the file itself (other dtypes, reserved keys)."""
    edf_type = _EDF_TYPES.get(str(data.dtype))
    if edf_type is None or data.ndim != 2 or any(
        k.upper() in _RESERVED or "DIM_" in k.upper() or not k.isascii() or not k
        or _UNSAFE_VALUE.search(k) for k in header
    ):
        return None
    fields: dict[str, object] = {
        "ByteOrder": "LowByteFirst" if np.little_endian else "HighByteFirst",
        "DataType": edf_type,
        **{f"Dim_{i}": data.shape[-i] for i in range(1, data.ndim + 1)},
        "Image": "0",
        "HeaderID": "EH:000000:000000:000000",
        "Size": data.nbytes,
        **header,
    }
    approx = 100 + sum(7 + len(k) + len(str(v)) for k, v in fields.items())
    approx = _BLOCK * (approx // _BLOCK + 1)
    lines = ["EDF_DataBlockID = 0.Image.Psd ;\n", f"EDF_BinarySize = {data.nbytes} ;\n",
             f"EDF_HeaderSize = {approx:5d} ;\n"]
    lines += [f"{k} = {v} ;\n" for k, v in fields.items()]
    precise = 4 + sum(map(len, lines))
    if precise > approx:
        return None
    return ("{\n" + "".join(lines) + " " * (approx - precise) + "}\n").encode("ascii")


def _number(value: float | None) -> str:
    return "nan" if value is None else repr(float(value))


def point_header(
    scan_id: int,
    title: str,
    point: int,
    motors: Mapping[str, float],
    counters: Mapping[str, float],
    acq_time: float,
    timestamp: float,
) -> dict[str, object]:
    """ESRF-style header: silx maps motor_mne/motor_pos to positioners and counter_* to
    measurement; names must be blank-free (they are split on whitespace)."""
    return {
        "scan_number": scan_id,
        "point_nb": point,
        "title": title,
        "motor_mne": " ".join(motors),
        "motor_pos": " ".join(_number(v) for v in motors.values()),
        "counter_mne": " ".join(counters),
        "counter_pos": " ".join(_number(v) for v in counters.values()),
        "acq_time": acq_time,
        "time_of_day": repr(timestamp),
        "date": time.ctime(timestamp),
    }
