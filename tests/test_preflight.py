"""The pre-flight of a scan (engine/preflight.py): the dry run tells everything and touches
nothing; real scans are refused before anything moves (limits in user and dial units,
too many points, files that do not fit, a detector slower than the triggers); the
forecast duration is within 10 % of the measured one for scans longer than 10 s.

In-process with simulated elements, and with Tango motors, counters and a Lima-like Tango
detector in their own processes. The full-disk case runs on a small tmpfs."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from collect import Collect, make_core, run
from test_ctscan_tango import DEVICES, ct_motor  # noqa: F401  (fixture: a Tango motor)
from test_lima_detector import start_detector

from macroserver.config import build_config
from macroserver.elements.calibration import Calibration
from macroserver.engine.overheads import software_cycle_key
from macroserver.engine.runner import MacroRunner
from macroserver.errors import ConfigError

pytestmark = pytest.mark.timeout(300)

CONFIG = {
    "scans": {"max_points": 1_000_000},
    "motors": {
        "m1": {"limits": [-10.0, 10.0], "velocity": 20.0, "acceleration": 0.05,
               "max_velocity": 1000.0},
        "m2": {"limits": [-10.0, 10.0], "velocity": 5.0},
        "m3": {"limits": [-10.0, 10.0], "velocity": 5.0},
        "mc": {"limits": [-100.0, 100.0], "velocity": 50.0, "acceleration": 0.1,
               "max_velocity": 1000.0},
        # settling after each move: 0.1 s and 0.3 s (the waits the forecast counts)
        "s1": {"limits": [-10.0, 10.0], "velocity": 20.0, "acceleration": 0.05,
               "settling_time": 0.1},
        "s2": {"limits": [-10.0, 10.0], "velocity": 10.0, "settling_time": 0.3},
    },
    "channels": {
        **{f"t{n}": {"kind": "timer"} for n in (1, 2, 3)},
        **{f"c{n}": {"kind": "counter", "noise": 0.0} for n in (1, 2, 3)},
        "img": {"kind": "image", "shape": [256, 256]},
        "det": {"kind": "selfsaving", "width": 16, "height": 16, "rate": 100.0},
    },
    "measurement_groups": {
        "mg1": {"timer": "t1", "channels": ["t1", "c1"]},
        "mg2": {"timer": "t2", "channels": ["t2", "c2"]},
        "mg3": {"timer": "t3", "channels": ["t3", "c3"]},
        "mg_img": {"timer": "t1", "channels": ["t1", "c1", "img"]},
        "mg_det": {"timer": "t1", "channels": ["t1", "det"]},
    },
}


@pytest.fixture
def core(tmp_path):
    return make_core(tmp_path, CONFIG, env={
        "ScanDir": str(tmp_path / "data"), "ScanFile": ["s.h5", "s.dat"],
        "ActiveMntGrp": "mg_img"})


def refused(core, command: str) -> str:
    outcome, out = run(core, command, timeout=60)
    assert outcome.state == "exception", (command, out.output)
    assert "nothing was moved" in outcome.error
    return outcome.error


def test_dry_run_tells_everything_and_touches_nothing(core, tmp_path):
    runner = MacroRunner(core, Collect())
    env_file = tmp_path / "state" / "environment.json"
    before = env_file.read_bytes()
    positions = {name: m.position() for name, m in core.pool.motors.items()}

    step = runner.dry_run("ascan m1 0 2 10 0.1")
    assert (step.points, step.kind, step.group) == (11, "step", "mg_img")
    (path,) = step.paths
    assert (path.motor, path.first, path.last, path.low, path.high) == ("m1", 0, 2, 0, 2)
    assert path.velocity == 20.0
    assert step.duration.integration == pytest.approx(1.1)
    # 10 moves of 0.2 at 20/s with 0.05 s ramps: triangles of 2 * sqrt(0.2 * 0.05 / 20)
    assert step.duration.motion == pytest.approx(10 * 2 * math.sqrt(0.2 * 0.05 / 20))
    files = {Path(f.path).name: f for f in step.files}
    assert set(files) == {"s.h5", "s.dat"}
    image = 256 * 256 * 8
    for f in files.values():  # 11 images of 512 KiB each, plus the format's overhead
        assert 11 * image < f.bytes < 11 * image * 1.2 and f.free_bytes > 0
    assert not step.limits and not step.refused

    snake = runner.dry_run("mesh m2 0 1 4 m3 0 3 3 0.1 True")
    assert snake.points == 20
    inner, outer = snake.paths
    assert (inner.first, inner.last, outer.first, outer.last) == (0, 0, 0, 3)  # 4 rows
    # inner: 16 steps of 0.25 at 5/s; outer: 3 steps of 1 at 5/s (snake: no return)
    assert snake.duration.motion == pytest.approx(16 * 0.05 + 3 * 0.2)

    ct = runner.dry_run("ascanct mc 0 10 100 0.01")
    (cruise,) = ct.paths
    assert cruise.velocity == pytest.approx(10.0)  # 10 over 100 intervals of 0.01 s
    assert cruise.low == pytest.approx(-0.5) and cruise.high > 10.0  # ramps of v * t / 2
    assert ct.kind == "continuous, triggered timing"

    core.env.update({"_GeneralHooks": [["mv m2 1", ["pre-scan"]]]})
    hooked = runner.dry_run("ascan m1 0 2 10 0.1")
    assert [(h.place, h.hook) for h in hooked.hooks] == [("pre-scan", "mv m2 1")]
    assert "  hook at pre-scan: mv m2 1" in hooked.lines()
    core.env.update({}, remove=["_GeneralHooks"])

    relative = runner.dry_run("dscan m1 -1 1 4 0")
    assert (relative.paths[0].first, relative.paths[0].last) == (-1, 1)

    # nothing moved, nothing counted, nothing written
    assert {name: m.position() for name, m in core.pool.motors.items()} == positions
    assert all(m.wait_move(0) for m in core.pool.motors.values())
    assert all(c._end == 0.0 for c in core.pool.channels.values() if hasattr(c, "_end"))
    assert env_file.read_bytes() == before
    assert not any((tmp_path / "data").iterdir())
    assert not (tmp_path / "state" / "overheads.json").exists()


def test_a_dry_run_is_for_scans_only(core):
    from macroserver.errors import ParamError

    runner = MacroRunner(core, Collect())
    with pytest.raises(ParamError, match="mv is not a scan macro"):
        runner.dry_run("mv m1 1")
    assert core.pool.motor("m1").position() == 0.0


def test_refusals_name_limits_in_user_and_dial_units(core, tmp_path):
    m1 = core.pool.motor("m1")
    m1.set_calibration(Calibration(offset=5.0, user_limits=(-10.0, 10.0)))  # user = dial + 5
    where = m1.position()
    forecast = MacroRunner(core, Collect()).dry_run("ascan m1 0 12 4 0")
    (crossing,) = forecast.limits
    assert (crossing.position, crossing.dial, crossing.limits) == (12, 7, (-10, 10))
    error = refused(core, "ascan m1 0 12 4 0")
    assert "position 12 is outside its limits [-10, 10] (dial 7" in error
    assert m1.position() == where and not any((tmp_path / "data").iterdir())
    # a continuous scan's ramp is a position too
    error = refused(core, "ascanct mc 0 99.9 10 0.1")
    assert "the ramp end" in error and "[-100, 100]" in error


def test_too_many_points_refused_at_once_with_the_numbers(core, tmp_path):
    started = time.monotonic()
    error = refused(core, "meshct m1 0 1 1000000 mc 0 1 1000000 0.001")
    assert time.monotonic() - started < 5  # no row was planned
    assert "1,000,002,000,001 points, above the maximum of 1,000,000" in error
    assert "bytes) to s.h5, s.dat in" in error and "are free" in error
    refused(core, "ascan m1 0 1 1000000 0")  # 1,000,001 points
    assert not any((tmp_path / "data").iterdir())


def test_files_that_do_not_fit_a_small_disk_are_refused(tmp_path):
    mount = tmp_path / "data" / "small"
    mount.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"SKIPPED LOUDLY: a small file system needs a tmpfs mount, which "
                    f"needs root: {done.stderr.strip()}")
    try:
        core = make_core(tmp_path, CONFIG, env={
            "ScanDir": str(mount), "ScanFile": ["s.h5", "s.dat"], "ActiveMntGrp": "mg_img"})
        error = refused(core, "ascan m1 0 1 9 0")  # 10 images of 512 KiB, twice
        assert "10 points would write ~" in error and "to s.h5, s.dat in" in error
        assert "4.0 MiB (4,194,304 bytes) are free" in error
        assert not any(mount.iterdir())
        outcome, out = run(core, "ascan m1 0 1 1 0")  # 2 points fit
        assert outcome.state == "finish", out.errors
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_detector_slower_than_the_triggers(tmp_path, core, device_server):
    # the simulated detector takes at most 100 frames/s: one every 0.002 s is refused
    core.env.update({"ActiveMntGrp": "mg_det"})
    error = refused(core, "ascanct mc 0 1 20 0.002")
    assert "det needs 0.008 s between acquisitions" in error
    assert "give latency_time 0.008 or more" in error
    outcome, out = run(core, "ascanct mc 0 1 20 0.002 0.008", timeout=60)
    assert outcome.state == "finish", out.errors
    # the Lima-like Tango detector says its readout in valid_ranges (1/rate)
    device, _ = start_detector(device_server, "rate", Rate=50)
    (tmp_path / "tango").mkdir()
    config = {**CONFIG, "channels": {**CONFIG["channels"], "lima": {
        "type": "tango", "kind": "selfsaving", "device": device}},
        "measurement_groups": {"mg": {"timer": "t1", "channels": ["t1", "lima"]}}}
    tango_core = make_core(tmp_path / "tango", config, env={
        "ScanDir": str(tmp_path / "tango" / "data"), "ScanFile": ["s.h5"]})
    error = refused(tango_core, "ascanct mc 0 1 20 0.001")
    # 1/rate, and the Tango calls a point costs this server, timed once before anything
    # moves (how long they take depends on the machine's load: no upper bound but a sane one)
    need = float(re.search(r"lima needs ([0-9.e-]+) s between acquisitions", error)[1])
    assert 0.02 < need < 1.0, error
    given = float(re.search(r"give latency_time ([0-9.e-]+) or more", error)[1])
    assert need <= given < need * 1.1, error
    # the figure a refusal names is the one the next pre-flight accepts (timed once)
    assert refused(tango_core, "ascanct mc 0 1 20 0.001") == error
    assert lima_rate(tango_core, f"ascanct mc 0 1 20 0.001 {given}").keeps_up
    # software timing through Tango: the time a point takes to trigger and read is
    # measured, and the next pre-flight asks for it. The scan's period leaves a loaded
    # machine room: software timing gives up on a trigger late by more than one period.
    outcome, out = run(tango_core, f"ascanct mc 0 1 5 0.001 {max(given, 0.25)}", timeout=60)
    assert outcome.state == "finish", out.errors
    cycle = tango_core.overheads.get(software_cycle_key("mg"))
    assert cycle is not None and cycle > 0
    for latency, keeps_up in ((2 * cycle, True), (cycle / 2, False)):
        forecast = MacroRunner(tango_core, Collect()).dry_run(
            f"ascanct mc 0 1 20 0.001 {latency}")
        (check,) = [r for r in forecast.rates if r.channel == "mg"]
        assert "measured on this server" in check.reason and check.keeps_up is keeps_up, \
            (latency, check)


def lima_rate(core, command: str):
    """The pre-flight's rate check of the channel `lima` for `command` (a dry run)."""
    forecast = MacroRunner(core, Collect()).dry_run(command)
    (check,) = [r for r in forecast.rates if r.channel == "lima"]
    return check


