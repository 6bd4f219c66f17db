"""The SPEC recorder's files, read back by silx's SPEC parser and fabio, never by our code."""

from __future__ import annotations

import stat

import fabio
import numpy as np
import pytest
import silx.io
from recorder_feed import make_info, make_points, run_scan
from silx.io.specfile import SpecFile

from macroserver.datafiles import FilePolicy
from macroserver.recorders.base import RecorderContext
from macroserver.recorders.spec import NONFINITE_TEXT, SpecRecorder
from macroserver.records import EndStatus, Point, Role, ScanEnd


def expected_rows(info, points) -> np.ndarray:
    scalars = [c for c in info.columns if c.ndim == 0]
    return np.array([[float(p.values[c.name]) for c in scalars] for p in points])


def test_three_scans_read_back_by_silx(tmp_path, capfd):
    path = tmp_path / "scans.dat"
    scans = [
        make_info(1, 5, spectra=2, odd_names=True),
        make_info(2, 4, mesh=True),
        make_info(3, 3, spectra=1),
    ]
    fed = []
    for info in scans:
        points = make_points(info, info.npoints)
        run_scan(SpecRecorder, path, info, points)
        fed.append((info, points))

    sf = SpecFile(str(path))
    assert len(sf) == 3
    for scan, (info, points) in zip(sf, fed):
        assert scan.number == info.scan_id
        assert scan.labels[:2] == ["Pt_No", "mot01"]
        assert all(" " not in label and label for label in scan.labels)
        np.testing.assert_array_equal(scan.data.T, expected_rows(info, points))
        spectra = [c.name for c in info.columns if c.role is Role.SPECTRUM]
        assert len(scan.mca) == len(spectra) * len(points)
        for i, point in enumerate(points):
            for k, name in enumerate(spectra):
                np.testing.assert_array_equal(scan.mca[i * len(spectra) + k], point.values[name])
        assert scan.motor_names == [m.name.replace(" ", "_") for m in info.motor_positions]
        assert scan.motor_positions == [m.value for m in info.motor_positions]
        assert "status: done" in scan.scan_header_dict["C"]
    assert "ct_02_sum" in sf[0].labels
    assert "Error" not in capfd.readouterr().out

    text = path.read_text("ascii")
    assert text.endswith("\n") and "\r" not in text and "\t" not in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_spech5_view_of_spectra(tmp_path, capfd):
    path = tmp_path / "mca.spec"
    info = make_info(7, 3, spectra=2)
    points = make_points(info, 3)
    run_scan(SpecRecorder, path, info, points)
    with silx.io.open(str(path)) as h5:
        scan = h5["7.1"]
        assert scan["measurement/mca_0/data"].shape == (3, 256)
        np.testing.assert_array_equal(scan["measurement/mca_1/data"][2], points[2].values["mca01"])
        assert set(scan["instrument/positioners"]) >= {"mot01", "gap_x"}
    assert "Error" not in capfd.readouterr().out


def test_images_written_as_edf_files(tmp_path, capfd):
    path = tmp_path / "ccd.dat"
    info = make_info(12, 3, images=2, odd_names=True)
    points = make_points(info, 3)
    run_scan(SpecRecorder, path, info, points)

    scan = SpecFile(str(path))[0]
    assert scan.labels[-1] == "EDF_nb"
    np.testing.assert_array_equal(scan.data_column_by_name("EDF_nb"), [0, 1, 2])
    comment = scan.scan_header_dict["C"]
    assert "ccd_edf/ccd_S12_{channel}_{point:05d}.edf" in comment
    folder = tmp_path / "ccd_edf"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        f"ccd_S12_{ch}_{i:05d}.edf" for ch in ("ccd_image", "img01") for i in range(3)
    )
    for point in points:
        for column, channel in (("ccd/image µ", "ccd_image"), ("img01", "img01")):
            image = fabio.open(str(folder / f"ccd_S12_{channel}_{point.index:05d}.edf"))
            np.testing.assert_array_equal(image.data, point.values[column])
            assert image.data.shape == (251, 251) and image.data.dtype == np.float64
            header = image.header
            assert header["scan_number"] == "12" and header["point_nb"] == str(point.index)
            assert header["motor_mne"].split() == ["mot01", "gap_x"]
            positions = [float(v) for v in header["motor_pos"].split()]
            assert positions == [point.values["mot01"], 0.5]
            assert header["counter_mne"].split() == ["timer", "ct01", "ct_02_sum"]
            counters = [float(v) for v in header["counter_pos"].split()]
            assert counters == [point.values[n] for n in ("timer", "ct01", "ct 02/µ sum")]
    with silx.io.open(str(folder / "ccd_S12_img01_00002.edf")) as edf:
        assert edf["scan_0/instrument/positioners/mot01"][()] == pytest.approx(
            points[2].values["mot01"]
        )
    assert "Error" not in capfd.readouterr().out


