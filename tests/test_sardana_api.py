"""Sardana's own Python API (sardana 3.7.1 + taurus 5.4.1 from PyPI) against our server.

A real `macroserver serve` process; the client side runs in a child process
(tests/sardana_probe.py) that imports only sardana and taurus, with HOME in a temporary
folder (taurus and sardana keep settings there). The test judges what Sardana's client
objects report; none of our own client code is involved on the client side.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import tango
from tango_helpers import (
    Events,
    LiveDoorEvents,
    MacroServerInstance,
    start_macroserver,
    write_config,
)

pytest.importorskip("sardana", reason="the sardana-clients extra is not installed")

pytestmark = pytest.mark.timeout(240)

PROBE = Path(__file__).with_name("sardana_probe.py")


@pytest.fixture(scope="module")
def ms(tango_db, module_device_server, tmp_path_factory) -> Iterator[MacroServerInstance]:
    folder = tmp_path_factory.mktemp("ms-sardana")
    instance = start_macroserver(module_device_server, tango_db.tango_host, "sapi", folder,
                                 write_config(folder))
    instance.set_env({"ScanDir": str(instance.data_dir), "ScanFile": ["sardana.dat"],
                      "ActiveMntGrp": "mg1", "JsonRecorder": True})
    live = LiveDoorEvents([instance.door])  # tests subscribe, then run at once
    yield instance
    live.close()


def client_env(tango_host: str, home: Path) -> dict[str, str]:
    """A child's environment: the test database, HOME in a temporary folder."""
    env = dict(os.environ, TANGO_HOST=tango_host, HOME=str(home),
               XDG_CONFIG_HOME=str(home / ".config"), QT_QPA_PLATFORM="offscreen")
    env.pop("PYTHONPATH", None)  # nothing of ours on the client side
    return env


