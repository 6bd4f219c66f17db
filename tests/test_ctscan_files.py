"""Continuous scans' records at high rate: blocks of points into SPEC, NeXus, JSON and the
console table, read back by silx and h5py (never by our writers' code)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import silx.io
from collect import make_core, run
from limited import run_code
from silx.io.specfile import SpecFile

from macroserver.packets import per_point

CONFIG = {
    "motors": {
        "m1": {"position": 0.0, "limits": [-1000.0, 1000.0], "velocity": 100.0,
               "acceleration": 0.02},
        "m2": {"position": 0.0, "limits": [-1000.0, 1000.0], "velocity": 100.0},
    },
    "channels": {
        "t": {"kind": "timer"},
        "c1": {"kind": "counter", "motor": "m1", "noise": 0.0},
        "c2": {"kind": "counter", "motor": "m2", "noise": 0.0, "center": 1.0},
    },
    "measurement_groups": {"mg": {"timer": "t", "channels": ["t", "c1", "c2"]}},
}
POINTS = 5001


@pytest.fixture
def core(tmp_path):
    data = tmp_path / "data"
    core = make_core(tmp_path, CONFIG)
    core.env.update({"ScanDir": str(data), "ScanFile": ["ct.dat", "ct.h5"],
                     "JsonRecorder": True})
    return core


def packets(out) -> list[dict]:
    return [json.loads(payload) for _, payload in out.records]


def test_every_point_reaches_spec_nexus_and_json_in_blocks(core, tmp_path):
    outcome, out = run(core, f"ascanct m1 0 50 {POINTS - 1} 0.0001", timeout=60)
    assert outcome.state == "finish", out.errors
    data = tmp_path / "data"

    scan = SpecFile(str(data / "ct.dat"))[0]
    labels = scan.labels
    for name in ("m1", "m1_planned", "trigger_time", "c1", "dt"):
        assert name in labels
    assert scan.data.shape == (len(labels), POINTS)
    np.testing.assert_allclose(scan.data_column_by_name("m1_planned"), np.linspace(0, 50, POINTS))
    np.testing.assert_array_equal(scan.data[0], np.arange(POINTS))
    np.testing.assert_allclose(np.diff(scan.data_column_by_name("trigger_time")), 1e-4,
                               atol=1e-9)

    with h5py.File(data / "ct.h5", "r") as f:
        entry = f[f.attrs["default"]]
        measurement = entry["measurement"]
        assert measurement["m1"].shape == (POINTS,)
        np.testing.assert_allclose(measurement["m1_planned"][()],
                                   scan.data_column_by_name("m1_planned"))
        np.testing.assert_allclose(measurement["m1"][()], scan.data_column_by_name("m1"))
        np.testing.assert_allclose(measurement["c1"][()], scan.data_column_by_name("c1"))
        assert entry["notes/data"][()].decode() == "done"
        plot = entry["data"]
        assert plot.attrs["signal"] == "c1" and list(plot.attrs["axes"]) == ["m1"]

    sent = packets(out)
    kinds = [p["type"] for p in sent]
    assert kinds[0] == "data_desc" and kinds[-1] == "record_end"
    assert "record_block" in kinds and len(kinds) < POINTS / 10  # blocks, not per point
    points = [p["data"] for p in sent for p in per_point(p) if p["type"] == "record_data"]
    assert [p["point_nb"] for p in points] == list(range(POINTS))
    np.testing.assert_allclose([p["c1"] for p in points], scan.data_column_by_name("c1"))
    assert sent[-1]["data"]["points"] == POINTS


def test_console_table_is_thinned_with_a_note(core):
    outcome, out = run(core, f"ascanct m1 0 50 {POINTS - 1} 0.0001", timeout=60)
    assert outcome.state == "finish", out.errors
    rows = [line for line in out.output if line.split() and line.split()[0].isdigit()]
    assert 2 <= len(rows) < POINTS / 10
    assert rows[0].split()[0] == "0" and rows[-1].split()[0] == str(POINTS - 1)
    text = "\n".join(out.output)
    assert "thinned on screen" in text and "the files and RecordData get every point" in text
    assert f"({POINTS} points recorded, rows thinned on screen)" in text


def test_json_per_point_packets_for_sardana_clients(core):
    core.env.set("JsonRecordBlocks", False)
    outcome, out = run(core, "ascanct m1 0 1 200 0.0005", timeout=60)
    assert outcome.state == "finish", out.errors
    kinds = [p["type"] for p in packets(out)]
    assert kinds.count("record_data") == 201 and "record_block" not in kinds


def test_meshct_nexus_default_plot_is_slow_by_fast(core, tmp_path):
    outcome, out = run(core, "meshct m1 0 4 4 m2 10 12 2 0.002 True", timeout=60)
    assert outcome.state == "finish", out.errors
    path = tmp_path / "data" / "ct.h5"
    with h5py.File(path, "r") as f:
        entry = f[f.attrs["default"]]
        plot = entry[entry.attrs["default"]]
        assert plot.attrs["signal"] == "c1"
        assert list(plot.attrs["axes"]) == ["m2", "m1"]
        assert plot.attrs["m2_indices"] == 0 and plot.attrs["m1_indices"] == 1
        image = plot["c1"][()]
        assert image.shape == (3, 5)
        np.testing.assert_allclose(plot["m1"][()], [0, 1, 2, 3, 4])
        np.testing.assert_allclose(plot["m2"][()], [10, 11, 12])
        series = entry["measurement/c1"][()]
        assert series.shape == (15,)
        # snake: the middle row was scanned backwards; the image is in motor order
        np.testing.assert_allclose(image[0], series[0:5])
        np.testing.assert_allclose(image[1], series[5:10][::-1])
        np.testing.assert_allclose(image[2], series[10:15])
        fast = entry["measurement/m1_planned"][()]
        np.testing.assert_allclose(fast[5:10], [4, 3, 2, 1, 0])
    # silx reads the same default plot as an image against both motors
    with silx.io.open(str(path)) as h5:
        from silx.io.nxdata import get_default

        nxdata = get_default(h5)
        assert nxdata is not None and nxdata.signal.shape == (3, 5)
        assert [a.name.rsplit("/", 1)[-1] for a in nxdata.axes] == ["m2", "m1"]
    scan = SpecFile(str(tmp_path / "data" / "ct.dat"))[0]
    assert scan.data.shape[1] == 15


def test_sardana_codec_decodes_blocks_and_our_web_model_expands_them(core):
    """Sardana's JSON codec (taurus CodecFactory, as BaseDoor uses it) decodes every packet
    of a continuous scan; the web page's model gets one row per point from the blocks."""
    from taurus.core.util.codecs import CodecFactory

    from macroserver.web.door_model import DoorModel

    outcome, out = run(core, "ascanct m1 0 10 500 0.0005", timeout=60)
    assert outcome.state == "finish", out.errors
    codec = CodecFactory().getCodec("utf8_json")
    decoded = [codec.decode((codec_name, payload))[1] for codec_name, payload in out.records]
    assert [p["type"] for p in decoded][0] == "data_desc"
    blocks = [p for p in decoded if p["type"] == "record_block"]
    assert blocks and sum(len(b["data"]["point_nb"]) for b in blocks) == 501
    model = DoorModel("door/ct/1")
    for packet in decoded:
        model.apply_record(packet)
    assert model.scan is not None
    assert [row["point_nb"] for row in model.scan["rows"]] == list(range(501))
    assert model.scan["end"]["status"] == "done"


