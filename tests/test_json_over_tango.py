"""JSON packets and SPEC shared memory through the real Tango server.

A MacroServer device server (`macroserver serve`, packaged demo configuration) runs on the
session's embedded database. A plain `tango.DeviceProxy` subscribed to the Door's
`RecordData` receives the JsonRecorder packets as DevEncoded change events; they are
checked against the NeXus file the same scan wrote, for done, stopped and aborted scans.
The shared-memory test runs `senv SharedMemory sps` on its own server and reads `SCAN_D`
from a second process with PyMca's `SpsDataSource` while the scan runs.
"""

from __future__ import annotations

import json
import math
import select
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import h5py
import pytest
import tango

from macroserver.tango.client import DoorClient
from macroserver.tango.stack import doors_of, server_description

pytestmark = pytest.mark.timeout(120)

SERVE = [sys.executable, "-m", "macroserver.cli.admin", "serve"]
SCALARS = ("point_nb", "theta", "uxtimer", "value", "dt")


def _start_macroserver(servers: Any, instance: str, base: Path) -> tuple[str, Path]:
    """Register and start MacroServer/<instance>; returns its first door and data folder."""
    data = base / "data"
    data.mkdir(parents=True, exist_ok=True)
    description = server_description(instance, {
        "Config": ["demo"],
        "DataRoots": [str(data)],
        "EnvironmentDb": [str(base / "environment.json")],
    })
    servers(SERVE, "MacroServer", instance, description["servers"]["MacroServer"][instance],
            timeout=60)
    return doors_of(description)[0], data


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


