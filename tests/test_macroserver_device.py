"""The MacroServer device server with Tango-backed elements, and after a SIGKILL.

One server (instance "t2") per module; its configuration mixes simulated elements with
a Tango motor and detector channels served by the test devices (tests/devices/).
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import tango
from tango import DevState
from tango_helpers import MacroServerInstance, start_macroserver, wait_state, write_config

from macroserver.tango.client import DoorClient

pytestmark = pytest.mark.timeout(120)

RATE = 1000.0  # SimDetector's default counts per second


def tango_tables(motor: str, detector: str) -> str:
    return f"""
[motors.tm]
type = "tango"
device = "{motor}"

[channels.tdet]
type = "tango"
kind = "timer"
attribute = "{detector}/Elapsed"
start_command = "Start"
stop_command = "Stop"

[channels.tcounts]
type = "tango"
attribute = "{detector}/Counts"

[measurement_groups.mgt]
timer = "tdet"
channels = ["tdet", "tcounts"]
"""


@pytest.fixture(scope="module")
def ms(tango_db, module_device_server, sim_motor, sim_detector,
       tmp_path_factory) -> MacroServerInstance:
    folder = tmp_path_factory.mktemp("ms-t2")
    config = write_config(folder, tango_tables(sim_motor, sim_detector))
    instance = start_macroserver(module_device_server, tango_db.tango_host, "t2", folder, config)
    DoorClient(instance.door_name(0)).set_environment(
        {"ScanDir": str(instance.data_dir), "ScanFile": "t2.dat", "ActiveMntGrp": "mg1"})
    return instance


def rows(lines: list[str]) -> list[list[str]]:
    return [line.split() for line in lines if line.split() and line.split()[0].isdigit()]


def test_ascan_of_a_tango_motor_with_tango_channels(ms, sim_motor, sim_detector) -> None:
    motor = tango.DeviceProxy(sim_motor)
    with DoorClient(ms.door_name(0)) as client:
        client.set_environment({"ActiveMntGrp": "mgt"})
        try:
            outcome = client.run("ascan tm 1 2 4 0.05", timeout=60)
        finally:
            client.set_environment({"ActiveMntGrp": "mg1"})
    assert outcome.ok, outcome
    lines = outcome.messages["Output"]
    header = next(line.split() for line in lines if "#Pt" in line)
    assert header[2:] == ["tm", "tdet", "tcounts", "dt"] or header[2:5] == ["tm", "tdet", "tcounts"]
    table = rows(lines)
    assert [int(r[0]) for r in table] == list(range(5))
    positions = [float(r[1]) for r in table]
    assert positions == pytest.approx([1.0, 1.25, 1.5, 1.75, 2.0], abs=1e-3)
    assert motor.Position == pytest.approx(2.0)
    assert motor.state() == DevState.ON
    for r in table:
        elapsed, counts = float(r[2]), float(r[3])
        assert elapsed == pytest.approx(0.05, abs=1e-3)
        assert counts == pytest.approx(RATE * elapsed, rel=1e-3)
    detector = tango.DeviceProxy(sim_detector)
    assert float(table[-1][3]) == pytest.approx(detector.Counts, rel=1e-3)
    # the SPEC file holds the values the devices reported
    spec = (ms.data_dir / "t2.dat").read_text().rsplit("\n#S", 1)[1].splitlines()
    data = [line.split() for line in spec[1:] if line and not line.startswith("#")]
    assert [float(d[1]) for d in data] == pytest.approx(positions, abs=1e-3)


def test_a_tango_motor_refusing_a_target_fails_the_macro_not_the_server(ms) -> None:
    with DoorClient(ms.door_name(1)) as client:
        outcome = client.run("mv tm 1000000", timeout=30)
        assert outcome.state == "exception" and "tm" in outcome.error
        assert client.state() == DevState.ALARM
        assert client.run("wa", timeout=30).ok
        assert client.state() == DevState.ON


def test_environment_events_carry_each_change_in_order(ms) -> None:
    """Every change sends the whole environment as it was right after that change (they
    are encoded in the event pump's thread, off a scan's start), in the order made; a
    scan's new ScanID is in one of them."""
    server = tango.DeviceProxy(ms.ms_name())
    seen: list[dict] = []
    lock = threading.Lock()

    def on_event(event: tango.EventData) -> None:
        if not event.err and event.attr_value is not None:
            with lock:
                seen.append(json.loads(event.attr_value.value[1])["new"])

    event_id = server.subscribe_event("Environment", tango.EventType.CHANGE_EVENT, on_event)
    try:
        deadline = time.monotonic() + 30
        while not any(new.get("Probe") == 0 for new in list(seen)):  # late joiner
            server.SetEnvironment(json.dumps({"change": {"Probe": 0}}))
            time.sleep(0.2)
            assert time.monotonic() < deadline, "no Environment event"
        for value in range(1, 6):
            server.SetEnvironment(json.dumps({"change": {"Probe": value}}))
        with DoorClient(ms.door_name(0)) as client:
            assert client.run("ascan m1 0 1 2 0", timeout=30).ok
            scan_id = client.environment()["ScanID"]
        while not any(new.get("ScanID") == scan_id for new in list(seen)):
            time.sleep(0.05)
            assert time.monotonic() < deadline + 30, "no event with the scan's ScanID"
    finally:
        server.unsubscribe_event(event_id)
    probes = [new["Probe"] for new in seen if "Probe" in new]
    after = probes[probes.index(1):]
    assert after[:5] == [1, 2, 3, 4, 5] and set(after[5:]) <= {5}
    ids = [new["ScanID"] for new in seen if "ScanID" in new]
    assert ids == sorted(ids) and scan_id in ids


def test_sigkill_and_restart_keep_the_environment_and_scan_ids(
        ms) -> None:
    with DoorClient(ms.door_name(0)) as client:
        client.set_environment({"KeepMe": {"a": [1, 2]}})
        assert client.run("ascan m1 0 1 2 0", timeout=30).ok
        assert client.run("ascan m1 0 1 2 0", timeout=30).ok
        last_id = client.environment()["ScanID"]
    ms.kill()
    ms.start()
    with DoorClient(ms.door_name(0)) as client:
        env = client.environment()
        assert env["KeepMe"] == {"a": [1, 2]}
        assert env["ScanID"] == last_id
        outcome = client.run("ascan m1 0 1 2 0", timeout=30)
        assert outcome.ok
        started = next(line for line in outcome.messages["Output"] if "started at" in line)
        assert started.startswith(f"Scan #{last_id + 1} ")
        assert client.environment()["ScanID"] == last_id + 1
    spec = (ms.data_dir / "t2.dat").read_text()
    ids = [int(line.split()[1]) for line in spec.splitlines() if line.startswith("#S ")]
    assert len(ids) == len(set(ids)), ids
    server = tango.DeviceProxy(ms.ms_name())
    wait_state(server, DevState.ON, 10)
    assert json.loads(server.Environment[1])["new"]["KeepMe"] == {"a": [1, 2]}