@pytest.fixture
def ct_files(core, tmp_path):
    """An ascanct and a snake meshct in one NeXus and one SPEC file."""
    for command in ("ascanct m1 0 5 50 0.001", "meshct m1 0 4 4 m2 10 12 2 0.002 True"):
        outcome, out = run(core, command, timeout=60)
        assert outcome.state == "finish", (command, out.errors)
    return tmp_path / "data" / "ct.h5", tmp_path / "data" / "ct.dat"


def test_validators_accept_the_continuous_scan_files(ct_files, caplog):
    import logging

    from test_file_validators import need, punx_validate, under_nxcollection

    h5, dat = ct_files
    counts, findings = punx_validate(h5)
    errors = [f for f in findings if f[1] == "ERROR"]
    assert counts["ERROR"] == 0 and not errors, errors
    with h5py.File(h5, "r") as f:
        stray = [w for w in findings if w[1] == "WARN" and not under_nxcollection(f, w[0])]
    assert not stray, stray
    validate = need("nexusformat.nexus.validate", "nexusformat validation")
    validate.logger.propagate = True
    with caplog.at_level(logging.WARNING, logger=validate.logger.name):
        _warnings, errors = validate.validate_file(str(h5))
    assert errors == 0, caplog.text
    spec = need("spec2nexus.spec", "spec2nexus SPEC reading")
    sd = spec.SpecDataFile(str(dat))
    scans = [sd.getScan(n) for n in sd.getScanNumbers()]
    for scan, points in zip(scans, (51, 15)):
        scan.interpret()
        assert len(scan.data["m1_planned"]) == points and len(scan.data["trigger_time"]) == points