class RawRecordData:
    """A plain Tango client of Door.RecordData: keeps every packet's codec and raw bytes."""

    def __init__(self, door: str) -> None:
        self.proxy = tango.DeviceProxy(door)
        self.raw: list[tuple[str, bytes]] = []
        self.errors: list[str] = []
        self._cond = threading.Condition()
        self._id = self.proxy.subscribe_event(
            "RecordData", tango.EventType.CHANGE_EVENT, self._on_event)

    def _on_event(self, event: tango.EventData) -> None:
        with self._cond:
            if event.err:
                self.errors.append(str(event.errors))
            else:
                codec, data = event.attr_value.value
                self.raw.append((codec, bytes(data)))
            self._cond.notify_all()

    def packets(self, macro_id: str) -> list[dict[str, Any]]:
        """The strictly parsed packets of one macro, in arrival order."""
        with self._cond:
            raw = list(self.raw)
        packets = []
        for codec, data in raw:
            if not data or codec == "bz2_pickle":  # the first event is a read: before any
                continue  # scan empty, after one the last scan's records (Sardana's codec)
            assert codec == "utf8_json"
            packet = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
            if packet["macro_id"] == macro_id:
                packets.append(packet)
        return packets

    def wait_for(self, macro_id: str, test: Any, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                packets = self.packets(macro_id)
                if test(packets):
                    return packets
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; got {[p['type'] for p in packets]}"
                self._cond.wait(left)

    def close(self) -> None:
        try:
            self.proxy.unsubscribe_event(self._id)
        except tango.DevFailed:
            pass


@pytest.fixture(scope="module")
def door(module_device_server: Any, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[DoorClient, RawRecordData, Path]]:
    name, data = _start_macroserver(module_device_server, "jsonpk",
                                    tmp_path_factory.mktemp("json-over-tango"))
    raw = RawRecordData(name)
    client = DoorClient(name).connect()  # its probe proves raw's subscription live too
    client.set_environment({"JsonRecorder": True, "ScanDir": str(data),
                            "ScanFile": ["scans.dat", "scans.h5"]})
    try:
        yield client, raw, data
    finally:
        client.close()
        raw.close()


def _ended(packets: list[dict[str, Any]]) -> bool:
    return bool(packets) and packets[-1]["type"] == "record_end"


def _points(packets: list[dict[str, Any]]) -> int:
    return sum(p["type"] == "record_data" for p in packets)


def _check_sequence(packets: list[dict[str, Any]], status: str) -> list[dict[str, Any]]:
    """data_desc, record_data 0..n-1 without gaps, record_end with `status`."""
    kinds = [p["type"] for p in packets]
    assert kinds[0] == "data_desc" and kinds[-1] == "record_end", kinds
    assert set(kinds[1:-1]) == {"record_data"}, kinds
    assert all(p["schema_version"] == 1 for p in packets)
    records = [p["data"] for p in packets[1:-1]]
    assert [r["point_nb"] for r in records] == list(range(len(records)))
    end = packets[-1]["data"]
    assert end["status"] == status
    assert end["points"] == len(records)
    assert {"endtime", "deadtime", "reason"} <= set(end)
    return records


def _check_against_nexus(desc: dict[str, Any], records: list[dict[str, Any]], data: Path
                         ) -> None:
    """Every packet value equals what the NeXus file holds for that point."""
    names = [c["name"] for c in desc["column_desc"]]
    assert {"theta", "value", "wave", "beam"} <= set(names)
    h5 = data / "scans.h5"
    with h5py.File(h5, "r", swmr=True) as f:
        measurement = f[f"entry{desc['serialno']}/measurement"]
        assert measurement["theta"].shape[0] >= len(records)
        for i, record in enumerate(records):
            assert set(record) == set(names)
            for name in SCALARS:
                stored = measurement[name][i].item()
                if record[name] is None:
                    assert math.isnan(stored)
                else:
                    assert record[name] == stored, (name, i)
            assert record["wave"] == {  # 256 values: inline
                "shape": [256], "ref": str(h5), "entry": f"entry{desc['serialno']}",
                "values": measurement["wave"][i].tolist()}
            assert record["beam"] == {"shape": [251, 251], "ref": str(h5),
                                      "entry": f"entry{desc['serialno']}"}


def test_done_scan_packets_match_the_nexus_file(door: Any) -> None:
    client, raw, data = door
    outcome = client.run("ascan theta 0 1 5 0.05", timeout=60)
    assert outcome.ok, outcome.error
    packets = raw.wait_for(outcome.macro_id, _ended, 10)
    records = _check_sequence(packets, "done")
    assert len(records) == 6
    desc = packets[0]["data"]
    assert desc["ref_moveables"][0] == "theta"
    assert desc["npoints"] == 6 and desc["title"] == "ascan theta 0 1 5 0.05"
    _check_against_nexus(desc, records, data)
    assert [r["theta"] for r in records] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    # the Output rows show the same points (rounded)
    rows = [line.split() for line in outcome.messages["Output"]]
    table = [r for r in rows if r and r[0].isdigit()]
    assert [int(r[0]) for r in table] == list(range(6))
    assert [float(r[2]) for r in table] == pytest.approx([r["uxtimer"] for r in records])


@pytest.mark.parametrize("how, status", [("stop", "stopped"), ("abort", "aborted")])
def test_interrupted_scan_ends_with_its_status(door: Any, how: str, status: str) -> None:
    client, raw, data = door
    outcome = client.start("ascan theta 0 10 100 0.05")
    raw.wait_for(outcome.macro_id, lambda p: _points(p) >= 3, 30)
    getattr(client, how)()
    client.wait(outcome, timeout=30)
    assert outcome.state == ("stop" if how == "stop" else "abort")
    packets = raw.wait_for(outcome.macro_id, _ended, 10)
    records = _check_sequence(packets, status)
    assert 3 <= len(records) < 101
    _check_against_nexus(packets[0]["data"], records, data)


def test_no_event_errors(door: Any) -> None:
    _, raw, _ = door
    assert raw.errors == []


# -- shared memory ------------------------------------------------------------------

try:
    from PyMca5.PyMcaIO import sps
except ImportError:  # the `sps` extra is not installed
    sps = None

READER = textwrap.dedent("""
    import json, sys
    from PyMca5.PyMcaCore.SpsDataSource import SpsDataSource
    print("ready", flush=True)  # imported: it answers at once from now on
    source = None
    for _ in sys.stdin:
        if source is None:  # the scan's SCAN_D exists by the first question
            source = SpsDataSource(sys.argv[1])
        labels = source.getKeyInfo("SCAN_D")["LabelNames"]
        obj = source.getDataObject("SCAN_D", {"cntlist": labels, "x": [0], "y": [3]})
        print(json.dumps({"labels": labels, "x": obj.x[0].tolist(), "y": obj.y[0].tolist()}),
              flush=True)
""")

SPEC_LIST = "from PyMca5.PyMcaIO import sps; print(sps.getspeclist())"


def _ask(reader: subprocess.Popen, timeout: float = 10) -> dict[str, Any]:
    assert reader.stdin and reader.stdout
    reader.stdin.write("read\n")
    reader.stdin.flush()
    ready, _, _ = select.select([reader.stdout], [], [], timeout)
    assert ready, "the SpsDataSource reader did not answer"
    line = reader.stdout.readline()
    assert line, f"reader exited with {reader.poll()}"
    return json.loads(line)


@pytest.mark.skipif(sps is None, reason="PyMca5 (extra 'sps') not installed")
def test_pymca_reads_scan_d_during_a_scan_and_nothing_is_left(
    device_server: Any, tmp_path: Path
) -> None:
    instance = f"sps{uuid.uuid4().hex[:6]}"
    door_name, data = _start_macroserver(device_server, instance, tmp_path)
    program = f"p{uuid.uuid4().hex[:10]}"
    (server,) = device_server.processes
    reader = None
    with DoorClient(door_name) as client:
        client.set_environment({"SharedMemory": "sps", "SharedMemoryProgram": program,
                                "ScanDir": str(data), "ScanFile": ["scans.h5"]})
        try:
            # the reader started (PyMca imported) before the scan: a slow start on a
            # loaded machine would otherwise miss the 3 s scan
            reader = subprocess.Popen([sys.executable, "-c", READER, program],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert reader.stdout is not None
            ready, _, _ = select.select([reader.stdout], [], [], 60)
            assert ready and reader.stdout.readline() == "ready\n", "the reader did not start"
            outcome = client.start("ascan theta 0 10 60 0.05")
            deadline = time.monotonic() + 30
            while program not in sps.getspeclist():
                assert time.monotonic() < deadline, f"SCAN_D never appeared: {outcome}"
                time.sleep(0.05)
            snapshots = []
            while outcome.state == "" and time.monotonic() < deadline:
                snapshots.append(_ask(reader))
                time.sleep(0.3)
            client.wait(outcome, timeout=30)
            final = _ask(reader)
        finally:
            if reader is not None:
                reader.stdin.close()  # type: ignore[union-attr]
                reader.wait(10)
    assert outcome.ok, outcome.error
    assert final["labels"][:4] == ["theta", "#Pt No", "uxtimer", "value"]
    counts = [len(s["x"]) for s in snapshots]
    assert len(set(counts)) >= 3 and counts == sorted(counts), counts  # grew while running
    assert counts[0] < 61
    assert final["x"] == pytest.approx([i * 10 / 60 for i in range(61)])
    with h5py.File(data / "scans.h5", "r") as f:
        (entry,) = f
        assert final["y"] == f[entry]["measurement/value"][()].tolist()
    device_server.stop_all()
    assert server.poll() is not None
    left = subprocess.run([sys.executable, "-c", SPEC_LIST], capture_output=True, text=True,
                          timeout=30)
    assert program not in left.stdout
