"""Frames saved the way a Lima-like detector saves them: `<prefix><NNNN><suffix>` HDF5
files of `frames_per_file` frames each, dataset `/entry_0000/measurement/data`.

Used by the simulated self-saving detectors (in-process and as a Tango device). Each
file's dataset is created at its full size (as Lima does), one chunk per frame, and the
file is in SWMR mode, so a reader going through the scan's virtual dataset sees every
frame within `FLUSH_INTERVAL` of its saving (at once when the detector waits for its
next trigger). Frames are written as precompressed chunks (deflate,
readable by any HDF5): saving costs the same small time whatever the frame size, so the
simulation keeps up with fast scans like a real detector writing from its own machine.
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import h5py
import numpy as np

LIMA_DATASET = "/entry_0000/measurement/data"
FLUSH_INTERVAL = 0.02  # s: how late SWMR readers may see a saved frame at full rate
DEFLATE_FILTER = 1  # HDF5's gzip/deflate filter id


class FrameFileWriter:
    """Writes numbered frames into a series of HDF5 files, opening a new one every N."""

    def __init__(self, folder: Path, prefix: str, suffix: str, frames_per_file: int,
                 total_frames: int, shape: tuple[int, int], dtype: str,
                 dataset: str = LIMA_DATASET, first_number: int = 0) -> None:
        if frames_per_file < 1 or total_frames < 1:
            raise ValueError("frames per file and the number of frames must be at least 1")
        self.folder = folder
        self.prefix, self.suffix = prefix, suffix
        self.frames_per_file = frames_per_file
        self.total_frames = total_frames
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.dataset_path = dataset
        self.first_number = first_number
        self._file: h5py.File | None = None
        self._dataset: h5py.Dataset | None = None
        self._file_index = -1
        self._flushed = 0.0
        self._unflushed = False

    def path(self, file_index: int) -> Path:
        return self.folder / f"{self.prefix}{self.first_number + file_index:04d}{self.suffix}"

    def start(self) -> None:
        """Create the first file before the first frame (as armed: a trigger then finds
        the detector ready, the file's creation is not added to its first point)."""
        self._open(0)

    def write(self, frame_number: int, chunk: bytes) -> None:
        """Save frame `frame_number` given as a deflate-compressed chunk (`compress`)."""
        file_index, offset = divmod(frame_number, self.frames_per_file)
        if file_index != self._file_index:
            self._open(file_index)
        assert self._dataset is not None
        self._dataset.id.write_direct_chunk((offset, 0, 0), chunk)
        self._unflushed = True
        if time.monotonic() - self._flushed >= FLUSH_INTERVAL:  # per frame: 5x the write
            self.flush()

    def flush(self) -> None:
        """Make the frames written so far visible to SWMR readers."""
        if self._dataset is not None and self._unflushed:
            self._dataset.flush()
            self._flushed, self._unflushed = time.monotonic(), False

    def _open(self, file_index: int) -> None:
        self.close()
        frames = min(self.frames_per_file, self.total_frames - file_index * self.frames_per_file)
        path = self.path(file_index)
        if path.exists():
            raise FileExistsError(f"{path} exists; a detector never overwrites a file")
        f = h5py.File(path, "w", libver="latest")
        f.attrs["NX_class"] = "NXroot"
        entry = f.create_group("entry_0000")
        entry.attrs["NX_class"] = "NXentry"
        dataset = f.create_dataset(self.dataset_path, shape=(frames, *self.shape),
                                   dtype=self.dtype, chunks=(1, *self.shape),
                                   compression="gzip", compression_opts=1)
        dataset.attrs["interpretation"] = "image"
        f.swmr_mode = True
        self._file, self._dataset, self._file_index = f, dataset, file_index

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = self._dataset = None
        self._file_index = -1


def compress(frame: np.ndarray) -> bytes:
    """A frame as the deflate chunk HDF5's gzip filter reads (level 1: fast)."""
    return zlib.compress(np.ascontiguousarray(frame).tobytes(), 1)


def spot_frames(shape: tuple[int, int], dtype: str, count: int) -> list[np.ndarray]:
    """`count` distinct frames: a gaussian spot at a different place on each, plus `n`."""
    height, width = shape
    kind = np.dtype(dtype)
    top = 1000.0 if kind.kind == "f" else min(1000.0, float(np.iinfo(kind).max) - count)
    sigma = max(1.0, min(8.0, min(height, width) / 8))  # a small spot: frames compress well
    profile_y = np.exp(-0.5 * ((np.arange(height) - height / 2) / sigma) ** 2)
    frames = []
    for n in range(count):
        cx = width * (n + 1) / (count + 1)
        profile_x = np.exp(-0.5 * ((np.arange(width) - cx) / sigma) ** 2)
        frames.append((top * np.outer(profile_y, profile_x) + n).astype(kind))
    return frames
