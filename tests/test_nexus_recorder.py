"""The NeXus recorder's files, read back by h5py and silx (also live and after SIGKILL)."""

from __future__ import annotations

import datetime
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (lets h5py read Blosc-compressed datasets)
import numpy as np
import pytest
import silx.io
import silx.io.nxdata as nxdata
from limited import run_code
from recorder_feed import Collector, make_info, make_points, run_scan

from macroserver.recorders import nexus
from macroserver.recorders.base import RecorderContext
from macroserver.recorders.nexus import NexusRecorder
from macroserver.records import EndStatus, Point, ScanEnd

TESTS = Path(__file__).parent


def column_values(points, name):
    return np.array([p.values[name] for p in points])


def text(dataset) -> str:
    value = dataset[()]
    return value.decode() if isinstance(value, bytes) else str(value)


def test_three_scans_read_back_by_h5py_and_silx(tmp_path):
    path = tmp_path / "scans.h5"
    scans = [
        make_info(1, 4, spectra=1, images=1, compression_rank=1),
        make_info(2, 6, mesh=True),
        make_info(3, 3),
    ]
    fed = []
    for info in scans:
        points = make_points(info, info.npoints)
        run_scan(NexusRecorder, path, info, points, flush_every=2)
        fed.append((info, points))

    with h5py.File(path, "r") as f:
        assert f.attrs["NX_class"] == "NXroot"
        assert sorted(f) == ["entry1", "entry2", "entry3"]
        assert f.attrs["default"] == "entry3"
        for info, points in fed:
            entry = f[f"entry{info.scan_id}"]
            assert entry.attrs["NX_class"] == "NXentry" and entry.attrs["default"] == "data"
            assert text(entry["title"]) == info.title
            assert text(entry["entry_identifier"]) == str(info.scan_id)
            assert text(entry["program_name"]) == "tango-macroserver"
            assert text(entry["user/name"]) == "tester"
            assert entry["user"].attrs["NX_class"] == "NXuser"
            start = datetime.datetime.fromisoformat(text(entry["start_time"]))
            end = datetime.datetime.fromisoformat(text(entry["end_time"]))
            assert start.timestamp() == pytest.approx(info.start_time) and end > start
            assert text(entry["notes/data"]) == "done"
            measurement = entry["measurement"]
            assert measurement.attrs["NX_class"] == "NXcollection"
            for column in info.columns:
                np.testing.assert_array_equal(
                    measurement[column.name][()], column_values(points, column.name)
                )
                if column.unit:
                    assert measurement[column.name].attrs["units"] == column.unit
            assert measurement["point_nb"].attrs["long_name"] == "#Pt No"
            snapshot = entry["pre_scan_snapshot"]
            assert snapshot["ring_current"][()] == 199.5 and text(snapshot["mode"]) == "uniform"
            positioners = entry["instrument"]
            assert positioners.attrs["NX_class"] == "NXinstrument"
            assert positioners["gap_x/value"][()] == (1.0 if info.scan_id == 2 else 0.5)
            assert text(positioners["gap_x/name"]) == "gap x"
            np.testing.assert_array_equal(
                positioners["mot01/value"][()], column_values(points, "mot01")
            )
        assert f["entry1/measurement/img00"].shape == (4, 251, 251)
        assert f["entry1/measurement/img00"].chunks == (1, 251, 251)
        assert f["entry1/measurement/mca00"].shape == (4, 256)

    with silx.io.open(str(path)) as f:
        plot = nxdata.get_default(f)
        assert plot is not None and plot.group.name == "/entry3/data"
        for info, points in fed:
            plot = nxdata.get_default(f[f"entry{info.scan_id}"])
            assert nxdata.is_valid_nxdata(plot.group)
            assert plot.signal_dataset_name.split("/")[-1] == "ct01"
            np.testing.assert_array_equal(plot.signal, column_values(points, "ct01"))
            # one @axes entry per signal dimension (NeXus); a mesh's slow motor is an
            # alternative axis of the same dimension
            assert [a.split("/")[-1] for a in plot.axes_dataset_names] == ["mot01"]
            np.testing.assert_array_equal(plot.axes[0], column_values(points, "mot01"))
            if info.scan_id == 2:
                assert plot.group.attrs["mot02_indices"] == 0
                np.testing.assert_array_equal(plot.group["mot02"], column_values(points, "mot02"))


