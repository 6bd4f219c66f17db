"""The first continuous scan with the demo's detector (issue 22 item 4): on a fresh
server whose simulated Eiger (1024x1024, at most 100 frames/s, started over Tango from
the demo's `simulator` table as `macroserver up` does) has never been used, a latency too
short for it is refused before anything moves, naming the smallest latency that works,
and that latency then runs to its end."""

from __future__ import annotations

import re
import sys

import h5py
import pytest
from collect import make_core, run

from macroserver.tango.detectors import description, simulated_detectors

pytestmark = pytest.mark.timeout(300)


def test_first_ascanct_with_the_demo_eiger(tmp_path, device_server):
    (eiger,) = simulated_detectors("demo")
    ((server, instances),) = description("first", eiger)["servers"].items()
    ((instance, classes),) = instances.items()
    device_server([sys.executable, "-m", "macroserver.tango.simdetector"], server, instance,
                  classes)
    core = make_core(tmp_path, "demo", env={
        "ScanDir": str(tmp_path / "data"), "ScanFile": ["first.h5"],
        "ActiveMntGrp": "mg_eiger"})
    theta = core.pool.motors["theta"]
    before = theta.position()
    outcome, out = run(core, "ascanct theta 0 1 100 0.001 0.001", timeout=120)
    assert outcome.state == "exception", out.output
    assert "nothing was moved" in outcome.error and "eiger needs" in outcome.error
    assert theta.position() == before and not list((tmp_path / "data").iterdir())
    latency = float(re.search(r"give latency_time ([0-9.e-]+) or more", outcome.error)[1])
    # 1/rate and the Tango calls a point costs, timed on this machine: how long those take
    # is its load's (no upper bound but a sane one); the figure's worth is that it runs
    assert 0.01 < latency < 1.0, outcome.error
    outcome, out = run(core, f"ascanct theta 0 1 100 0.001 {latency}", timeout=120)
    assert outcome.state == "finish", (outcome.error, out.errors)
    with h5py.File(tmp_path / "data" / "first.h5", "r") as f:
        entry = f[f.attrs["default"]]
        assert entry["instrument/eiger/data"].shape == (101, 1024, 1024)
