"""The Door device through a real database and a real `macroserver serve` process.

One MacroServer device server (instance "t1", two doors) is shared by the module; tests
talk to it through plain DeviceProxy calls, change-event subscriptions and DoorClient.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator

import h5py
import pytest
import tango
from collect import wait_until
from fault_helpers import table_rows
from tango import DevState
from tango_helpers import (
    Events,
    LiveDoorEvents,
    MacroServerInstance,
    start_macroserver,
    wait_state,
    write_config,
)

from macroserver.tango.client import DoorClient

pytestmark = pytest.mark.timeout(90)

DATA_ROW = "data row"


@pytest.fixture(scope="module")
def ms(tango_db, module_device_server, tmp_path_factory) -> Iterator[MacroServerInstance]:
    folder = tmp_path_factory.mktemp("ms-t1")
    config = write_config(folder)
    instance = start_macroserver(module_device_server, tango_db.tango_host, "t1", folder, config)
    client = DoorClient(instance.door_name(0))
    client.set_environment({"ScanDir": str(instance.data_dir),
                            "ScanFile": ["scans.dat", "scans.h5"],
                            "ActiveMntGrp": "mg1"})
    # the tests subscribe and at once run: the doors' events are live from here
    live = LiveDoorEvents([instance.door_name(i) for i in range(len(instance.doors))])
    yield instance
    live.close()


@pytest.fixture
def door(ms) -> tango.DeviceProxy:
    proxy = tango.DeviceProxy(ms.door_name(0))
    proxy.set_timeout_millis(10000)
    wait_state(proxy, DevState.ON, 10) if proxy.state() == DevState.RUNNING else None
    return proxy


def run_and_wait(proxy: tango.DeviceProxy, events: Events, args: list[str],
                 timeout: float = 30.0) -> dict:
    macro_id = proxy.RunMacro(args)[0]
    events.wait_for(lambda ev: any(s["id"] == macro_id and s["state"] in (
        "finish", "stop", "abort", "exception") for s in ev.statuses()), timeout)
    return next(s for s in events.statuses() if s["id"] == macro_id and s["state"] in (
        "finish", "stop", "abort", "exception"))


# -- the nominal scan ------------------------------------------------------------------


def test_ascan_output_events_in_order_state_and_progress(ms, door) -> None:
    events = Events(ms.door_name(0), ["Output", "State", "MacroStatus"])
    try:
        final = run_and_wait(door, events, ["ascan", "m1", "0", "10", "20", "0"])
        assert final["state"] == "finish"
        # State: ON -> RUNNING -> ON
        events.wait_for(lambda ev: ev.of("State")[-1:] == [DevState.ON], 10)
        assert events.of("State") == [DevState.RUNNING, DevState.ON]
        # every table line, in order; a message is one event, table rows that came
        # within the coalescing gap share one (recorders/coalesce.py)
        lines = events.lines("Output")
        assert all(len(v) == 1 for v in events.of("Output") if not table_rows(v))
        header = next(i for i, line in enumerate(lines) if "#Pt No" in line)
        rows = table_rows(lines[header + 1:])
        assert [int(r[0]) for r in rows] == list(range(21))
        assert [float(r[1]) for r in rows] == pytest.approx([0.5 * i for i in range(21)])
        assert lines[0].startswith("Scan #") and "started" in lines[0] or any(
            line.startswith("Scan #") and "started" in line for line in lines[:header])
        assert "ended at" in lines[-1]
        # MacroStatus: start, steps up to 100, finish
        statuses = [s for s in events.statuses() if s["id"] == final["id"]]
        assert statuses[0]["state"] == "start"
        steps = [s["step"] for s in statuses if s["state"] == "step"]
        assert steps and steps == sorted(steps) and steps[-1] == 100
        # each step carries the scan's forecast duration and the time left
        lefts = [s["remaining_time"] for s in statuses if s["state"] == "step"]
        assert lefts == sorted(lefts, reverse=True) and lefts[-1] == 0
        assert all(s["estimated_time"] > 0 for s in statuses if s["state"] == "step")
        assert statuses[-1]["state"] == "finish"
        assert door.state() == DevState.ON
        # the Output attribute read after the run holds the last message
        assert door.read_attribute("Output").value[-1] == lines[-1]
    finally:
        events.close()


def test_simulatemacro_replies_with_the_forecast_and_runs_nothing(ms, door) -> None:
    def files() -> list[tuple[str, int]]:
        return sorted((p.name, p.stat().st_size) for p in ms.data_dir.rglob("*"))

    scan_id = ms.environment().get("ScanID")
    if scan_id is not None:  # the last scan's catalogue sidecar is written behind its end
        wait_until(lambda: (ms.data_dir / "catalogue-outbox" / f"scans_{scan_id}.scan.json"
                            ).exists(), "the last scan's sidecar in the outbox")
    before = files()
    reply = door.SimulateMacro(["ascan", "m1", "0", "10", "20", "0.01"])
    forecast = json.loads(reply[0])
    assert forecast["points"] == 21 and forecast["duration_s"] >= 0.21
    assert forecast["paths"][0]["motor"] == "m1" and forecast["paths"][0]["last"] == 10
    assert {Path(f["path"]).name for f in forecast["files"]} == {"scans.dat", "scans.h5"}
    assert all(f["bytes"] > 0 and f["free_bytes"] > 0 for f in forecast["files"])
    assert reply[1].startswith("ascan m1 0 10 20 0.01: 21 point(s), step scan")
    refused = json.loads(door.SimulateMacro(["ascan m1 0 5000 2 0"])[0])
    assert "position 5000 is outside its limits" in refused["refused"]
    with pytest.raises(tango.DevFailed, match="mv is not a scan macro"):
        door.SimulateMacro(["mv", "m1", "1"])
    # the `simulate` macro, which Sardana's spock sends for `simulate ascan ...`
    with DoorClient(ms.door_name(0)) as client:
        outcome = client.run("simulate ascan m1 0 10 20 0.01", timeout=30)
    assert outcome.ok and any("21 point(s)" in line for line in outcome.messages["Output"])
    assert door.state() == DevState.ON
    assert ms.environment().get("ScanID") == scan_id and files() == before


def test_door_client_run_collects_the_table(ms) -> None:
    seen: list[tuple[str, list[str]]] = []
    statuses: list[dict] = []
    with DoorClient(ms.door_name(0)) as client:
        client.on_stream(lambda stream, lines: seen.append((stream, lines)))
        client.on_status(statuses.append)
        outcome = client.run("ascan m1 0 1 5 0", timeout=30)
        assert outcome.ok, outcome
        rows = table_rows(outcome.messages["Output"])
        assert [int(r[0]) for r in rows] == list(range(6))
        assert [line for s, ls in seen if s == "Output" for line in ls] == \
            outcome.messages["Output"]
        assert statuses[-1]["state"] == "finish" and statuses[-1]["id"] == outcome.macro_id
        assert client.state() == DevState.ON
        assert "ascan" in client.macros()
        assert client.macro_info("ascan")["name"] == "ascan"
        assert "m1" in [e["name"] for e in client.elements() if e["type"] == "Motor"]


# -- stop, abort, pause ----------------------------------------------------------------


def _last_spec_scan(path: Path) -> list[str]:
    text = path.read_text()
    return ("#S" + text.rsplit("\n#S", 1)[1]).splitlines()


@pytest.mark.parametrize("how, status, final", [("StopMacro", "stopped", "stop"),
                                                 ("AbortMacro", "aborted", "abort")])
def test_stop_and_abort_mid_scan_end_every_recorder(ms, door, how, status, final) -> None:
    events = Events(ms.door_name(0), ["Output", "MacroStatus"])
    try:
        macro_id = door.RunMacro(["ascan", "m1", "0", "100", "400", "0.01"])[0]
        events.wait_for(lambda ev: len(table_rows(ev.lines())) >= 5, 20)
        door.command_inout(how)
        end = events.wait_status(final, 20)
        assert end["id"] == macro_id
        wait_state(door, DevState.ON, 10)
        lines = events.lines()
        scan_line = next(line for line in lines if "started at" in line)
        scan_id = int(scan_line.split("#")[1].split()[0])
        assert any(line.startswith(f"Scan #{scan_id} {status} after") for line in lines), lines
        npoints = len(table_rows(lines))
        assert 5 <= npoints < 401
        spec = _last_spec_scan(ms.data_dir / "scans.dat")
        assert spec[0].startswith(f"#S {scan_id} ")
        assert spec[-1].startswith("#C ") and spec[-1].endswith(f"(status: {status})")
        spec_rows = [line for line in spec if line and not line.startswith("#")]
        assert len(spec_rows) == npoints
        with h5py.File(ms.data_dir / "scans.h5", "r") as f:
            entry = f[f"entry{scan_id}"]
            note = entry["notes/data"][()]
            note = note.decode() if isinstance(note, bytes) else str(note)
            assert note.strip("\x00 ") == status
            assert len(entry["measurement/m1"]) == npoints
    finally:
        events.close()


def test_pause_holds_between_points_and_resume_continues(ms, door) -> None:
    events = Events(ms.door_name(0), ["Output", "State", "MacroStatus"])
    try:
        macro_id = door.RunMacro(["ascan", "m1", "0", "10", "40", "0.02"])[0]
        events.wait_for(lambda ev: len(table_rows(ev.lines())) >= 3, 20)
        door.PauseMacro()
        wait_state(door, DevState.STANDBY, 5)
        events.wait_for(lambda ev: DevState.STANDBY in ev.of("State"), 5)
        assert "paused" in door.status()
        time.sleep(0.1)  # a point being acquired when pausing may still arrive
        held = len(table_rows(events.lines()))
        time.sleep(0.6)
        assert len(table_rows(events.lines())) == held, "no new points while paused"
        assert door.state() == DevState.STANDBY
        door.ResumeMacro()
        end = events.wait_status("finish", 30)
        assert end["id"] == macro_id
        rows = table_rows(events.lines())
        assert [int(r[0]) for r in rows] == list(range(41))
        assert events.of("State")[:3] == [DevState.RUNNING, DevState.STANDBY, DevState.RUNNING]
        events.wait_for(lambda ev: ev.of("State")[-1:] == [DevState.ON], 10)
    finally:
        events.close()


# -- bad input -------------------------------------------------------------------------


def _refused(call, reason: str, *needles: str) -> tango.DevError:
    with pytest.raises(tango.DevFailed) as info:
        call()
    error = info.value.args[0]
    assert error.reason == reason, (error.reason, error.desc)
    for needle in needles:
        assert needle in error.desc, error.desc
    return error


@pytest.mark.parametrize("args, reason, needles", [
    ([], "WrongParam", ["empty command"]),
    ([""], "WrongParam", ["empty command"]),
    (["ascna", "m1", "0", "1", "2", "0"], "UnknownMacro", ["ascna", "did you mean ascan"]),
    (["ascan", "m1", "zero", "1", "2", "0"], "WrongParam", ["zero"]),
    (["ascan", "m1", "0", "1", "2.5", "0"], "WrongParam", ["2.5"]),
    (["ascan", "nomotor", "0", "1", "2", "0"], "WrongParam", ["nomotor"]),
    (["ascan", "m1", "0", "1"], "MissingParam", []),
])
def test_bad_arguments_are_refused_and_the_door_stays_on(ms, door, args, reason,
                                                         needles) -> None:
    _refused(lambda: door.RunMacro(args), reason, *needles)
    assert door.state() == DevState.ON


def test_a_100_kB_argument_is_refused_with_a_short_description(ms, door) -> None:
    huge = "x" * 100_000
    error = _refused(lambda: door.RunMacro(["ascan", huge, "0", "1", "2", "0"]), "WrongParam")
    assert len(error.desc) < 2000, len(error.desc)
    error = _refused(lambda: door.RunMacro([huge]), "WrongParam")
    assert len(error.desc) < 2000, len(error.desc)
    assert door.state() == DevState.ON
    assert door.RunMacro(["wa"])  # still usable


@pytest.mark.parametrize("args", [
    ["ascan", "m1", "0", "1", "2", "0\u00e9"],  # latin-1 text (PyTango sends it as latin-1)
    ["ascan", b"m1\xff\xfe", "0", "1", "2", "0"],  # raw invalid UTF-8 bytes
    [b"asc\xe9an m1 0 1 2 0"],
])
def test_non_utf8_input_is_refused_cleanly(ms, door, args) -> None:
    with pytest.raises(tango.DevFailed) as info:
        door.command_inout("RunMacro", args)
    error = info.value.args[0]
    assert error.reason in ("WrongParam", "UnknownMacro", "WrongEncoding"), error
    assert door.state() == DevState.ON


def test_run_while_running_and_commands_in_the_wrong_state(ms, door) -> None:
    for command, action in [("StopMacro", "stop"), ("AbortMacro", "abort"),
                            ("PauseMacro", "pause"), ("ResumeMacro", "resume")]:
        _refused(lambda: door.command_inout(command), "WrongState", f"cannot {action}",
                 "no macro is running")
    assert door.state() == DevState.ON
    events = Events(ms.door_name(0), ["MacroStatus"])
    try:
        door.RunMacro(["ascan", "m1", "0", "1", "100", "0.01"])
        _refused(lambda: door.RunMacro(["wa"]), "MacroRunning", "already running")
        _refused(lambda: door.ResumeMacro(), "WrongState", "not paused")
        door.PauseMacro()
        _refused(lambda: door.PauseMacro(), "WrongState", "already paused")
        door.StopMacro()
        events.wait_status("stop", 20)
    finally:
        events.close()
    wait_state(door, DevState.ON, 10)


def test_malformed_environment_writes_are_refused(ms) -> None:
    server = tango.DeviceProxy(ms.ms_name())
    before = json.loads(server.read_attribute("Environment").value[1])
    cases = [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"change": {"bad name!": 1}}).encode(), "bad name!"),
        (json.dumps({"change": [1]}).encode(), "objects"),
    ]
    for payload, needle in cases:
        # the command keeps the reason and description ...
        _refused(lambda: server.SetEnvironment(payload.decode()), "EnvError", needle)
        # ... a write of the DevEncoded attribute is refused too, but cppTango (10.x)
        # replaces the reason by API_NotSupportedFeature (no rollback for DevEncoded)
        with pytest.raises(tango.DevFailed):
            server.write_attribute("Environment", ("utf8_json", payload))
    for value in [("utf8_json", b"\xff\xfe"), ("pickle", b"{}")]:
        with pytest.raises(tango.DevFailed):
            server.write_attribute("Environment", value)
    with pytest.raises(tango.DevFailed) as info:
        DoorClient(ms.door_name(0)).set_environment({"bad name!": 1})
    assert info.value.args[0].reason == "EnvError"
    assert json.loads(server.read_attribute("Environment").value[1]) == before
    assert server.state() == DevState.ON


def test_failing_macro_sets_alarm_and_the_next_run_is_allowed(ms, door) -> None:
    events = Events(ms.door_name(0), ["Error", "MacroStatus", "State"])
    try:
        final = run_and_wait(door, events, ["ascan", "theta", "0", "50", "5", "0"])
        assert final["state"] == "exception"
        assert "theta" in final["exc_value"]
        wait_state(door, DevState.ALARM, 5)
        assert "exception" in door.status()
        assert any("theta" in line for line in events.lines("Error"))
        final = run_and_wait(door, events, ["ascan", "theta", "0", "1", "2", "0"])
        assert final["state"] == "finish"
        wait_state(door, DevState.ON, 5)
    finally:
        events.close()


# -- clients ---------------------------------------------------------------------------

CLIENT = textwrap.dedent("""
    import sys, time
    from macroserver.tango.client import DoorClient
    client = DoorClient(sys.argv[1]).connect()
    client.on_stream(lambda s, lines: print(*lines, sep="\\n", flush=True))
    client.start(sys.argv[2])
    time.sleep(60)