def test_reused_scan_id_gets_the_next_free_entry(tmp_path):
    path = tmp_path / "reuse.nxs"
    info = make_info(5, 2)
    listener = Collector()
    for _ in range(3):
        run_scan(NexusRecorder, path, info, make_points(info, 2), listener=listener)
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["entry5", "entry5_1", "entry5_2"]
        assert f.attrs["default"] == "entry5_2"
        assert all(f[e]["measurement/ct01"].shape == (2,) for e in f)
    warnings = [t for level, t in listener.messages if level == "Warning"]
    assert len(warnings) == 2 and "entry5_1" in warnings[0] and "entry5_2" in warnings[1]


@pytest.mark.parametrize(
    "status, reason, expected",
    [
        (EndStatus.STOPPED, "", "stopped"),
        (EndStatus.ABORTED, "", "aborted"),
        (EndStatus.FAILED, "motor µ in FAULT " + "x" * 400, "failed: motor µ in FAULT x"),
    ],
)
def test_end_status_written(tmp_path, status, reason, expected):
    path = tmp_path / "end.h5"
    info = make_info(6, 5)
    run_scan(NexusRecorder, path, info, make_points(info, 2), status=status, reason=reason)
    with h5py.File(path, "r") as f:
        assert text(f["entry6/notes/data"]).startswith(expected)
        assert f["entry6/measurement/ct01"].shape == (2,)


def test_nonfinite_values_and_odd_names(tmp_path):
    path = tmp_path / "odd.h5"
    info = make_info(7, 3, spectra=1, images=1, image_shape=(5, 7), odd_names=True)
    points = make_points(info, 3, nonfinite=True)
    run_scan(NexusRecorder, path, info, points)
    with h5py.File(path, "r") as f:
        m = f["entry7/measurement"]
        assert sorted(m) == sorted(
            ["point_nb", "mot01", "timer", "ct01", "ct_02_sum", "mca00", "ccd_image", "dt"]
        )
        assert m["ct_02_sum"].attrs["long_name"] == "ct 02/µ sum"
        assert math.isnan(m["ct01"][1]) and m["ct_02_sum"][1] == math.inf
        assert m["timer"][1] == -math.inf
        np.testing.assert_array_equal(m["mca00"][()], column_values(points, "mca00"))
        np.testing.assert_array_equal(m["ccd_image"][()], column_values(points, "ccd/image µ"))
    with silx.io.open(str(path)) as f:
        assert nxdata.is_valid_nxdata(f["entry7/data"])


def test_chunking_and_compression_rank(tmp_path):
    path = tmp_path / "chunks.h5"
    for scan_id, rank in ((1, -1), (2, 0), (3, 2)):
        info = make_info(scan_id, 2000, spectra=1, images=1, image_shape=(64, 64),
                         compression_rank=rank)
        run_scan(NexusRecorder, path, info, make_points(info, 3))
    with h5py.File(path, "r") as f:
        m = f["entry1/measurement"]
        assert m["ct01"].chunks == (1024,) and m["img00"].chunks == (8, 64, 64)  # 256 KiB per chunk
        assert m["mca00"].chunks[1:] == (256,) and m["mca00"].maxshape == (None, 256)
        filters = {
            (e, n): f[e]["measurement"][n].id.get_create_plist().get_nfilters()
            for e in ("entry1", "entry2", "entry3") for n in ("ct01", "mca00", "img00")
        }
        assert all(filters[("entry1", n)] == 0 for n in ("ct01", "mca00", "img00"))
        assert all(filters[("entry2", n)] > 0 for n in ("ct01", "mca00", "img00"))
        assert filters[("entry3", "img00")] > 0 and filters[("entry3", "mca00")] == 0
        assert filters[("entry3", "ct01")] == 0
    short = tmp_path / "short.h5"
    info = make_info(1, 5)
    run_scan(NexusRecorder, short, info, make_points(info, 5))
    with h5py.File(short, "r") as f:
        assert f["entry1/measurement/ct01"].chunks == (5,)


