"""A Lima-like Tango detector (the shipped SimLimaDetector, in its own process) as a
self-saving channel: configured from TOML, armed and triggered over Tango, its files
linked into NeXus; and what happens when the device dies in the middle of a scan."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from collect import Collect, make_core, wait_until
from test_selfsaving import detector_frames

from macroserver.engine.runner import MacroRunner
from macroserver.streams import Level

pytestmark = pytest.mark.timeout(120)

SIM_SERVER = [sys.executable, "-m", "macroserver.tango.simdetector"]
SHAPE = (16, 32)


def start_detector(servers, instance: str, **properties) -> tuple[str, object]:
    device = f"test/lima{instance}/1"
    props = {"Width": [str(SHAPE[1])], "Height": [str(SHAPE[0])], "DType": ["uint16"],
             **{k: [str(v)] for k, v in properties.items()}}
    process = servers(SIM_SERVER, "SimLimaDetector", instance,
                      {"SimLimaDetector": {device: {"properties": props}}})
    return device, process


def core_with(tmp_path: Path, device: str):
    config = {
        "motors": {"m1": {"limits": [-100.0, 100.0]}},
        "channels": {"t": {"kind": "timer"},
                     "det": {"type": "tango", "kind": "selfsaving", "device": device,
                             "frames_per_file": 5}},
        "measurement_groups": {"mg": {"timer": "t", "channels": ["t", "det"]}},
    }
    data = tmp_path / "data"
    return make_core(tmp_path, config=config, env={
        "ScanDir": str(data), "ScanFile": ["scan.h5", "scan.dat"]}), data


def run_to_end(core, command: str, timeout: float = 60.0):
    listener = Collect()
    runner = MacroRunner(core, listener)
    runner.start(command)
    outcome = runner.wait(timeout)
    assert outcome is not None
    return outcome, listener


def test_scan_drives_the_tango_detector_and_links_its_files(tmp_path, device_server):
    device, _ = start_detector(device_server, "ok")
    core, data = core_with(tmp_path, device)
    outcome, listener = run_to_end(core, "ascan m1 0 1 11 0")
    assert outcome.state == "finish", (outcome.error, listener.errors)
    folder = data / "scan_scan1"
    assert sorted(p.name for p in folder.iterdir()) == [f"det_{k:04d}.h5" for k in range(3)]
    expected = detector_frames(folder, 12, per_file=5)
    with h5py.File(data / "scan.h5", "r") as f:
        detector = f["entry1/instrument/det"]
        np.testing.assert_array_equal(detector["data"][()], expected)
        assert detector["frames_acquired"][()] == 12 and detector["frames_saved"][()] == 12
        assert detector["frame_saved"][()].all()


def test_detector_dying_mid_scan_fails_the_scan_clearly_and_keeps_its_frames(
        tmp_path, device_server):
    device, process = start_detector(device_server, "dies", Rate=50)  # 20 ms a frame
    core, data = core_with(tmp_path, device)
    listener = Collect()
    runner = MacroRunner(core, listener)
    runner.start("ascan m1 0 1 199 0")
    wait_until(lambda: (data / "scan_scan1" / "det_0002.h5").exists(), timeout=30)
    process.kill()
    process.wait(10)
    outcome = runner.wait(60)
    assert outcome is not None and outcome.state == "exception"
    assert "detector det" in outcome.error and device in outcome.error, outcome.error
    assert "frame counts are unknown" in listener.text(Level.WARNING)
    with h5py.File(data / "scan.h5", "r") as f:
        entry = f["entry1"]
        points = entry["measurement/det"].shape[0]
        assert 10 <= points < 200
        detector = entry["instrument/det"]
        assert detector["data"].shape == (points, *SHAPE)
        assert detector["frames_acquired"][()] == -1  # the device could not say
        flags = detector["frame_saved"][()]
        assert len(flags) == points and flags[:10].all()
        assert entry["notes/data"][()].decode().startswith("failed: ")
        saved = int(flags.sum())
        np.testing.assert_array_equal(detector["data"][:10],
                                      detector_frames(data / "scan_scan1", 10, per_file=5))
        assert saved >= 10
