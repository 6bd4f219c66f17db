"""A self-saving detector's frames in a NeXus entry: linked, never copied.

Laid out at scan start, before the file goes SWMR, so live readers see it at once:

    entry/instrument/<det>:NXdetector
        data             virtual dataset (planned points, H, W) over the detector's files
        frame_numbers    -> measurement/<det> (the frame saved at each point)
        frame_saved      int8 per frame: -1 not known yet, 1 saved, 0 missing
        frames_planned, frames_acquired, frames_saved   (-1 until the scan ends)
        files:NXcollection   file_NNNN = external link to each file's frames dataset
    entry/<det>_image:NXdata   @signal=data (-> instrument/<det>/data), image
    entry/<det>_frames:NXnote   what the end found (missing frames and why)

Paths are relative to the master file, so a moved data folder still reads. At the end
the flags and counts are filled in (SWMR-safe); when the scan did fewer points than
planned or frames are missing, the virtual dataset is rebuilt for the points that
happened, mapping only frames that were really saved: missing ones read as the fill
value (the dtype's maximum, NaN for floats) and are flagged 0, never silent zeros.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from macroserver.recorders.h5recovery import cut_short
from macroserver.records import FrameCount, LinkedFrames

NOTE_LENGTH = 1024


def fill_value(dtype: str) -> Any:
    """What a missing frame reads as: a value a detector does not produce by itself."""
    kind = np.dtype(dtype)
    if kind.kind == "f":
        return np.nan
    return np.iinfo(kind).max if kind.kind == "u" else np.iinfo(kind).min


def open_source(path: Path) -> h5py.File:
    """A detector file, read-only; one its writer left open (killed) is read as SWMR,
    unless it was cut short (an SWMR reader retries reading such a file for minutes)."""
    try:
        return h5py.File(path, "r", locking=False)
    except OSError:
        if not path.exists():
            raise
        with open(path, "rb") as stream:
            cut = cut_short(stream.fileno())
        if cut:
            raise OSError(f"{path}: {cut}") from None
        return h5py.File(path, "r", locking=False, libver="latest", swmr=True)


def saved_in_file(path: Path, dataset: str, frames: int) -> np.ndarray:
    """Which of the first `frames` frames a detector file really holds (bool per frame).

    A missing or unreadable file holds none; frames beyond the dataset's length are
    missing; in a dataset chunked one frame per chunk, a frame whose chunk was never
    written is missing (the file was preallocated and the detector stopped early).
    """
    held = np.zeros(frames, dtype=bool)
    try:
        with open_source(path) as f:
            ds = f[dataset]
            length = min(frames, ds.shape[0] if ds.ndim == 3 else 0)
            held[:length] = True
            if ds.chunks is not None and ds.chunks[0] == 1 and ds.ndim == 3 and (
                    ds.chunks[1:] == ds.shape[1:]):
                written = np.zeros(frames, dtype=bool)  # not the declared length
                for k in range(ds.id.get_num_chunks()):
                    offset = ds.id.get_chunk_info(k).chunk_offset[0]
                    if offset < frames:
                        written[offset] = True
                held &= written
    except (OSError, KeyError, ValueError):
        held[:] = False
    return held


def saved_frames(linked: LinkedFrames, frames: int) -> np.ndarray:
    """Bool per frame number < `frames`: held by the detector's files."""
    parts = [saved_in_file(linked.folder / name, linked.dataset, count)
             for name, count in linked.files(frames)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def _layout(linked: LinkedFrames, master_dir: Path, available: np.ndarray) -> h5py.VirtualLayout:
    """A (len(available), H, W) layout mapping each available frame to its file."""
    count = len(available)
    layout = h5py.VirtualLayout(shape=(count, *linked.frame_shape), dtype=linked.frame_dtype)
    per = linked.frames_per_file
    for k, (name, held) in enumerate(linked.files(count)):
        relative = os.path.relpath(linked.folder / name, master_dir)
        source = h5py.VirtualSource(relative, linked.dataset,
                                    shape=(held, *linked.frame_shape))
        flags = available[k * per: k * per + held]
        for start, stop in _runs(flags):
            layout[k * per + start: k * per + stop] = source[start:stop]
    return layout


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True values."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


class DetectorLinks:
    """The linked frames of one detector in one entry: laid out, then finished."""

    def __init__(self, linked: LinkedFrames, name: str, master: Path) -> None:
        self.linked = linked
        self.name = name  # NeXus name of the detector (its measurement column's name)
        self.master_dir = master.parent
        self.fill = fill_value(linked.frame_dtype)
        self.available = np.ones(linked.planned, dtype=bool)  # per point, known at the end

    def create(self, entry: h5py.Group, frame_numbers: h5py.Dataset) -> None:
        linked, name = self.linked, self.name
        detector = entry["instrument"].create_group(name)
        detector.attrs["NX_class"] = "NXdetector"
        self._create_data(detector, self.available)
        frame_numbers.attrs["target"] = frame_numbers.name
        detector["frame_numbers"] = frame_numbers
        detector.create_dataset("frame_saved", shape=(linked.planned,), dtype="int8",
                                fillvalue=-1)
        detector["frames_planned"] = np.int64(linked.planned)
        for field in ("frames_acquired", "frames_saved"):
            detector[field] = np.int64(-1)
        self._create_file_links(detector, linked.planned, existing=False)
        note = entry.create_group(f"{name}_frames")
        note.attrs["NX_class"] = "NXnote"
        note["type"] = "text/plain"
        note["description"] = f"frames of {linked.column}: planned, acquired, saved, missing"
        note.create_dataset("data", shape=(), dtype=h5py.string_dtype("utf-8", NOTE_LENGTH))
        plot = entry.create_group(f"{name}_image")
        plot.attrs.update(NX_class="NXdata", signal="data", interpretation="image")
        plot["data"] = detector["data"]

    def _create_data(self, detector: h5py.Group, available: np.ndarray) -> None:
        data = detector.create_virtual_dataset(
            "data", _layout(self.linked, self.master_dir, available), fillvalue=self.fill)
        data.attrs.update(target=data.name, interpretation="image",
                          long_name=f"{self.linked.column} frames (linked, not copied)")

    def _create_file_links(self, detector: h5py.Group, frames: int, existing: bool) -> None:
        """`files/file_NNNN` -> each file's frames (with `existing`, files that exist)."""
        files = detector.create_group("files")
        files.attrs["NX_class"] = "NXcollection"
        for k, (file_name, _) in enumerate(self.linked.files(frames)):
            path = self.linked.folder / file_name
            if existing and not path.exists():
                continue
            files[f"file_{k:04d}"] = h5py.ExternalLink(
                os.path.relpath(path, self.master_dir), self.linked.dataset)

    def finish(self, entry: h5py.Group, points: int, count: FrameCount) -> tuple[bool, int, str]:
        """Counts, flags and the note, written in place (SWMR-safe). Returns whether the
        virtual dataset must be rebuilt for what happened, the points without a saved
        frame, and the note's text."""
        linked = self.linked
        detector = entry["instrument"][self.name]
        available = saved_frames(linked, linked.planned)
        available[points:] = False
        if count.saved is not None:
            available[count.saved:] = False
        detector["frame_saved"][...] = available.astype(np.int8)
        detector["frames_acquired"][()] = -1 if count.acquired is None else count.acquired
        detector["frames_saved"][()] = int(available.sum())
        missing = points - int(available[:points].sum())
        text = (f"{linked.planned} frames planned, "
                f"{'unknown' if count.acquired is None else count.acquired} acquired, "
                f"{'unknown' if count.saved is None else count.saved} saved by the detector, "
                f"{int(available.sum())} found in its files; {points} points")
        if missing:
            text += (f"; {missing} points have no saved frame: they read as "
                     f"{self.fill} and are flagged 0 in frame_saved")
        entry[f"{self.name}_frames/data"][()] = text.encode()[:NOTE_LENGTH]
        self.available = available[:points]
        return points != linked.planned or missing > 0, missing, text

    def rebuild(self, entry: h5py.Group) -> None:
        """Replace the planned layout by one for the points that happened (file not in
        SWMR mode): length = points, only saved frames mapped, links to existing files."""
        detector = entry["instrument"][self.name]
        for path in ("data", "frame_saved", "files"):
            del detector[path]
        plot = entry[f"{self.name}_image"]
        del plot["data"]
        self._create_data(detector, self.available)
        detector["frame_saved"] = self.available.astype(np.int8)
        self._create_file_links(detector, len(self.available), existing=True)
        plot["data"] = detector["data"]
