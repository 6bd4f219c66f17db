"""File recorders against the plain library loops they wrap (run by hand, prints a table).

    .venv/bin/python benchmarks/bench_file_recorders.py

Each recorder is fed as the recorder manager does when acquisition outpaces it (no idle
`flush()` until the end), and is compared with a plain loop that writes the same frames
with the same chunking and compression in the same run, so the ratio shows what the
recorder's own bookkeeping costs.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import fabio.edfimage
import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from recorder_feed import make_info, make_points, run_scan  # noqa: E402

from macroserver.recorders.base import Recorder  # noqa: E402
from macroserver.recorders.nexus import NexusRecorder, chunk_rows, compression  # noqa: E402
from macroserver.recorders.spec import SpecRecorder  # noqa: E402

FRAMES = 100
SHAPE = (251, 251)
SCALAR_POINTS = 10_000


def timed(action: Callable[[int], object], repeat: int = 5) -> float:
    """Best of `repeat` runs (this is a busy 2-core machine); `action` gets the run number."""
    best = math.inf
    for run in range(repeat):
        start = time.perf_counter()
        action(run)
        best = min(best, time.perf_counter() - start)
    return best


def fsync(path: Path) -> None:
    """The recorders fsync their files at the end; the plain loops get the same durability."""
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def feed(recorder: type[Recorder], path: Path, info, points) -> None:
    run_scan(recorder, path, info, points, flush_every=len(points) + 1)


def plain_h5py(path: Path, frames: list[np.ndarray], rank: int) -> None:
    """What a hand-written loop does: grow by one frame, write it; same chunks/filters."""
    row_bytes = frames[0].nbytes
    with h5py.File(path, "w", libver="latest") as f:
        ds = f.create_dataset(
            "frames",
            shape=(0, *SHAPE),
            maxshape=(None, *SHAPE),
            dtype="float64",
            chunks=(chunk_rows(row_bytes, len(frames)), *SHAPE),
            **compression(rank, 2),
        )
        for i, frame in enumerate(frames):
            ds.resize(i + 1, axis=0)
            ds[i] = frame
    fsync(path)


def plain_fabio(folder: Path, frames: list[np.ndarray]) -> None:
    folder.mkdir()
    for i, frame in enumerate(frames):
        header = {"scan_number": "1", "point_nb": str(i)}
        fabio.edfimage.EdfImage(data=frame, header=header).write(str(folder / f"f_{i:05d}.edf"))


def main() -> None:
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        for rank, label in ((-1, "no compression"), (2, "compressed (rank 2)")):
            info = make_info(1, FRAMES, images=1, image_shape=SHAPE, compression_rank=rank)
            points = make_points(info, FRAMES)
            frames = [p.values["img00"] for p in points]
            ours = timed(lambda n: feed(NexusRecorder, tmpdir / f"rec{rank}_{n}.h5", info, points))
            plain = timed(lambda n: plain_h5py(tmpdir / f"plain{rank}_{n}.h5", frames, rank))
            rows.append((
                f"NeXus {FRAMES}x{SHAPE} f64, {label}",
                f"{FRAMES / ours:8.1f} frames/s vs plain h5py {FRAMES / plain:8.1f}",
                f"{plain / ours:6.0%}",
            ))

        info = make_info(2, FRAMES, images=1, image_shape=SHAPE)
        points = make_points(info, FRAMES)
        frames = [p.values["img00"] for p in points]
        ours = timed(lambda n: feed(SpecRecorder, tmpdir / f"edf{n}" / "edf.dat", info, points))
        plain = timed(lambda n: plain_fabio(tmpdir / f"plain_edf{n}", frames))
        rows.append((
            f"SPEC+EDF {FRAMES}x{SHAPE} f64",
            f"{FRAMES / ours:8.1f} frames/s vs plain fabio {FRAMES / plain:8.1f}",
            f"{plain / ours:6.0%}",
        ))

        info = make_info(3, SCALAR_POINTS)
        points = make_points(info, SCALAR_POINTS)
        for recorder, suffix in ((SpecRecorder, "dat"), (NexusRecorder, "h5")):
            ours = timed(
                lambda n: feed(recorder, tmpdir / f"scalars{n}.{suffix}", info, points), 1
            )
            rows.append((
                f"{recorder.format_name} {SCALAR_POINTS} scalar points",
                f"{SCALAR_POINTS / ours:8.0f} points/s",
                "",
            ))

    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'throughput':<48}  ratio")
    for case, speed, ratio in rows:
        print(f"{case:<{width}}  {speed:<48}  {ratio}")


if __name__ == "__main__":
    main()