def test_spectra_and_images_go_point_by_point_into_every_file(tmp_path):
    """Blocks with 1D/2D columns: SPEC MCA lines and EDF frames per point, NeXus arrays,
    JSON spectra inline and images described, every point in each."""
    config = {**CONFIG, "channels": {
        **CONFIG["channels"],
        "w": {"kind": "spectrum", "model": "wave", "motor": "m1", "shape": [16]},
        "img": {"kind": "image", "model": "spot", "motor": "m1", "shape": [8, 8]}}}
    config["measurement_groups"] = {"mg": {"timer": "t", "channels": ["t", "c1", "w", "img"]}}
    core = make_core(tmp_path, config)
    data = tmp_path / "data"
    core.env.update({"ScanDir": str(data), "ScanFile": ["a.h5", "a.dat"], "JsonRecorder": True})
    outcome, out = run(core, "ascanct m1 0 1 40 0.001", timeout=60)
    assert outcome.state == "finish", out.errors
    scan = SpecFile(str(data / "a.dat"))[0]
    assert scan.data.shape[1] == 41 and len(scan.mca) == 41
    with h5py.File(data / "a.h5", "r") as f:
        measurement = f[f.attrs["default"]]["measurement"]
        assert measurement["w"].shape == (41, 16) and measurement["img"].shape == (41, 8, 8)
        np.testing.assert_allclose(scan.mca[40], measurement["w"][40])
    points = [p["data"] for raw in packets(out) for p in per_point(raw)
              if p["type"] == "record_data"]
    assert [p["point_nb"] for p in points] == list(range(41))
    assert all(len(p["w"]["values"]) == 16 and p["img"]["shape"] == [8, 8] for p in points)
    assert len(list((data).glob("**/*.edf"))) == 41


IMAGE_SCAN = """
import resource, sys
from pathlib import Path
from collect import collector_class, make_core, run, write_collector

folder, points = Path(sys.argv[1]), int(sys.argv[2])
plugins = folder / "plugins"
write_collector(plugins, name="slow", sleep=0.0002)  # a recorder that cannot keep up
core = make_core(folder, config="demo", recorder_path=[plugins],
                 env={"ActiveMntGrp": "mg_demo", "JsonRecorder": True})
outcome, out = run(core, f"ascanct theta 0 1 {points} 0.00002", timeout=600)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10
print(outcome.state, len(collector_class(core, "slow").scans[-1]["points"]), rss, out.errors)
"""


def test_a_continuous_scan_of_images_stays_in_bounded_memory(tmp_path):
    """Issue 20 item 2: `ascanct theta 0 1 50000 0.00002` on the demo's 251x251 image
    channel grew to 24 GB (every frame acquired was read at once, and a queue held
    256 blocks of frames). 5,000 frames are 2.5 GB; the child's address space is
    limited to 3 GiB, so the old behaviour fails here instead of taking the machine."""
    points = 5000
    done = run_code(IMAGE_SCAN, str(tmp_path), str(points), memory=3 << 30, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    state, recorded, rss, errors = done.stdout.split(" ", 3)
    assert state == "finish" and int(recorded) == points + 1, done.stdout
    assert int(rss) < 768 << 20, f"peak RSS {int(rss) >> 20} MiB"