def test_settling_is_forecast_per_move_and_waited(tmp_path):
    """The settling after each move is in the forecast (the longest of the motors that
    moved; a motor sent where it is does not move) and on the clock; the per-point
    overhead learnt from the scan leaves it out. Short scans: a lower bound on the clock,
    the > 10 s comparison is test_estimates_within_ten_percent."""
    with pytest.raises(ConfigError, match="motor x: settling_time must be from 0 to 3600 s, "
                                          "not -1.0"):
        build_config({"motors": {"x": {"settling_time": -1}}})
    core = make_core(tmp_path, CONFIG, env={"ActiveMntGrp": "mg1"})  # no files
    runner = MacroRunner(core, Collect())
    # 4 moves of s1; at 0 already, its first point is no move
    step = runner.dry_run("ascan s1 0 1 4 0")
    assert step.duration.settling == pytest.approx(0.4)
    assert "settling 0.4 s" in step.lines()[1]
    assert step.to_dict()["duration"]["settling"] == pytest.approx(0.4)
    # mesh: s1 steps 2 per row over 2 rows (0.1 each); between rows both move (0.3);
    # from s1 at 1 (say, after a scan), the first point is a move too
    core.pool.motor("s1").start_move(1.0)
    mesh = runner.dry_run("mesh s1 0 1 2 s2 0 1 1 0")
    assert mesh.duration.settling == pytest.approx(0.1 + 4 * 0.1 + 0.3)
    assert mesh.duration.total == pytest.approx(mesh.duration.motion + 0.8
                                                + mesh.duration.overhead)
    started = time.monotonic()
    outcome, out = run(core, "mesh s1 0 1 2 s2 0 1 1 0")
    took = time.monotonic() - started
    assert outcome.state == "finish", out.errors
    assert took >= mesh.duration.motion + mesh.duration.settling, took
    kept = json.loads((tmp_path / "state" / "overheads.json").read_text())
    (per_point,) = kept.values()  # the settling waited is not taken for overhead
    assert per_point < 0.1, kept
    # a motor that never moves never settles: 5 points of s2 at 0.3 s would be 1.5 s
    assert runner.dry_run("ascan s2 1 1 4 0").duration.settling == 0.0
    started = time.monotonic()
    outcome, _ = run(core, "ascan s2 1 1 4 0")
    assert outcome.state == "finish" and time.monotonic() - started < 1.0
    # meshct: the slow motor settles after each step between rows; the fast one, driven
    # through its ramps, counts while it moves
    ct = runner.dry_run("meshct mc 0 1 4 s2 0 1 2 0.01")
    assert ct.duration.settling == pytest.approx(3 * 0.3)  # from 1, rows at 0, 0.5, 1
    started = time.monotonic()
    outcome, out = run(core, "meshct mc 0 1 4 s2 0 1 2 0.01")
    assert outcome.state == "finish", out.errors
    assert time.monotonic() - started >= ct.duration.motion + 0.9