def test_bad_point_fails_cleanly_and_keeps_earlier_points(tmp_path):
    path = tmp_path / "bad.h5"
    info = make_info(8, 4, images=1, image_shape=(8, 8))
    points = make_points(info, 2)
    bad = Point(2, {**points[1].values, "img00": np.zeros((9, 8))}, 0.0)
    with pytest.raises(ValueError, match="img00"):
        run_scan(NexusRecorder, path, info, [*points, bad])
    with h5py.File(path, "r") as f:  # a plain open works: the writer closed the file
        assert all(ds.shape[0] == 2 for ds in f["entry8/measurement"].values())
        assert text(f["entry8/notes/data"]).startswith("failed: column 'img00'")


def test_appends_to_an_existing_non_swmr_file(tmp_path):
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as f:  # h5py's default format cannot do SWMR
        f["calibration"] = np.arange(3.0)
    listener = Collector()
    info = make_info(9, 3)
    run_scan(NexusRecorder, path, info, make_points(info, 3), listener=listener)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["calibration"][()], [0, 1, 2])
        assert f["entry9/measurement/ct01"].shape == (3,)
    # the scan is in a new SWMR-capable file of its own, linked from old.h5
    assert not [t for level, t in listener.messages if level == "Warning"]


READER = """
import json, sys, h5py
f = h5py.File(sys.argv[1], "r", libver="latest", swmr=True)
m = f[sys.argv[2] + "/measurement"]
for _ in sys.stdin:
    for ds in m.values():
        ds.refresh()
    print(json.dumps({"lens": [ds.shape[0] for ds in m.values()],
                      "ct01": m["ct01"][()].tolist()}), flush=True)
"""


def test_live_read_by_a_second_process(tmp_path, monkeypatch):
    path = tmp_path / "live.h5"
    info = make_info(10, 20, spectra=1, images=1, image_shape=(32, 32))
    points = make_points(info, 7)
    recorder = NexusRecorder(RecorderContext(path=path))
    recorder.start(info)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path), "entry10"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )

    def seen() -> dict:
        reader.stdin.write("\n")
        reader.stdin.flush()
        return json.loads(reader.stdout.readline())

    try:
        assert seen()["lens"] == [0] * 8
        for point in points[:3]:
            recorder.record(point)
        recorder.flush()
        state = seen()
        assert state["lens"] == [3] * 8
        assert state["ct01"] == [p.values["ct01"] for p in points[:3]]
        # buffered while the flush interval has not passed (made long here: a loaded
        # machine may take more than its 0.5 s between the flush above and these records)
        monkeypatch.setattr(nexus, "FLUSH_INTERVAL", 3600.0)
        recorder.record(points[3])
        recorder.record(points[4])
        assert seen()["lens"] == [3] * 8  # buffered, not yet flushed
        monkeypatch.setattr(nexus, "FLUSH_INTERVAL", 0.5)
        time.sleep(0.6)
        recorder.record(points[5])  # more than 0.5 s since the last flush: written now
        assert seen()["lens"] == [6] * 8
        recorder.record(points[6])
        recorder.end(ScanEnd(EndStatus.DONE, time.time(), 7))
        state = seen()
        assert state["lens"] == [7] * 8
        assert state["ct01"] == [p.values["ct01"] for p in points]
    finally:
        reader.stdin.close()
        assert reader.wait(timeout=20) == 0


WRITER = """
import sys, time
from pathlib import Path
sys.path[:0] = [sys.argv[2]]
from recorder_feed import make_info, make_points
from macroserver.recorders.base import RecorderContext
from macroserver.recorders.nexus import NexusRecorder
info = make_info(11, 50, spectra=1, images=1, image_shape=(16, 16), compression_rank=0)
points = make_points(info, 9)
recorder = NexusRecorder(RecorderContext(path=Path(sys.argv[1])))
recorder.start(info)
for point in points[:7]:
    recorder.record(point)
recorder.flush()
recorder.record(points[7])
print("flushed 7", flush=True)
time.sleep(60)
"""


