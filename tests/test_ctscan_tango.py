"""Continuous scans through the real Tango server: a subscribed client gets every point
(record_block events, expanded by DoorClient), and StopMacro mid-motion leaves files that
hold every point acquired, ending 'stopped' (SPEC read by silx, NeXus by h5py)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
from fault_helpers import nexus_points, spec_scans, spec_text_is_clean
from tango_helpers import LiveDoorEvents, start_macroserver, write_config

from macroserver.records import EndStatus
from macroserver.tango.client import DoorClient

pytestmark = pytest.mark.timeout(180)

DEVICES = Path(__file__).resolve().parent / "devices"

CONFIG = """data_roots = []

[motors.m1]
limits = [-100000.0, 100000.0]
velocity = 1000.0
acceleration = 0.05

[channels.t]
kind = "timer"

[channels.c1]
kind = "counter"
motor = "m1"

[measurement_groups.mg]
timer = "t"
channels = ["t", "c1"]
"""


@pytest.fixture(scope="module")
def server(module_device_server, tango_db, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ctscan")
    srv = start_macroserver(module_device_server, tango_db.tango_host, "ctscan", folder,
                            write_config(folder, text=CONFIG))
    srv.set_env({"ActiveMntGrp": "mg", "JsonRecorder": True,
                 "ScanDir": str(srv.data_dir), "ScanFile": ["ct.h5", "ct.dat"]})
    live = LiveDoorEvents([srv.door])  # each test subscribes, then starts a scan
    yield srv
    live.close()


class Points:
    """Point numbers of the record_data packets a DoorClient hands out."""

    def __init__(self, client: DoorClient) -> None:
        self.lock = threading.Lock()
        self.numbers: list[int] = []
        self.ends: list[dict] = []
        client.on_record(self.packet)

    def packet(self, packet: dict) -> None:
        with self.lock:
            if packet["type"] == "record_data":
                self.numbers.append(packet["data"]["point_nb"])
            elif packet["type"] == "record_end":
                self.ends.append(packet["data"])

    def wait_end(self, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while not self.ends and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.ends, "no record_end packet"
        return self.ends[-1]


def scan_id(server) -> int:
    return server.environment()["ScanID"]


def test_subscribed_client_gets_every_point(server):
    points = 20_001
    with DoorClient(server.door, timeout_ms=30000) as client:
        received = Points(client)
        outcome = client.run(f"ascanct m1 0 {points - 1} {points - 1} 0.00002", timeout=120)
        assert outcome.ok, outcome.error
        end = received.wait_end()
    assert end["status"] == "done" and end["points"] == points
    assert received.numbers == list(range(points))
    sid = scan_id(server)
    assert nexus_points(server.data_dir / "ct.h5", f"entry{sid}") == (points, "done")
    rows, _, closing = spec_scans(server.data_dir / "ct.dat")[f"{sid}.1"]
    assert rows == points and "(status: done)" in closing
    # the table was thinned on screen, with the note; the files have every point
    table = [line for line in outcome.messages["Output"] if line.split()
             and line.split()[0].isdigit()]
    assert 2 <= len(table) < points
    assert any("thinned on screen" in line for line in outcome.messages["Output"])


def test_stop_mid_motion_keeps_every_point_acquired(server):
    with DoorClient(server.door, timeout_ms=30000) as client:
        received = Points(client)
        # about 5 s of motion; relative: m1 starts where the module's previous scan left
        # it (an absolute scan from 0 would first travel 20 s back from 20000)
        running = client.start("dscanct m1 0 100 5000 0.001")
        deadline = time.monotonic() + 30
        while len(received.numbers) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        client.stop()
        outcome = client.wait(running, 60)
        end = received.wait_end()
    assert outcome.status is EndStatus.STOPPED, outcome.error
    count = end["points"]
    assert end["status"] == "stopped" and 200 <= count < 5001
    assert received.numbers == list(range(count))
    sid = scan_id(server)
    assert nexus_points(server.data_dir / "ct.h5", f"entry{sid}") == (count, "stopped")
    spec_text_is_clean(server.data_dir / "ct.dat")
    rows, _, closing = spec_scans(server.data_dir / "ct.dat")[f"{sid}.1"]
    assert rows == count and "(status: stopped)" in closing
    history = server.environment()["ScanHistory"][-1]
    assert history["endstatus"] == "stopped" and history["points"] == count


# -- a Tango-backed motor: Velocity and Acceleration set for the scan, then restored -----

CT_MOTOR = "test/simctmotor/1"


@pytest.fixture(scope="module")
def ct_motor(module_device_server) -> str:
    module_device_server([sys.executable, str(DEVICES / "sim_ct_motor.py")], "SimCtMotor",
                         "test", {"SimCtMotor": {CT_MOTOR: {}}})
    return CT_MOTOR


def tango_motor_core(tmp_path, device: str):
    from collect import make_core

    return make_core(tmp_path, {
        "motors": {"tm": {"type": "tango", "device": device}},
        "channels": {"t": {"kind": "timer"}, "c1": {"kind": "counter", "noise": 0.0}},
        "measurement_groups": {"mg": {"timer": "t", "channels": ["t", "c1"]}},
    }, env={"ScanDir": str(tmp_path / "data"), "ScanFile": ["tm.h5"]})


def test_tango_motor_velocity_set_for_the_scan_and_restored(ct_motor, tmp_path):
    import h5py
    import numpy as np
    import tango
    from collect import run

    device = tango.DeviceProxy(ct_motor)
    device.write_attribute("Velocity", 40.0)
    device.write_attribute("Acceleration", 0.02)
    core = tango_motor_core(tmp_path, ct_motor)
    outcome, out = run(core, "ascanct tm 0 10 20 0.02", timeout=60)
    assert outcome.state == "finish", out.errors
    # software timing: each position was read from the device at its trigger, while the
    # motor moved at the scan's 25 mm/s (10 mm over 20 intervals of 0.02 s)
    with h5py.File(tmp_path / "data" / "tm.h5", "r") as f:
        measurement = f[f.attrs["default"]]["measurement"]
        measured, triggers = measurement["tm"][()], measurement["trigger_time"][()]
        planned = measurement["tm_planned"][()]
    assert len(measured) == 21
    np.testing.assert_allclose(planned, np.linspace(0, 10, 21))
    slope = np.polyfit(triggers, measured, 1)[0]
    assert slope == pytest.approx(25.0, rel=0.1)
    assert device.read_attribute("Velocity").value == 40.0
    assert device.read_attribute("Acceleration").value == 0.02
    assert device.read_attribute("Position").value == pytest.approx(10.0)  # overshoot back


def test_tango_motor_too_fast_is_refused_before_moving(ct_motor, tmp_path):
    import tango
    from collect import run

    device = tango.DeviceProxy(ct_motor)
    before = device.read_attribute("Position").value
    core = tango_motor_core(tmp_path, ct_motor)
    outcome, out = run(core, "ascanct tm 0 500 10 0.01", timeout=60)
    assert outcome.state == "exception"
    message = " ".join(out.errors)
    assert "tm would need 5000 mm/s" in message and "maximum velocity 200" in message
    assert device.read_attribute("Position").value == before


def test_tango_motor_without_velocity_attribute_is_refused(sim_motor, tmp_path):
    from collect import run

    core = tango_motor_core(tmp_path, sim_motor)
    outcome, out = run(core, "ascanct tm 0 1 10 0.01", timeout=60)
    assert outcome.state == "exception"
    assert "tm cannot scan continuously" in " ".join(out.errors)


# -- hardware timing: Tango counters gated by a trigger/gate device -----------------------

GATE, GATED = "test/simtriggergate/1", "test/simgatedcounter/1"


@pytest.fixture(scope="module")
def trigger_gate(module_device_server) -> tuple[str, str]:
    module_device_server([sys.executable, str(DEVICES / "sim_trigger_gate.py")],
                         "SimTriggerGate", "test", {
                             "SimTriggerGate": {GATE: {}},
                             "SimGatedCounter": {GATED: {"properties": {"Gate": [GATE]}}}})
    return GATE, GATED


def test_trigger_gate_device_times_the_points(ct_motor, trigger_gate, tmp_path):
    """Triggered timing with Tango elements: the gate device times every point; the
    Tango motor's positions are its readbacks interpolated at the trigger instants."""
    import h5py
    import numpy as np
    import tango
    from collect import make_core, run

    gate, counter = trigger_gate
    tango.DeviceProxy(ct_motor).write_attribute("Acceleration", 0.0)
    core = make_core(tmp_path, {
        "motors": {"tm": {"type": "tango", "device": ct_motor}},
        "channels": {"ct": {"type": "tango", "attribute": f"{counter}/Counts",
                            "start_command": "Start", "stop_command": "Stop",
                            "trigger": gate}},
        "measurement_groups": {"mg": {"timer": "ct", "channels": ["ct"]}},
    }, env={"ScanDir": str(tmp_path / "data"), "ScanFile": ["gate.h5"]})
    outcome, out = run(core, "ascanct tm 0 10 200 0.004 0.001", timeout=60)
    assert outcome.state == "finish", out.errors
    with h5py.File(tmp_path / "data" / "gate.h5", "r") as f:
        measurement = f[f.attrs["default"]]["measurement"]
        counts = measurement["ct"][()]
        triggers = measurement["trigger_time"][()]
        measured, planned = measurement["tm"][()], measurement["tm_planned"][()]
    assert len(counts) == 201
    np.testing.assert_allclose(counts, 1000.0 * 0.004)  # one value per gate of 4 ms
    np.testing.assert_allclose(np.diff(triggers), 0.005, atol=1e-9)  # the gate schedule
    assert np.all(np.diff(measured) > 0)
    # 40 mm/s: the readbacks interpolated at the gates sit near the plan
    np.testing.assert_allclose(measured, planned, atol=40.0 * 0.02)
    assert tango.DeviceProxy(gate).read_attribute("Repetitions").value == 201
