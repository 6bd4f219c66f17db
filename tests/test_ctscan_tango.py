"""Continuous scans through the real Tango server: a subscribed client gets every point
(record_block events, expanded by DoorClient), and StopMacro mid-motion leaves files that
hold every point acquired, ending 'stopped' (SPEC read by silx, NeXus by h5py)."""

from __future__ import annotations

import threading
import time

import pytest
from fault_helpers import nexus_points, spec_scans, spec_text_is_clean
from tango_helpers import start_macroserver, write_config

from macroserver.records import EndStatus
from macroserver.tango.client import DoorClient

pytestmark = pytest.mark.timeout(180)

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
    return srv


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
        running = client.start("ascanct m1 0 100 5000 0.001")  # about 5 s of motion
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