def test_sigkill_leaves_a_file_with_the_flushed_points(tmp_path):
    path = tmp_path / "killed.h5"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(TESTS)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "flushed 7"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=20)
    assert writer.returncode == -signal.SIGKILL
    info = make_info(11, 50, spectra=1, images=1, image_shape=(16, 16))
    points = make_points(info, 7)
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        m = f["entry11/measurement"]
        for column in info.columns:
            np.testing.assert_array_equal(m[column.name][()], column_values(points, column.name))
        assert text(f["entry11/title"]) == info.title
    with silx.io.open(str(path)) as f:  # silx retries in SWMR mode
        plot = nxdata.get_default(f)
        assert plot is not None and len(plot.signal) == 7
    # only the killed scan's own file is still marked as being written: the master opens
    # without help, and the next scan is added to it
    info = make_info(12, 2)
    listener = Collector()
    run_scan(NexusRecorder, path, info, make_points(info, 2), listener=listener)
    assert not [t for level, t in listener.messages if level == "Warning"]
    with h5py.File(path, "r") as f:
        assert list(f) == ["entry11", "entry12"]
        assert len(f["entry12/measurement/point_nb"]) == 2
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        assert len(f["entry11/measurement/point_nb"]) == 7


HUGE_MESH = """
import dataclasses, sys
from pathlib import Path
from recorder_feed import make_info, make_points, run_scan
from macroserver.records import EndStatus, Grid
from macroserver.recorders.nexus import NexusRecorder

side = 10 ** 6  # the typo of issue 20: 10^12 planned points
positions = tuple(float(i) for i in range(side))
info = dataclasses.replace(make_info(1, 6, mesh=True), npoints=side * side,
                           scan_shape=(side, side),
                           grid=Grid("mot02", "mot01", positions, positions))
run_scan(NexusRecorder, Path(sys.argv[1]), info, make_points(info, 25), status=EndStatus.STOPPED)
"""


def test_a_huge_mesh_file_grows_with_its_points_not_its_plan(tmp_path):
    """The default plot's image of a 10^6 x 10^6 mesh used to be created at its whole
    size (8 TB, filled as the scan wrote); now it grows row by row. Run in a child with
    a 64 MB file-size limit, so a regression fails here instead of filling the disk."""
    path = tmp_path / "mesh.h5"
    done = run_code(HUGE_MESH, str(path), fsize=64 << 20, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    total = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert total < 16 << 20, f"{total:,} bytes for 25 points"
    with h5py.File(path, "r") as f:
        plot = f["entry1/data"]
        assert plot["ct01"].shape == (1, 10 ** 6)  # one row begun
        assert plot["mot02"].shape == (1,) and plot["mot01"].shape == (10 ** 6,)
        assert np.isfinite(plot["ct01"][0, :25]).all() and np.isnan(plot["ct01"][0, 25])
    with silx.io.open(str(path)) as h5:
        default = nxdata.get_default(h5)
        assert default is not None and default.signal.shape == (1, 10 ** 6)


FILLING = """
import sys
from pathlib import Path
from recorder_feed import make_info, make_points, run_scan
from macroserver.recorders.nexus import NexusRecorder

info = make_info(1, 10, images=1)
try:  # the end after the failure may fail too (HDF5 cannot flush): the manager reports it
    run_scan(NexusRecorder, Path(sys.argv[1]), info, make_points(info, 10), flush_every=10)
except (OSError, RuntimeError) as exc:
    print("failed:", exc.__context__ or exc)
"""


def test_a_scan_filling_its_file_keeps_its_points(tmp_path):
    """Issue 20 item 7: the scan that filled the disk kept 0 points in NeXus while its
    SPEC file had them all. A file-size limit (a child's RLIMIT_FSIZE, like a disk that
    fills) stops the frames after about 4 of 10 points: the points stay, with their
    scalars (written and flushed first) and the frames that fit; the others read as
    the fill value."""
    path = tmp_path / "full.h5"
    done = run_code(FILLING, str(path), fsize=2 << 20, timeout=120)
    assert done.returncode == 0 and "File too large" in done.stdout, done.stdout + done.stderr
    scan_file = tmp_path / "full_scans" / "full_1.h5"
    with h5py.File(scan_file, "r", libver="latest", swmr=True) as f:
        measurement = f["entry1/measurement"]
        assert measurement["point_nb"][()].tolist() == list(range(10))
        assert np.isfinite(measurement["ct01"][()]).all()
        frames = measurement["img00"]
        assert len(frames) == 10 and np.isfinite(frames[0]).all()
        assert np.isnan(frames[9]).all()  # did not fit: the fill value, never zeros
