"""Stop, abort and pause/resume at random moments: 100 seeded trials.

95 in-process (MacroRunner on a MacroServerCore) and 5 through Tango (Door commands).
Every run must end with the right status everywhere: the outcome, a collecting recorder
plug-in (end status and points), the SPEC closing line and the NeXus `notes/data`, with
files that silx and h5py read and point counts equal in all of them.
"""

from __future__ import annotations

import random
import time

import pytest
from collect import Collect, collector_class, make_core, write_collector
from fault_helpers import nexus_points, spec_scans, spec_text_is_clean
from tango_helpers import Events, start_macroserver, write_config

from macroserver.engine.runner import DoorState, MacroRunner
from macroserver.errors import WrongState

SEED = 20261125
IN_PROCESS_TRIALS = 95
TANGO_TRIALS = 5
STATUS = {"finish": "done", "stop": "stopped", "abort": "aborted"}


def choose(rng: random.Random) -> tuple[int, float, str, float, float]:
    intervals = rng.randint(3, 30)
    integ = rng.choice([0.0, 0.001, 0.003])
    action = rng.choice(["stop", "abort", "pause"])
    delay = rng.uniform(0.0, (intervals + 1) * (integ + 0.0005) * 0.8)
    paused_for = rng.uniform(0.0, 0.05)
    return intervals, integ, action, delay, paused_for


def interrupt(target, action: str, paused_for: float) -> None:
    """Send the action; a macro that already ended refuses it (WrongState/DevFailed)."""
    try:
        if action == "pause":
            target.pause()
            time.sleep(paused_for)
            target.resume()
        else:
            getattr(target, action)()
    except WrongState:
        pass


def check_files(data, scan_id: int, status: str, points: int) -> None:
    spec_text_is_clean(data / "i.dat")
    rows, _, closing = spec_scans(data / "i.dat")[f"{scan_id}.1"]
    assert rows == points and f"(status: {status})" in closing, (rows, points, closing)
    assert nexus_points(data / "i.h5", f"entry{scan_id}") == (points, status)


def test_random_stop_abort_pause_in_process(tmp_path):
    rng = random.Random(SEED)
    folder = tmp_path / "recorders"
    write_collector(folder)
    data = tmp_path / "data"
    core = make_core(tmp_path, recorder_path=[folder],
                     env={"ScanDir": str(data), "ScanFile": ["i.h5", "i.dat"]})
    listener = Collect()
    runner = MacroRunner(core, listener)
    seen = {"finish": 0, "stop": 0, "abort": 0}
    started = time.monotonic()
    for trial in range(IN_PROCESS_TRIALS):
        intervals, integ, action, delay, paused_for = choose(rng)
        runner.start(f"ascan m1 0 1 {intervals} {integ}")
        time.sleep(delay)
        interrupt(runner, action, paused_for)
        outcome = runner.wait(20)
        assert outcome is not None, f"trial {trial} did not end"
        assert runner.state is DoorState.ON, (trial, runner.state, outcome)
        seen[outcome.state] += 1
        status = STATUS[outcome.state]
        if action == "pause":
            assert outcome.state == "finish", (trial, outcome)
        scan = collector_class(core).scans[-1]
        end = scan["end"]
        assert str(end.status) == status, (trial, action, end, outcome)
        assert end.points == len(scan["points"])
        assert [i for i, _ in scan["points"]] == list(range(end.points))
        if status == "done":
            assert end.points == intervals + 1
        check_files(data, scan["info"].scan_id, status, end.points)
    elapsed = time.monotonic() - started
    print(f"{IN_PROCESS_TRIALS} in-process trials in {elapsed:.1f} s; outcomes {seen}")
    assert seen["stop"] and seen["abort"] and seen["finish"]


@pytest.fixture(scope="module")
def server(module_device_server, tango_db, tmp_path_factory):
    from test_faults_clients import CONFIG

    folder = tmp_path_factory.mktemp("faultint")
    srv = start_macroserver(module_device_server, tango_db.tango_host, "faultint", folder,
                            write_config(folder, text=CONFIG))
    srv.set_env({"ActiveMntGrp": "mg1", "JsonRecorder": False,
                 "ScanDir": str(srv.data_dir), "ScanFile": ["i.h5", "i.dat"]})
    return srv


class _DoorTarget:
    def __init__(self, proxy) -> None:
        self.proxy = proxy

    def _call(self, command: str) -> None:
        import tango

        try:
            self.proxy.command_inout(command)
        except tango.DevFailed as exc:
            if "WrongState" not in str(exc) and "no macro is running" not in str(exc):
                raise

    def stop(self) -> None:
        self._call("StopMacro")

    def abort(self) -> None:
        self._call("AbortMacro")

    def pause(self) -> None:
        self._call("PauseMacro")

    def resume(self) -> None:
        self._call("ResumeMacro")


def test_random_stop_abort_pause_through_tango(server):
    import tango

    rng = random.Random(SEED + 1)
    door = server.proxy()
    target = _DoorTarget(door)
    for trial in range(TANGO_TRIALS):
        intervals, _, action, delay, paused_for = choose(rng)
        intervals *= 10  # slower through Tango's round trips: longer scans
        events = Events(server.door)
        try:
            macro_id = door.RunMacro([f"ascan m1 0 1 {intervals} 0.002"])[0]
            time.sleep(delay * 5)
            interrupt(target, action, paused_for)
            final = events.wait_end(macro_id, 60)
        finally:
            events.close()
        status = STATUS[final["state"]]
        if action == "pause":
            assert status == "done", final
        deadline = time.monotonic() + 10
        while door.state() != tango.DevState.ON and time.monotonic() < deadline:
            time.sleep(0.02)
        assert door.state() == tango.DevState.ON
        scan_id = server.environment()["ScanID"]
        points = nexus_points(server.data_dir / "i.h5", f"entry{scan_id}")[0]
        if status == "done":
            assert points == intervals + 1
        check_files(server.data_dir, scan_id, status, points)
        print(f"tango trial {trial}: {action} after {delay * 5:.3f} s -> {status}, {points} points")
