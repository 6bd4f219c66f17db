"""More than one door (and more than one server) at once, and stop during a move or count.

- StopMacro during `mv phi 150` or `ct 3` halts the motion or count at once (outcome stop).
- A motor or channel a running macro holds is reserved for its door: a macro on the other
  door that needs it is refused before anything moves, naming the holding door.
- Two server processes scanning into the same SPEC and NeXus files: the second scan is
  refused while the first writes (a lock on the file itself); both files stay clean.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import h5py
import pytest
import tango
from collect import wait_until
from fault_helpers import spec_scans, spec_text_is_clean
from tango_helpers import Events, start_macroserver

from macroserver.errors import FileBusy
from macroserver.filelocks import DataFileLocks
from macroserver.tango.pool_elements import served_device_name

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server(module_device_server, tango_db, tmp_path_factory):
    srv = start_macroserver(module_device_server, tango_db.tango_host, "faultdoors",
                            tmp_path_factory.mktemp("faultdoors"))
    srv.set_env({"ScanDir": str(srv.data_dir), "ScanFile": ["d.dat", "d.h5"],
                 "ActiveMntGrp": "mg_demo"})
    return srv


def run(door_name: str, command: str, until: str | None = None, then=None,
        timeout: float = 60) -> tuple[dict, Events]:
    """RunMacro `command` on a door; once an Output line matches `until`, call `then()`;
    returns the final MacroStatus and the door's events."""
    events = Events(door_name)
    try:
        macro_id = events.proxy.RunMacro([command])[0]
        if until is not None:
            events.wait_for(lambda ev: any(re.search(until, line) for line in ev.lines()), 30)
        if then is not None:
            then()
        return events.wait_end(macro_id, timeout), events
    finally:
        events.close()


def position(server, motor: str) -> float:
    _, events = run(server.door, f"wm {motor}")
    line = next(line for line in events.lines() if line.split()[:1] == ["Current"])
    return float(line.split()[1])


def test_stop_halts_a_move_and_a_count(server):
    door = server.proxy()
    run(server.door, "mv phi 0")
    # mv phi 150 takes 3 s (50 deg/s); ct 3 counts 3 s; both are stopped after ~0.3 s,
    # the move once phi's own device shows it under way (not a guessed sleep)
    phi = tango.DeviceProxy(f"tango://{server.tango_host}/"
                            f"{served_device_name('Motor', server.instance, 'phi')}")

    def stop_once_moving() -> None:
        wait_until(lambda: phi.read_attribute("Position").value > 0, "phi moving")
        door.StopMacro()

    final, _ = run(server.door, "mv phi 150", then=stop_once_moving)
    assert final["state"] == "stop", final
    stopped_at = position(server, "phi")
    assert 0 < stopped_at < 150
    time.sleep(0.3)
    assert position(server, "phi") == stopped_at  # halted, not still moving

    started = time.monotonic()
    final, events = run(server.door, "ct 3", then=lambda: (time.sleep(0.3), door.StopMacro()))
    assert final["state"] == "stop", final
    assert not any(line.startswith("value") for line in events.lines())  # no values shown
    print(f"ct 3 stopped after {time.monotonic() - started:.2f} s")
    run(server.door, "mv phi 0")


def test_a_motor_held_by_one_door_is_refused_to_the_other(server):
    door1 = server.proxy()
    run(server.door, "mv phi 0")
    events1 = Events(server.door)
    try:
        moving = door1.RunMacro(["mv phi 150"])[0]
        events1.wait_status("start")
        refused, events2 = run(server.door_name(1), "mv phi -150")
        assert refused["state"] == "exception", refused
        holder = server.doors[0]
        assert f"phi is in use by the macro running on {holder}" in refused["exc_value"]
        assert "nothing was moved" in refused["exc_value"]
        # a scan of that motor, and a count with the channels a scan holds, refused too
        refused, _ = run(server.door_name(1), "ascan phi 0 1 2 0")
        assert refused["state"] == "exception" and "phi is in use" in refused["exc_value"]
        assert events1.wait_end(moving, 30)["state"] == "finish"
    finally:
        events1.close()
    assert position(server, "phi") == 150  # the other door's move never started
    scanning = Events(server.door)
    try:
        scan_id = door1.RunMacro(["ascan theta 0 1 20 0.05"])[0]
        scanning.wait_for(lambda ev: any(line.split()[:1] == ["1"] for line in ev.lines()))
        refused, _ = run(server.door_name(1), "ct 0.1")
        assert refused["state"] == "exception", refused
        assert "uxtimer is in use by the macro running on" in refused["exc_value"]
        assert scanning.wait_end(scan_id, 60)["state"] == "finish"
    finally:
        scanning.close()
    # once the holding macro ended, the other door may use them
    final, _ = run(server.door_name(1), "mv phi 0")
    assert final["state"] == "finish", final
    assert position(server, "phi") == 0


def test_two_servers_writing_one_scan_file(server, module_device_server, tango_db,
                                           tmp_path_factory):
    """A second server process sharing the data folder: its scan into the same files is
    refused while the first one's scan writes, and works once that one has ended."""
    folder = tmp_path_factory.mktemp("faultdoors2")
    (folder / "data").symlink_to(server.data_dir)
    other = start_macroserver(module_device_server, tango_db.tango_host, "faultdoors2", folder)
    files = ["shared.dat", "shared.h5"]
    server.set_env({"ScanFile": files})
    other.set_env({"ScanDir": str(server.data_dir), "ScanFile": files, "ScanID": 100,
                   "ActiveMntGrp": "mg_demo"})
    try:
        first = Events(server.door)
        try:
            first_id = first.proxy.RunMacro(["ascan theta 0 1 30 0.05"])[0]
            first.wait_for(lambda ev: any(line.split()[:1] == ["1"] for line in ev.lines()))
            refused, _ = run(other.door, "ascan chi 0 1 30 0.01")
            assert first.wait_end(first_id, 60)["state"] == "finish"
        finally:
            first.close()
        assert refused["state"] == "exception", refused
        path = server.data_dir / "shared.dat"
        assert f"{path} is being written by another process" in refused["exc_value"]
        assert "nothing was moved" in refused["exc_value"]
        final, _ = run(other.door, "ascan chi 0 1 30 0.01")
        assert final["state"] == "finish", final
    finally:
        other.kill()
    spec_text_is_clean(path)
    scans = spec_scans(path)
    first_scan = server.environment()["ScanID"]
    assert scans[f"{first_scan}.1"][:2] == (31, ["Pt_No", "theta", "uxtimer", "value", "dt",
                                                  "EDF_nb"])
    assert scans["101.1"][0] == 31 and scans["101.1"][1][1] == "chi"
    with h5py.File(server.data_dir / "shared.h5", "r") as f:
        assert len(f[f"entry{first_scan}/measurement/theta"]) == 31
        assert len(f["entry101/measurement/chi"]) == 31


def test_file_lock_names_the_door_holding_it_in_this_process(tmp_path: Path):
    path = tmp_path / "x.dat"
    held = DataFileLocks([path], "door/a/1")
    try:
        with pytest.raises(FileBusy, match=r"being written by the scan running on door/a/1"):
            DataFileLocks([tmp_path / "free.dat", path], "door/a/2")
        DataFileLocks([tmp_path / "free.dat"], "door/a/2").release()  # not kept on failure
    finally:
        held.release()
    DataFileLocks([path], "door/a/2").release()