def test_nonfinite_values_use_documented_sentinels(tmp_path, capfd):
    path = tmp_path / "nan.dat"
    info = make_info(3, 3, spectra=1)
    run_scan(SpecRecorder, path, info, make_points(info, 3, nonfinite=True))
    scan = SpecFile(str(path))[0]
    nan, inf, ninf = (float(NONFINITE_TEXT[k]) for k in ("nan", "inf", "-inf"))
    assert scan.data_column_by_name("ct01")[1] == nan
    assert scan.data_column_by_name("ct02")[1] == inf
    assert scan.data_column_by_name("timer")[1] == ninf
    np.testing.assert_array_equal(scan.mca[1][:3], [nan, inf, ninf])
    assert scan.data_column_by_name("ct01")[0] != nan
    assert "non-finite values written as" in scan.scan_header_dict["C"]
    assert "Error" not in capfd.readouterr().out
    data = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert not any(t.lower() in ("nan", "inf", "-inf") for line in data for t in line.split())


@pytest.mark.parametrize(
    "status, reason, text",
    [
        (EndStatus.STOPPED, "", "status: stopped"),
        (EndStatus.ABORTED, "", "status: aborted"),
        (EndStatus.FAILED, "motor mot01 is\nin FAULT", "status: failed: motor mot01 is in FAULT"),
    ],
)
def test_end_status_written(tmp_path, status, reason, text):
    path = tmp_path / "end.dat"
    info = make_info(4, 5)
    run_scan(SpecRecorder, path, info, make_points(info, 2), status=status, reason=reason)
    scan = SpecFile(str(path))[0]
    assert scan.scan_header_dict["C"].splitlines()[-1].endswith(f"({text})")
    assert scan.data.shape == (6, 2)


def test_point_that_cannot_be_written_leaves_no_partial_lines(tmp_path, capfd):
    path = tmp_path / "broken.dat"
    info = make_info(5, 4, spectra=1)
    good = make_points(info, 2)
    broken = Point(2, {k: v for k, v in good[1].values.items() if k != "mca00"}, 0.0)
    with pytest.raises(KeyError):
        run_scan(SpecRecorder, path, info, [*good, broken])
    with silx.io.open(str(path)) as h5:  # spech5 raises on an orphan @A line
        assert h5["5.1/measurement/mca_0/data"].shape == (2, 256)
    scan = SpecFile(str(path))[0]
    assert scan.data.shape == (6, 2)
    assert "status: failed: 'mca00'" in scan.scan_header_dict["C"]
    assert "Error" not in capfd.readouterr().out


def test_each_point_is_on_disk_before_the_next(tmp_path):
    path = tmp_path / "live.dat"
    info = make_info(6, 3)
    points = make_points(info, 3)
    recorder = SpecRecorder(RecorderContext(path=path))
    recorder.start(info)
    for n, point in enumerate(points, 1):
        recorder.record(point)
        data_lines = [line for line in path.read_text().splitlines()
                      if line and line[0].isdigit()]
        assert len(data_lines) == n
    recorder.end(ScanEnd(EndStatus.DONE, 0.0, 3))
    assert path.read_text().endswith("(status: done)\n")


def test_files_and_folders_get_the_policy_mode(tmp_path):
    path = tmp_path / "new" / "deep" / "img.dat"
    info = make_info(8, 2, images=1, image_shape=(4, 6))
    policy = FilePolicy(file_mode=0o640, dir_mode=0o750)
    run_scan(SpecRecorder, path, info, make_points(info, 2), policy=policy)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750
    folder = path.parent / "img_edf"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    files = list(folder.iterdir())
    assert len(files) == 2 and all(stat.S_IMODE(f.stat().st_mode) == 0o640 for f in files)
    assert not any(f.name.endswith(".part") for f in files)


def test_appends_after_a_file_without_final_newline(tmp_path, capfd):
    path = tmp_path / "old.dat"
    info = make_info(9, 2)
    run_scan(SpecRecorder, path, info, make_points(info, 2))
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    info2 = make_info(10, 2)
    run_scan(SpecRecorder, path, info2, make_points(info2, 2))
    sf = SpecFile(str(path))
    assert [s.number for s in sf] == [9, 10]
    assert [s.data.shape for s in sf] == [(6, 2), (6, 2)]
    assert path.read_text().count("#F ") == 1  # same motors: one file header
    assert "Error" not in capfd.readouterr().out