""")


def test_a_client_killed_mid_scan_neither_stops_nor_slows_it(ms, door) -> None:
    command = "ascan m1 0 10 60 0.01"
    events = Events(ms.door_name(0), ["Output", "MacroStatus"])
    try:
        started = time.monotonic()
        run_and_wait(door, events, command.split())
        reference = time.monotonic() - started
    finally:
        events.close()
    events = Events(ms.door_name(0), ["Output", "MacroStatus"])
    client = subprocess.Popen([sys.executable, "-c", CLIENT, ms.door_name(0), command],
                              stdout=subprocess.PIPE, text=True)
    try:
        events.wait_for(lambda ev: len(table_rows(ev.lines())) >= 3, 30)
        started = time.monotonic()
        os.kill(client.pid, signal.SIGKILL)
        end = events.wait_status("finish", 30)
        elapsed = time.monotonic() - started
        assert end["state"] == "finish"
        assert len(table_rows(events.lines())) == 61
        assert elapsed < reference + 1.0, (elapsed, reference)
    finally:
        events.close()
        if client.poll() is None:
            client.kill()
        client.wait(5)
    wait_state(door, DevState.ON, 5)


def test_two_doors_at_once_each_client_gets_only_its_own_output(ms) -> None:
    # the scan holds m1 and the group's channels; the other door moves and shows m2
    clients = [DoorClient(ms.door_name(i)).connect() for i in (0, 1)]
    try:
        first = clients[0].start("ascan m1 0 1 30 0.01")
        moved = clients[1].run("mv m2 5", timeout=30)
        shown = clients[1].run("wm m2", timeout=30)
        outcome = clients[0].wait(first, 30)
        assert (outcome.state, moved.state, shown.state) == ("finish", "finish", "finish")
        rows0 = table_rows(outcome.messages["Output"])
        assert [int(r[0]) for r in rows0] == list(range(31))
        assert all(0.0 <= float(r[1]) <= 1.0 for r in rows0)
        header0 = next(line for line in outcome.messages["Output"] if "#Pt No" in line)
        assert "m1" in header0.split() and "m2" not in header0.split()
        assert not any("Current" in line for line in outcome.messages["Output"])
        # the other door's wm, in Sardana's layout: m2's column only, User's Current first
        shown_lines = shown.messages["Output"]
        assert not table_rows(shown_lines)
        assert [line.split() for line in shown_lines if "m2" in line.split()] == [["m2"]], (
            shown_lines)
        assert not any("m1" in line.split() for line in shown_lines), shown_lines
        current = [line.split() for line in shown_lines if line.split()[:1] == ["Current"]]
        assert current and current[0] == ["Current", "5.0"], shown_lines
    finally:
        for client in clients:
            client.close()


# -- environment -----------------------------------------------------------------------


def test_environment_round_trip_and_change_events(ms) -> None:
    client = DoorClient(ms.door_name(0))
    server = tango.DeviceProxy(ms.ms_name())
    events = Events(ms.ms_name(), ["Environment"], probe=ms.door_name(0))
    try:
        value = {"a": [1, 2.5, "x"], "b": {"c": None, "d": True}, "t": "é ü"}
        client.set_environment({"RoundTrip": value})
        assert client.environment()["RoundTrip"] == value
        events.wait_for(lambda ev: any(
            json.loads(v[1])["new"].get("RoundTrip") == value for v in ev.of("Environment")), 10)
        # a plain {name: value} write, then a removal
        server.write_attribute("Environment", ("utf8_json", json.dumps({"Other": 3}).encode()))
        assert json.loads(server.read_attribute("Environment").value[1])["new"]["Other"] == 3
        client.set_environment({}, remove=["RoundTrip", "Other"])
        env = client.environment()
        assert "RoundTrip" not in env and "Other" not in env
        events.wait_for(lambda ev: "RoundTrip" in json.loads(ev.of("Environment")[-1][1])["del"],
                        10)
        assert "RoundTrip" not in json.loads(events.of("Environment")[-1][1])["new"]
        # senv from a door changes the attribute and pushes an event too
        with DoorClient(ms.door_name(1)) as other:
            assert other.run("senv FromDoor 42", timeout=10).ok
        events.wait_for(
            lambda ev: json.loads(ev.of("Environment")[-1][1])["new"].get("FromDoor") == 42, 10)
        assert client.environment()["FromDoor"] == 42
    finally:
        events.close()


def test_macroserver_lists(ms) -> None:
    server = tango.DeviceProxy(ms.ms_name())
    assert server.state() == DevState.ON
    assert sorted(server.DoorList) == ms.doors
    assert {"ascan", "mv", "senv", "ct"} <= set(server.MacroList)
    elements = json.loads(server.Elements[1])["new"]
    assert {"ascan", "mv"} <= {e["name"] for e in elements if "MacroCode" in e["interfaces"]}
    info = json.loads(server.GetMacroInfo(["ascan"])[0])
    assert info["name"] == "ascan" and len(info["parameters"]) == 5
    _refused(lambda: server.GetMacroInfo(["nosuch"]), "UnknownMacro", "nosuch")


# -- Sardana clients -----------------------------------------------------------------


SARDANA_XML = (
    '<sequence><macro name="ascan">'
    '<param name="motor" value="m1"/><param name="start_pos" value="0"/>'
    '<param name="final_pos" value="2"/><param name="nr_interv" value="4"/>'
    '<param name="integ_time" value="0"/></macro></sequence>')


def test_runmacro_takes_sardana_xml_and_returns_it_with_the_id(ms, door) -> None:
    """Taurus/spock send the macro as XML and match MacroStatus ids to the XML returned."""
    events = Events(ms.door_name(0), ["Output", "MacroStatus"])
    try:
        returned = door.RunMacro([SARDANA_XML])
        assert len(returned) == 1 and returned[0].startswith("<sequence>")
        macro_id = returned[0].split('id="')[1].split('"')[0]
        events.wait_for(lambda ev: any(s["id"] == macro_id and s["state"] == "finish"
                                       for s in ev.statuses()), 30)
        start = next(s for s in events.statuses() if s["id"] == macro_id)
        assert start["macro_line"] == "ascan m1 0 2 4 0"
        rows = table_rows(events.lines("Output"))
        assert [float(r[1]) for r in rows] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])
    finally:
        events.close()
    with pytest.raises(tango.DevFailed) as failed:
        door.RunMacro(['<macro name="ascan"><param name="motor" value="m1"/>'])
    # (not WrongParam for Sardana's XML: spock answers that by printing the doc of the
    # macro it believes runs, and there is none)
    assert failed.value.args[0].reason == "ParameterError"
    assert "not well-formed" in failed.value.args[0].desc
    assert door.state() == DevState.ON
