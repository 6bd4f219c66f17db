"""File recorders against the plain library loops they wrap (run by hand, prints a table).

    .venv/bin/python benchmarks/bench_file_recorders.py

Each recorder is fed as the recorder manager does when acquisition outpaces it (no idle
`flush()` until the end), and is compared with a plain loop that writes the same frames
with the same chunking and compression in the same run, so the ratio shows what the
recorder's own bookkeeping costs.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import best_of, plain_fabio, plain_h5py  # noqa: E402
from recorder_feed import make_info, make_points, run_scan  # noqa: E402

from macroserver.recorders.base import Recorder  # noqa: E402
from macroserver.recorders.nexus import NexusRecorder, chunk_rows, compression  # noqa: E402
from macroserver.recorders.spec import SpecRecorder  # noqa: E402

FRAMES = 100
SHAPE = (251, 251)
SCALAR_POINTS = 10_000


def timed(action, repeat: int = 5) -> float:
    """Best of `repeat` runs (this is a busy 2-core machine); `action` gets the run number."""
    return best_of(action, repeat)


def feed(recorder: type[Recorder], path: Path, info, points) -> None:
    run_scan(recorder, path, info, points, flush_every=len(points) + 1)


def plain_nexus_like(path: Path, frames: list, rank: int) -> None:
    """Plain h5py with the chunks and filters the NeXus recorder uses for these frames."""
    chunks = (chunk_rows(frames[0].nbytes, len(frames)), *SHAPE)
    plain_h5py(path, frames, chunks, compression(rank, 2))


def main() -> None:
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        for rank, label in ((-1, "no compression"), (2, "compressed (rank 2)")):
            info = make_info(1, FRAMES, images=1, image_shape=SHAPE, compression_rank=rank)
            points = make_points(info, FRAMES)
            frames = [p.values["img00"] for p in points]
            ours = timed(lambda n: feed(NexusRecorder, tmpdir / f"rec{rank}_{n}.h5", info, points))
            plain = timed(lambda n: plain_nexus_like(tmpdir / f"plain{rank}_{n}.h5", frames, rank))
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