def test_dry_run_from_the_command_line_writes_nothing(tmp_path):
    env_file = tmp_path / "env.json"
    done = subprocess.run(
        [sys.executable, "-m", "macroserver", "run", "--env", str(env_file), "--dry-run",
         "--json", "ascan theta 0 1 10 0.1", "ascan theta 0 20 2 0", "mv theta 1"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 1, done.stderr  # one refused, one not a scan
    first, limit, error = (json.loads(line) for line in done.stdout.splitlines())
    assert first["points"] == 11 and first["duration_s"] > 1.1 and first["refused"] is None
    assert first["paths"][0]["motor"] == "theta" and first["limits"] == []
    assert limit["limits"][0]["position"] == 20 and "outside its limits" in limit["refused"]
    assert "not a scan macro" in error["error"]
    assert not env_file.exists() and list(tmp_path.iterdir()) == []


# -- the estimate against the clock: scans of more than 10 s, run side by side --------


def timed(core, door: str, command: str, results: dict) -> None:
    runner = MacroRunner(core, Collect(), door_name=door)
    forecast = runner.dry_run(command)
    started = time.monotonic()
    outcome = runner.run(command)
    results[command] = (forecast.duration, time.monotonic() - started, outcome)


def tango_scan_core(tmp_path: Path, device_server, ct_motor: str):  # noqa: F811
    """A server whose motors and counters are Tango devices in their own processes: the
    step scan's motor (`tm`, its settling time in the configuration), a mesh's two (`mx`,
    `my`, theirs in the devices' SettlingTime) and a continuous scan's (`cm`), each scan
    with its own timer and counter device (Start/Stop, Elapsed/Counts)."""
    import tango

    scans = ("step", "mesh", "ct")
    motors = {"mx": "test/gapsmesh/x", "my": "test/gapsmesh/y", "cm": "test/gapsct/1"}
    device_server([sys.executable, str(DEVICES / "sim_ct_motor.py")], "SimCtMotor",
                  "estimates", {"SimCtMotor": dict.fromkeys(motors.values(), {})})
    counters = {scan: f"test/gapscount/{scan}" for scan in scans}
    device_server([sys.executable, str(DEVICES / "sim_detector.py")], "SimDetector",
                  "estimates", {"SimDetector": dict.fromkeys(counters.values(), {})})
    for device in (ct_motor, *motors.values()):
        proxy = tango.DeviceProxy(device)
        proxy.write_attribute("Velocity", 40.0)
        proxy.write_attribute("Acceleration", 0.05)
        # the mesh's motors tell their settling in the device's SettlingTime attribute
        proxy.write_attribute("SettlingTime", {"mx": 0.05, "my": 0.1}.get(
            next((n for n, d in motors.items() if d == device), ""), 0.0))
    channels = {}
    for scan, device in counters.items():
        trigger = {"start_command": "Start", "stop_command": "Stop"}
        channels[f"t_{scan}"] = {"type": "tango", "kind": "timer",
                                 "attribute": f"{device}/Elapsed", **trigger}
        channels[f"c_{scan}"] = {"type": "tango", "attribute": f"{device}/Counts"}
    config = {
        "motors": {"tm": {"type": "tango", "device": ct_motor, "settling_time": 0.1},
                   **{name: {"type": "tango", "device": d} for name, d in motors.items()}},
        "channels": channels,
        "measurement_groups": {f"mg_{scan}": {"timer": f"t_{scan}",
                                              "channels": [f"t_{scan}", f"c_{scan}"]}
                               for scan in scans},
    }
    core = make_core(tmp_path, config, env={"ScanDir": str(tmp_path / "data")})
    for n, scan in enumerate(scans, start=4):
        core.env.update({f"door/pf/{n}.ActiveMntGrp": f"mg_{scan}",
                         f"door/pf/{n}.ScanFile": [f"t{n}.h5", f"t{n}.dat"]})
    return core


def test_estimates_within_ten_percent(tmp_path, ct_motor, device_server):  # noqa: F811
    (tmp_path / "sim").mkdir()
    (tmp_path / "tango").mkdir()
    core = make_core(tmp_path / "sim", CONFIG, env={"ScanDir": str(tmp_path / "sim" / "data")})
    for n, door in enumerate(("door/pf/1", "door/pf/2", "door/pf/3"), start=1):
        core.env.update({f"{door}.ActiveMntGrp": f"mg{n}", f"{door}.ScanFile": [f"s{n}.h5"]})
    tango_core = tango_scan_core(tmp_path / "tango", device_server, ct_motor)
    # six scans side by side (one wall time): simulated elements, then Tango ones
    jobs = [(core, "door/pf/1", "ascan s1 0 5 40 0.15"),  # 6.15 s counting + 40 moves
            # (1.4 s) + 4 s settling
            (core, "door/pf/2", "mesh m2 0 1 4 m3 0 3 3 0.5"),  # 10 s counting + moves
            (core, "door/pf/3", "ascanct mc 0 10 100 0.1"),  # 10.1 s cruise + ramps
            # Tango motor and counter: 9.9 s counting + 10 moves (and settling 0.1 s)
            (tango_core, "door/pf/4", "ascan tm 0 10 10 0.9"),
            # 9 s counting + moves + settling: 16 of mx (0.05 s), 3 of both (0.1 s)
            (tango_core, "door/pf/5", "mesh mx 0 4 4 my 0 3 3 0.45"),
            (tango_core, "door/pf/6", "ascanct cm 0 10 100 0.09 0.02")]  # 11.1 s + ramps
    results: dict = {}
    threads = [threading.Thread(target=timed, args=(*job, results)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(results) == len(jobs)
    for command, (estimate, took, outcome) in results.items():
        assert outcome.state == "finish", (command, outcome.error)
        print(f"{command}: forecast {estimate.total:.2f} s (settling "
              f"{estimate.settling:.2f} s), took {took:.2f} s")
        settling = {"ascan s1": 4.0, "ascan tm": 1.0, "mesh mx": 16 * 0.05 + 3 * 0.1}
        assert estimate.settling == pytest.approx(next(
            (v for k, v in settling.items() if command.startswith(k)), 0.0)), command
        estimate = estimate.total
        assert took > 10, (command, took)
        assert abs(estimate - took) <= 0.1 * took, f"{command}: {estimate:.2f} s vs {took:.2f} s"
    # each scan's overhead per point was measured and kept for the next forecast
    for state in ("sim", "tango"):
        kept = json.loads((tmp_path / state / "state" / "overheads.json").read_text())
        assert len([k for k in kept if not k.startswith("software")]) == 3, kept
        assert all(v >= 0 for v in kept.values())
