"""Self-saving detectors in-process: the detector writes its own HDF5 files, the scan
links them into NeXus (virtual dataset + external links), names them in SPEC and
references them in JSON. Read back with h5py and silx (independent of our writer),
validated with punx and nexusformat, checked after moving the data folder, and watched
live by an SWMR reader in another process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from collect import Collect, make_core, run, wait_until
from test_file_validators import punx_validate, under_nxcollection

from macroserver.datafiles import DataRoots
from macroserver.elements.base import ElementError
from macroserver.elements.framefiles import LIMA_DATASET
from macroserver.elements.selfsaving import SimSelfSavingChannel
from macroserver.elements.simdetector import SimDetectorCore
from macroserver.engine import detectors
from macroserver.engine.runner import MacroRunner
from macroserver.packets import per_point
from macroserver.streams import Level

pytestmark = pytest.mark.timeout(120)

SHAPE = (24, 40)  # height, width


def config(**detector) -> dict:
    det = {"kind": "selfsaving", "width": SHAPE[1], "height": SHAPE[0],
           "frames_per_file": 4, **detector}
    return {
        "motors": {"m1": {"limits": [-100.0, 100.0]}},
        "channels": {"t": {"kind": "timer"}, "c1": {"kind": "counter", "motor": "m1"},
                     "det": det},
        "measurement_groups": {"mg": {"timer": "t", "channels": ["t", "c1", "det"]}},
    }


def scan_core(tmp_path: Path, **detector):
    data = tmp_path / "data"
    core = make_core(tmp_path, config=config(**detector), env={
        "ScanDir": str(data), "ScanFile": ["scan.h5", "scan.dat"], "JsonRecorder": True})
    return core, data


def detector_frames(folder: Path, count: int, per_file: int = 4) -> np.ndarray:
    """The frames as the detector's own files hold them (read straight from the files)."""
    frames = []
    for k in range(-(-count // per_file)):
        with h5py.File(folder / f"det_{k:04d}.h5", "r") as f:
            frames.append(f[LIMA_DATASET][()])
    return np.concatenate(frames)[:count]


@pytest.fixture(scope="module")
def done_scan(tmp_path_factory):
    """A 10-point ascan with a 24x40 uint16 detector, 4 frames per file (3 files)."""
    tmp_path = tmp_path_factory.mktemp("selfsaving")
    core, data = scan_core(tmp_path)
    outcome, listener = run(core, "ascan m1 0 9 9 0")
    assert outcome.state == "finish", outcome.error
    return data, listener


def test_detector_saves_its_frames_under_scandir(done_scan):
    data, _ = done_scan
    folder = data / "scan_scan1"
    assert sorted(p.name for p in folder.iterdir()) == ["det_0000.h5", "det_0001.h5",
                                                        "det_0002.h5"]
    frames = detector_frames(folder, 10)
    assert frames.shape == (10, *SHAPE) and frames.dtype == np.uint16
    assert len({f.tobytes() for f in frames}) > 1  # not all alike


def test_h5py_reads_through_the_link_exactly_the_detector_frames(done_scan):
    data, _ = done_scan
    expected = detector_frames(data / "scan_scan1", 10)
    with h5py.File(data / "scan.h5", "r") as f:
        entry = f["entry1"]
        detector = entry["instrument/det"]
        assert detector["data"].is_virtual
        np.testing.assert_array_equal(detector["data"][()], expected)
        np.testing.assert_array_equal(entry["det_image/data"][()], expected)
        assert detector["frames_planned"][()] == 10
        assert detector["frames_acquired"][()] == 10
        assert detector["frames_saved"][()] == 10
        assert detector["frame_saved"][()].tolist() == [1] * 10
        assert entry["measurement/det"][()].tolist() == list(range(10))
        links = detector["files"]
        assert sorted(links) == ["file_0000", "file_0001", "file_0002"]
        link = links.get("file_0001", getlink=True)
        assert isinstance(link, h5py.ExternalLink)
        # relative to the scan's own file, scan_scans/scan_1.h5, linked from scan.h5
        assert link.filename == "../scan_scan1/det_0001.h5" and link.path == LIMA_DATASET
        np.testing.assert_array_equal(links["file_0001"][()], expected[4:8])
        assert "10 saved" in entry["det_frames/data"][()].decode()


def test_silx_reads_the_same_frames_and_the_default_plot(done_scan):
    import silx.io
    from silx.io import nxdata

    data, _ = done_scan
    expected = detector_frames(data / "scan_scan1", 10)
    with silx.io.open(str(data / "scan.h5")) as f:
        np.testing.assert_array_equal(f["entry1/instrument/det/data"][()], expected)
        plot = nxdata.get_default(f)
        assert plot is not None and plot.signal_dataset_name.endswith("c1")
        image = nxdata.NXdata(f["entry1/det_image"])
        assert image.is_valid and image.interpretation == "image"


def test_moved_data_folder_still_reads(done_scan, tmp_path):
    data, _ = done_scan
    expected = detector_frames(data / "scan_scan1", 10)
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(data, moved)
    code = ("import h5py,sys,numpy as np; f=h5py.File(sys.argv[1]); "
            "d=f['entry1/instrument/det/data'][()]; "
            "e=f['entry1/instrument/det/files/file_0002'][()]; "
            "np.save(sys.argv[2], d); print(e.shape)")
    result = subprocess.run([sys.executable, "-c", code, str(moved / "scan.h5"),
                             str(tmp_path / "d.npy")], cwd="/", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    shutil.rmtree(moved.parent)  # the copy is gone: what was read came from it
    assert result.stdout.strip() == f"(2, {SHAPE[0]}, {SHAPE[1]})"
    np.testing.assert_array_equal(np.load(tmp_path / "d.npy"), expected)


def test_spec_names_the_files_and_has_the_frame_column(done_scan):
    from silx.io.specfile import SpecFile

    data, _ = done_scan
    text = (data / "scan.dat").read_text()
    assert ("#C frames of det: scan_scan1/det_0000.h5 to det_0002.h5, 4 per file, "
            f"dataset {LIMA_DATASET}") in text
    scan = SpecFile(str(data / "scan.dat"))["1.1"]
    assert scan.data_column_by_name("det").tolist() == list(range(10))


def test_json_record_data_references_the_frame(done_scan):
    data, listener = done_scan
    packets = [json.loads(p) for _, p in listener.records]
    records = [point["data"] for p in packets for point in per_point(p)
               if point["type"] == "record_data"]  # coalesced blocks expanded
    (linked,) = packets[0]["data"]["linked_frames"]
    assert linked["files"] == ["det_0000.h5", "det_0001.h5", "det_0002.h5"]
    assert linked["shape"] == list(SHAPE) and linked["dtype"] == "uint16"
    assert len(records) == 10
    ref = records[6]["det"]
    assert ref == {"file": str(data / "scan_scan1" / "det_0001.h5"), "dataset": LIMA_DATASET,
                   "index": 2, "frame": 6}
    with h5py.File(ref["file"], "r") as f, h5py.File(data / "scan.h5", "r") as master:
        np.testing.assert_array_equal(f[ref["dataset"]][ref["index"]],
                                      master["entry1/instrument/det/data"][6])


def test_punx_and_nexusformat_accept_the_linked_file(done_scan, caplog):
    import logging

    from nexusformat.nexus import validate

    data, _ = done_scan
    path = data / "scan.h5"
    counts, findings = punx_validate(path)
    assert counts["ERROR"] == 0, [f for f in findings if f[1] == "ERROR"]
    with h5py.File(path, "r") as f:
        # punx reports what it finds through the links of files:NXcollection under the
        # path inside the detector's file
        stray = [w for w in findings if w[1] == "WARN" and not under_nxcollection(f, w[0])
                 and w[0] != LIMA_DATASET]
    assert not stray, stray
    validate.logger.propagate = True
    with caplog.at_level(logging.WARNING, logger=validate.logger.name):
        _warnings, errors = validate.validate_file(str(path))
    assert errors == 0, caplog.text


def test_detector_that_saved_fewer_frames_is_flagged_not_zero(tmp_path):
    core, data = scan_core(tmp_path, max_saved=6)
    outcome, listener = run(core, "ascan m1 0 9 9 0")
    assert outcome.state == "finish", outcome.error
    warnings = listener.text(Level.WARNING)
    assert "4 points have no saved frame" in warnings
    expected = detector_frames(data / "scan_scan1", 6)
    with h5py.File(data / "scan.h5", "r") as f:
        detector = f["entry1/instrument/det"]
        frames = detector["data"][()]  # a full read never raises
        assert frames.shape == (10, *SHAPE)
        np.testing.assert_array_equal(frames[:6], expected)
        assert (frames[6:] == np.iinfo(np.uint16).max).all()
        assert detector["frame_saved"][()].tolist() == [1] * 6 + [0] * 4
        assert detector["frames_acquired"][()] == 10 and detector["frames_saved"][()] == 6
        assert "4 points have no saved frame" in f["entry1/det_frames/data"][()].decode()


HOLDER = """
import sys, time, h5py
f = h5py.File(sys.argv[1], "r", libver="latest", swmr=True)
print("holding", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("how", ["stop", "abort"])
def test_stop_or_abort_mid_scan_fits_the_dataset_to_the_points_done(tmp_path, how):
    core, data = scan_core(tmp_path, rate=100)  # 10 ms a frame: 2 s for the whole scan
    runner = MacroRunner(core, Collect())
    runner.start("ascan m1 0 1 199 0")
    wait_until(lambda: (data / "scan_scan1" / "det_0002.h5").exists())
    viewer = subprocess.Popen(  # a live viewer holds the file while the scan ends
        [sys.executable, "-c", HOLDER, str(data / "scan.h5")], stdout=subprocess.PIPE,
        text=True)
    try:
        assert viewer.stdout is not None and viewer.stdout.readline() == "holding\n"
        getattr(runner, how)()
        outcome = runner.wait(10)
    finally:
        viewer.kill()
        viewer.wait()
    assert outcome is not None and outcome.state == how
    with h5py.File(data / "scan.h5", "r") as f:
        entry = f["entry1"]
        points = entry["measurement/det"].shape[0]
        assert 9 <= points < 200
        detector = entry["instrument/det"]
        assert detector["data"].shape == (points, *SHAPE)
        saved = detector["frames_saved"][()]
        np.testing.assert_array_equal(detector["data"][:saved],
                                      detector_frames(data / "scan_scan1", saved))
        assert detector["frame_saved"][()].sum() == saved
        assert detector["frames_planned"][()] == 200
        assert entry["notes/data"][()].decode() == {"stop": "stopped", "abort": "aborted"}[how]


def test_scan_without_scandir_is_refused_with_a_clear_error(tmp_path):
    core, _ = scan_core(tmp_path)
    core.env.update({}, ["ScanDir", "ScanFile"])
    outcome, _ = run(core, "ascan m1 0 1 2 0")
    assert outcome.state == "exception"
    assert "saves its own frames under ScanDir: set ScanDir" in outcome.error


class ElsewhereDetector(SimSelfSavingChannel):
    """A detector that reports saving in another folder than the one it was given."""

    def __init__(self, folder: Path) -> None:
        super().__init__("det", SimDetectorCore((8, 8)))
        self.elsewhere = folder

    def arm(self, folder, prefix, frames):
        return super().arm(self.elsewhere, prefix, frames)


def test_detector_saving_outside_the_data_roots_is_refused(tmp_path):
    inside, outside = tmp_path / "data", tmp_path / "outside"
    inside.mkdir(), outside.mkdir()
    detector = ElsewhereDetector(outside)
    with pytest.raises(ElementError, match="would save outside the data roots; refused"):
        detectors.arm([detector], inside, 3, DataRoots([inside]))


SWMR_READER = """
import sys, time, h5py
path, out = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 60
while True:
    try:
        f = h5py.File(path, "r", libver="latest", swmr=True)
        break
    except (OSError, FileNotFoundError):
        assert time.monotonic() < deadline
        time.sleep(0.01)
seen = []
with open(out, "w") as log:
    while time.monotonic() < deadline:
        data = f["entry1/instrument/det/data"]
        points = f["entry1/measurement/det"]
        points.refresh(); data.refresh()
        n = points.shape[0]
        frames = sum(1 for i in range(n) if 0 < data[i].max() < 65535)
        log.write(f"{data.shape[0]} {n} {frames}\\n"); log.flush()
        if n == data.shape[0]:
            break
        time.sleep(0.02)
"""


def test_swmr_reader_sees_the_detector_dataset_from_the_start_and_growing(tmp_path):
    core, data = scan_core(tmp_path, rate=50)  # 20 ms a frame, 40 points: about 0.8 s
    log = tmp_path / "reader.log"
    reader = subprocess.Popen([sys.executable, "-c", SWMR_READER, str(data / "scan.h5"),
                               str(log)])
    try:
        outcome, _ = run(core, "ascan m1 0 39 39 0")
        assert outcome.state == "finish", outcome.error
        assert reader.wait(60) == 0
    finally:
        if reader.poll() is None:
            reader.kill()
    rows = [tuple(map(int, line.split())) for line in log.read_text().split("\n") if line]
    assert rows and all(shape == 40 for shape, _, _ in rows)  # the full layout at once
    points = [n for _, n, _ in rows]
    assert points == sorted(points) and points[-1] == 40
    assert any(0 < n < 40 for n in points), rows  # seen while the scan ran
    frames = [k for _, _, k in rows]
    assert frames == sorted(frames) and any(0 < k < 40 for k in frames), rows


def test_web_view_reads_the_newest_frame_from_the_detector_file(done_scan):
    """From the detector's own file (where the record packet says the frame is), so the
    last frame shows with or without a NeXus file."""
    from macroserver.web.door_model import DoorModel
    from macroserver.web.images import frame_png, png_image

    data, listener = done_scan
    model = DoorModel("door/test/1")
    for _, payload in listener.records:
        model.apply_record(json.loads(payload))
    request = model.image_pending
    assert request is not None and request.dataset == LIMA_DATASET
    assert Path(request.path).parent == data / "scan_scan1"
    assert (request.column, request.point_nb, request.frame_index) == ("det", 9, 1)  # 4 per file
    image, png = frame_png(request)
    assert image["note"] == "" and image["shape"] == list(SHAPE) and image["point_nb"] == 9
    last = detector_frames(data / "scan_scan1", 10)[9]
    assert png == png_image(last)[0]


def test_showscan_plots_the_counters_and_shows_the_last_frame_through_the_link(
        done_scan, tmp_path):
    from macroserver.cli.showscan import read_nexus, save_frame_pngs
    from macroserver.web.images import png_image

    data, _ = done_scan
    plot = read_nexus(data / "scan.h5", 1)
    assert "det" not in plot.series and "c1" in plot.series  # frame numbers are no counter
    written = save_frame_pngs(data / "scan.h5", "entry1", tmp_path / "scan_1.png")
    assert [(name, path.name) for name, path in written] == [("det", "scan_1_det.png")]
    last = detector_frames(data / "scan_scan1", 10)[9]
    assert written[0][1].read_bytes() == png_image(last)[0]


def test_detector_files_removed_mid_scan_fault_the_detector_and_are_flagged(tmp_path):
    core, data = scan_core(tmp_path, rate=100)
    listener = Collect()
    runner = MacroRunner(core, listener)
    runner.start("ascan m1 0 1 199 0")
    folder = data / "scan_scan1"
    wait_until(lambda: (folder / "det_0001.h5").exists())
    shutil.rmtree(folder)  # the detector cannot open its next file
    outcome = runner.wait(20)
    assert outcome is not None and outcome.state == "exception"
    assert "detector det: detector in Fault:" in outcome.error, outcome.error
    with h5py.File(data / "scan.h5", "r") as f:
        detector = f["entry1/instrument/det"]
        points = f["entry1/measurement/det"].shape[0]
        assert detector["data"].shape == (points, *SHAPE)
        assert detector["frame_saved"][()].sum() == 0  # every file is gone: none is there
        assert (detector["data"][()] == np.iinfo(np.uint16).max).all()  # not zeros
        assert list(detector["files"]) == []
    assert "have no saved frame" in listener.text(Level.WARNING)


def test_refused_detector_leaves_no_folder_behind(tmp_path):
    core, data = scan_core(tmp_path, frames_per_file=4)
    detector = core.pool.channels["det"]
    detector.core.saving_format = "EDF"  # a setting the simulated detector refuses
    outcome, _ = run(core, "ascan m1 0 1 2 0")
    assert outcome.state == "exception"
    assert "detector det: saving_format 'EDF': only HDF5 is simulated" in outcome.error
    assert not (data / "scan_scan1").exists()


def test_catalogue_sidecar_lists_the_linked_detector_files(done_scan):
    data, _ = done_scan
    (sidecar,) = data.glob("*.scan.json")
    files = {Path(f["path"]).name: f for f in json.loads(sidecar.read_text())["files"]}
    for k in range(3):
        record = files[f"det_{k:04d}.h5"]
        assert record["format"] == "HDF5 detector frames (linked)"
        assert record["size"] == (data / "scan_scan1" / f"det_{k:04d}.h5").stat().st_size
    assert "scan.h5" in files and "scan.dat" in files
