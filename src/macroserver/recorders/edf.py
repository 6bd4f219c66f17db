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

from macroserver.datafiles import FilePolicy
from macroserver.recorders.base import ensure_parent

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
    """Writes the images of one scan; `write` returns the path of the complete file."""

    def __init__(self, spec_path: Path, scan_id: int, policy: FilePolicy) -> None:
        self.folder = edf_folder(spec_path)
        self.pattern = edf_file_pattern(spec_path, scan_id)
        self.policy = policy
        ensure_parent(self.folder / "x", policy)

    def path_for(self, channel: str, point: int) -> Path:
        return self.folder / self.pattern.format(channel=safe_file_part(channel), point=point)

    def write(
        self, channel: str, point: int, image: np.ndarray, header: Mapping[str, object]
    ) -> Path:
        """Write one image atomically; `header` keys follow the ESRF conventions silx reads."""
        data = np.asarray(image)
        if data.dtype == np.bool_:  # EDF has no boolean type
            data = data.astype(np.uint8)
        target = self.path_for(channel, point)
        partial = target.with_name(f".{target.name}.part")
        edf = fabio.edfimage.EdfImage(
            data=data, header={k: header_value(v) for k, v in header.items()}
        )
        edf.write(str(partial))
        self.policy.apply(partial)
        os.replace(partial, target)
        return target


def _number(value: object) -> str:
    return "nan" if value is None else repr(float(value))  # type: ignore[arg-type]


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