def probe(ms: MacroServerInstance, scenario: str, home: Path, timeout: float = 180) -> Any:
    done = subprocess.run([sys.executable, str(PROBE), ms.doors[0], scenario],
                          env=client_env(ms.tango_host, home), capture_output=True,
                          text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"probe failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def test_sardana_python_api(ms, tmp_path) -> None:
    out = probe(ms, "api", tmp_path)
    assert {"ascan", "mv", "wa", "ct", "senv", "lsenv", "genv"} <= set(out["macros"])
    assert out["ascan_params"] == ["motor", "start_pos", "final_pos", "nr_interv", "integ_time"]
    assert "Syntax:\n\tascan <motor> <start_pos>" in out["ascan_doc"]
    assert {"m1", "m2", "theta"} <= set(out["motors"])
    assert {"timer", "ct1"} <= set(out["channels"]) and out["groups"] == ["mg1"]
    # the client's own macro id came back in MacroStatus: Sardana's Macro object is found
    assert out["ascan"]["state"] == "finish" and out["ascan"]["step"] == 100.0
    assert out["ascan"]["name"] == "ascan" and out["ascan"]["range"] == [0.0, 100.0]
    # genv declares its result (a String): getResult() converts it
    scan_id = ms.environment()["ScanID"]
    assert out["genv"]["state"] == "finish" and out["genv"]["result"] == str(scan_id)
    assert out["wa"]["state"] == "finish" and out["ct"]["state"] == "finish"
    assert out["env_ScanDir"] == str(ms.data_dir)
    assert out["env_put"] == {"a": [1, 2.5], "b": "x"} and out["env_removed"] is True
    assert "FromSardana" not in ms.environment()
    assert out["reserved"] == []  # nothing runs now
    spec = (ms.data_dir / "sardana.dat").read_text()
    assert "#S 1 ascan m1 0 0.5 5 0\n" in spec


def test_a_fast_macro_never_leaves_a_synchronous_run_waiting(ms, tmp_path) -> None:
    out = probe(ms, "fast", tmp_path, timeout=200)
    assert out["states"] == ["finish"] * 100


class Custom:
    """Any class: a pickle naming it is refused (it would be built by running code)."""


def test_pickled_environment_writes_load_plain_values_only(ms) -> None:
    """Sardana's putEnvironment writes a pickle: plain values load, anything naming a
    global (a function, a class) is refused before it is built, and nothing changes."""
    import pickle

    server = tango.DeviceProxy(ms.ms)
    server.write_attribute("Environment", ("pickle", pickle.dumps(
        {"new": {"Pickled": {"t": (1, 2), "f": 1.5, "n": None, "s": "é"}}})))
    assert ms.environment()["Pickled"] == {"t": [1, 2], "f": 1.5, "n": None, "s": "é"}
    before = ms.environment()

    evil = b"cos\nsystem\n(S'touch " + str(ms.data_dir / "pwned").encode() + b"'\ntR."
    for payload in (evil, pickle.dumps({"new": {"X": Custom()}}),
                    pickle.dumps({"new": {"X": {1, 2}}}), b"\x80\x04garbage"):
        with pytest.raises(tango.DevFailed):
            server.write_attribute("Environment", ("pickle", payload))
    assert not (ms.data_dir / "pwned").exists()
    assert ms.environment() == before
    # the server says why (its log: a refused DevEncoded write loses its reason on the
    # way to the client), and stays up
    log = (ms.env_path.parent / f"macroserver-{ms.instance}.log").read_text(errors="replace")
    assert "names posix.system" in log or "names os.system" in log, log[-2000:]
    assert server.state() == tango.DevState.ON


def _run(door: tango.DeviceProxy, line: str, timeout: float = 60) -> None:
    """RunMacro, then wait (by polling State) until the door is no longer RUNNING."""
    door.RunMacro([line])
    deadline = time.monotonic() + timeout
    while door.state() == tango.DevState.RUNNING:
        assert time.monotonic() < deadline, f"{line} did not end"
        time.sleep(0.02)


def test_environment_scopes_door_and_macro(ms) -> None:
    """Sardana's scopes: door/x/1.ScanFile, ascan.ScanFile, door/x/1.ascan.ScanFile,
    the most specific first, so two doors write to different files."""
    door1, door2 = (tango.DeviceProxy(f"tango://{ms.tango_host}/{d}") for d in ms.doors)
    _run(door1, f"senv {ms.doors[0].upper()}.ScanFile door1.dat")  # Tango names: any case
    _run(door1, "senv ascan.ScanFile ascan.dat")
    _run(door1, f"senv {ms.doors[1]}.ascan.ScanFile door2_ascan.dat")
    env = ms.environment()
    assert env[f"{ms.doors[0]}.ScanFile"] == "door1.dat"
    assert env[f"{ms.doors[1]}.ascan.ScanFile"] == "door2_ascan.dat"
    _run(door1, "ascan m1 0 1 2 0")  # door1: door1.ScanFile beats ascan.ScanFile
    _run(door2, "ascan m1 0 1 3 0")  # door2: door2.ascan.ScanFile
    _run(door2, "dscan m1 0 1 1 0")  # door2, another macro: ScanFile (sardana.dat)
    assert "ascan m1 0 1 2 0" in (ms.data_dir / "door1.dat").read_text()
    assert "ascan m1 0 1 3 0" in (ms.data_dir / "door2_ascan.dat").read_text()
    assert "dscan m1 0 1 1 0" in (ms.data_dir / "sardana.dat").read_text()
    assert not (ms.data_dir / "ascan.dat").exists()
    # lsenv shows the scoped names; lsenv <macro> the values that macro sees on this door
    events = Events(f"tango://{ms.tango_host}/{ms.doors[0]}", ["Output"])
    try:
        _run(door1, "lsenv ascan dscan")
        # the rows come in several Output events: wait for the dscan row read below
        events.wait_for(lambda ev: any(re.match(r"dscan\s+ScanFile\s", line)
                                       for line in ev.lines()), 10)
        lines = events.lines()
    finally:
        events.close()
    assert any(re.match(r"ascan\s+ScanFile\s+'door1.dat'", line) for line in lines), lines
    assert any(re.match(r"dscan\s+ScanFile\s+'door1.dat'", line) for line in lines), lines
    # GetMacroEnv answers as a macro sees it on that door
    assert list(door2.GetMacroEnv(["ascan", "ScanFile"])) == ["ScanFile", '"door2_ascan.dat"']
    assert list(door1.GetMacroEnv(["ascan", "ScanFile"])) == ["ScanFile", '"door1.dat"']
    declared = dict(zip(*[iter(door1.GetMacroEnv(["ascan"]))] * 2))  # what a scan reads
    assert declared["ScanFile"] == '"door1.dat"' and declared["ActiveMntGrp"] == '"mg1"'

    _run(door1, f"usenv {ms.doors[0]}.ScanFile ascan.ScanFile {ms.doors[1]}.ascan.ScanFile")
    assert not [name for name in ms.environment() if name.endswith(".ScanFile")]
    # a scoped value is checked as the variable is: a folder in ScanFile is refused
    with pytest.raises(tango.DevFailed) as refused:
        tango.DeviceProxy(ms.ms).SetEnvironment(json.dumps({"ascan.ScanFile": "../x.dat"}))
    assert refused.value.args[0].reason == "EnvError"


def test_macroserver_lists_reload_and_macro_code(ms, tmp_path) -> None:
    server = tango.DeviceProxy(ms.ms)
    assert {"motion", "scan", "env"} <= set(server.MacroLibList)
    assert {"output", "spec", "nexus", "json"} <= {n.lower() for n in server.RecorderList}
    assert server.RecorderLibList
    types = set(server.TypeList)
    assert {"Float", "Integer", "Boolean", "String", "Motor*", "MeasurementGroup*"} <= types
    events = Events(ms.ms, ["Elements"], probe=ms.door)
    try:
        assert list(server.ReloadMacro(["ascan"])) == ["OK"]
        events.wait_for(lambda ev: bool(ev.of("Elements")), 20)
        change = json.loads(events.of("Elements")[-1][1])
    finally:
        events.close()
    assert set(change) == {"new", "change", "del"}  # Sardana's Elements event
    assert list(server.ReloadMacroLib(["motion"])) == ["OK"]
    with pytest.raises(tango.DevFailed) as unknown:
        server.ReloadMacro(["nosuch"])
    assert "nosuch" in unknown.value.args[0].desc
    path, code, line = server.GetMacroCode(["where", "wa"])
    assert path.endswith("where.py") and "class wa(" in code
    assert code.splitlines()[int(line) - 1].startswith("class wa(")
    # writing is allowed only inside MacroPath (this server has none)
    with pytest.raises(tango.DevFailed) as refused:
        server.SetMacroCode([path, code])
    assert "MacroPath" in refused.value.args[0].desc
    assert "class wa(" in Path(path).read_text()


def test_door_members(ms) -> None:
    door = tango.DeviceProxy(ms.door)
    assert list(door.Critical or []) == []
    assert door.Input == ""
    events = Events(ms.door, ["MacroStatus"])
    try:
        door.RunMacro(["ascan m2 0 1 40 0.05"])
        deadline = time.monotonic() + 20
        while not json.loads(door.ReservedElements[1]):  # what the running scan holds
            assert time.monotonic() < deadline, "the scan reserved nothing"
            time.sleep(0.02)
        assert "m2" in json.loads(door.ReservedElements[1])[0]["elements"]
        door.StopMacro()
        events.wait_for(lambda ev: any(s["state"] == "stop" for s in ev.statuses()), 20)
        statuses = events.statuses()
    finally:
        events.close()
    assert json.loads(door.ReservedElements[1]) == []
    # Sardana's fields on every packet
    assert all({"id", "state", "range", "step"} <= set(s) for s in statuses), statuses
    assert statuses[0]["state"] == "start" and statuses[0]["step"] == 0.0
    steps = [s["step"] for s in statuses]
    assert steps == sorted(steps) and steps[-1] < 100  # a stopped scan: not 100 %
    # ReleaseMacro (Sardana's way out of a hung abort) ends the macro as an abort
    events = Events(ms.door, ["MacroStatus"])
    try:
        door.RunMacro(["ascan m2 0 1 40 0.05"])
        events.wait_for(lambda ev: any(s["state"] == "step" for s in ev.statuses()), 20)
        door.ReleaseMacro()
        events.wait_for(lambda ev: ev.statuses()[-1]["state"] == "abort", 20)
    finally:
        events.close()
