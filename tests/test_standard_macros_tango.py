"""Statistics, alignment and the rest of the standard set through a real Door: one
`macroserver serve` of the demo beamline for the whole batch, driven by our DoorClient,
and the RecordData read decoded by Sardana's own codec (what spock's %macrodata does)."""

from __future__ import annotations

import pytest
from tango_helpers import start_macroserver

from macroserver.tango.client import DoorClient

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def server(tango_db, module_device_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ms-std")
    instance = start_macroserver(module_device_server, tango_db.tango_host, "stdmac", folder)
    instance.set_env({"ScanDir": str(instance.data_dir), "ActiveMntGrp": "mg_demo",
                      "JsonRecorder": True})
    return instance


@pytest.fixture(scope="module")
def door(server):
    with DoorClient(server.door, timeout_ms=30000) as client:
        yield client


def ok(door, command):
    outcome = door.run(command, timeout=120)
    assert outcome.state == "finish", (command, outcome.error, outcome.messages)
    return outcome


def lines(outcome, stream="Output"):
    return [line for text in outcome.messages[stream] for line in text.split("\n")]


def test_scan_statistics_pic_and_macrodata(server, door):
    packets = []
    door.on_record(packets.append)
    ok(door, "ascan theta -4 6 20 0")  # step 0.5; the demo's peak is at 0
    stats = server.environment()[f"{server.doors[0]}.ScanStats"]  # this door's
    value = stats["Stats"]["theta"]["value"]
    assert abs(value["maxpos"]) <= 0.5
    assert [p for p in packets if p["type"] == "record_end"][-1]["data"]["stats"] == stats
    outcome = ok(door, "pic value")
    assert lines(outcome, "Info")[-1] == f"at {value['maxpos']:.4f}"
    position = float(lines(ok(door, "where"), "Info")[-1].split()[-1])
    assert abs(position) <= 0.5 and position == pytest.approx(value["maxpos"], abs=1e-4)
    table = lines(ok(door, "scanstats"), "Info")
    assert table[0] == "Statistics for movable: theta" and table[3].split()[0] == "MIN"
    ok(door, "cen value")
    ok(door, "com")
    assert "ascan theta -4 6 20 0" in "\n".join(lines(ok(door, "scanhist")))
    # RecordData read: the last scan's records in Sardana's bz2_pickle (spock's %macrodata)
    from taurus.core.util.codecs import CodecFactory

    raw = server.proxy().read_attribute("RecordData").value
    assert raw[0] == "bz2_pickle"
    records = CodecFactory().decode(raw)  # as spock's %macrodata
    assert [r["point_nb"] for r in records] == list(range(21))
    assert records[10]["theta"] == pytest.approx(1.0)
    assert max(records, key=lambda r: r["value"])["theta"] == value["maxpos"]


def test_more_of_the_standard_set(server, door):
    data = server.data_dir
    outcome = ok(door, "newfile scans.dat 7")
    assert lines(outcome)[-1] == "Next scan is\t: #8"
    assert server.environment()["ScanFile"] == ["scans.dat"]
    ok(door, "dmesh theta -1 1 2 chi 0 1 1 0")
    ok(door, "rscan theta 0 [[1 2] [3 1]] 0")
    ok(door, "amultiscan [[theta 0 1] [chi 0 2]] 2 0")
    ok(door, "d3scan theta 0 1 chi 0 1 phi 0 1 1 0")
    ok(door, "ascanc theta 0 1 0.002 0.1")
    assert server.environment()["ScanID"] == 12
    text = (data / "scans.dat").read_text()
    assert [line.split()[1] for line in text.splitlines() if line.startswith("#S ")] == \
        ["8", "9", "10", "11", "12"]
    assert sum(line.startswith("uxtimer") for line in lines(ok(door, "repeat 2 ct 0.01"))) \
        == 2
    ok(door, "sleep 0.1")
    ok(door, "setvo PosFormat 2")
    assert any(line.split() == ["PosFormat", "2"] for line in lines(ok(door, "lsvo")))
    ok(door, "usetvo PosFormat")
    assert any(line.split()[:1] == ["ScanID"] for line in lines(ok(door, "dumpenv")))
    ok(door, "report all fine")
    ok(door, "logmacro True 0")
    ok(door, "ct 0.01")
    log = data / ("session_" + server.doors[0].replace("/", "_") + ".log")
    assert "uxtimer" in log.read_text()
    ok(door, "logmacro False")
    assert server.environment()["LogMacro"] is False
