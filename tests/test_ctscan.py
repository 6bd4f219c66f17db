"""Continuous scans (ascanct & co.) in-process: points, positions, timing, checks, faults.

The collecting recorder plug-in (tests/collect.py) sees what a file recorder sees.
Simulated motors follow a trapezoidal profile (velocity, acceleration time), so the
measured positions, the ramps and the overshoot are those of a real motion.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from collect import collector_class, make_core, run, write_collector

from macroserver.elements.sim import SimMotor
from macroserver.engine import ctscan
from macroserver.engine.runner import MacroRunner
from macroserver.records import EndStatus

ACCEL = 0.05
CONFIG: dict[str, Any] = {
    "motors": {
        "m1": {"position": 0.0, "limits": [-100.0, 100.0], "velocity": 50.0,
               "acceleration": ACCEL, "max_velocity": 500.0},
        "m2": {"position": 0.0, "limits": [-100.0, 100.0], "velocity": 50.0},
        "m3": {"position": 0.0, "limits": [-5.0, 5.0], "velocity": 50.0,
               "acceleration": ACCEL},
    },
    "channels": {
        "t": {"kind": "timer"},
        "c1": {"kind": "counter", "motor": "m1", "noise": 0.0},
    },
    "measurement_groups": {"mg": {"timer": "t", "channels": ["t", "c1"]}},
}


def make(tmp_path, config=None, **env):
    folder = tmp_path / "recorders"
    write_collector(folder)
    return make_core(tmp_path, config or CONFIG, recorder_path=[folder], env=env)


@pytest.fixture
def core(tmp_path):
    return make(tmp_path)


def scan_points(core) -> list[dict[str, Any]]:
    return [values for _, values in collector_class(core).scans[-1]["points"]]


def last_end(core):
    return collector_class(core).scans[-1]["end"]


def column(core, name: str) -> np.ndarray:
    return np.array([p[name] for p in scan_points(core)])


def test_ascanct_points_positions_and_timing(core):
    outcome, out = run(core, "ascanct m1 0 10 100 0.002")
    assert outcome.state == "finish", out.errors
    points = scan_points(core)
    assert len(points) == 101
    assert [p["point_nb"] for p in points] == list(range(101))
    planned = column(core, "m1_planned")
    assert planned[0] == 0.0 and planned[-1] == 10.0
    np.testing.assert_allclose(planned, np.linspace(0, 10, 101), atol=1e-12)
    # measured at the trigger: within a few microseconds of motion (50 units/s) of plan
    np.testing.assert_allclose(column(core, "m1"), planned, atol=0.05)
    assert np.ptp(column(core, "m1") - planned) < 1e-6  # constant velocity: constant lag
    # one trigger every integ_time + latency_time, counting integ_time
    np.testing.assert_allclose(np.diff(column(core, "trigger_time")), 0.002, atol=1e-9)
    np.testing.assert_allclose(column(core, "dt") - column(core, "trigger_time"), 0.002)
    np.testing.assert_allclose(column(core, "t"), 0.002)
    assert last_end(core).status is EndStatus.DONE and last_end(core).points == 101
    # overshoot corrected: back at final_pos, at the motor's own velocity and acceleration
    motor = core.pool.motor("m1")
    assert motor.position() == 10.0
    assert (motor.velocity, motor.acceleration) == (50.0, ACCEL)


def test_counter_integrates_over_the_window(core):
    """c1 is a peak at 0 of width 5; a window centred on the peak gives its average."""
    run(core, "ascanct m1 -1 1 2 0.2")
    values = column(core, "c1")
    # the first window runs from -1 to 0 at 5 units/s: mean of 11.8/(1+(x/5)^2) over it
    xs = np.linspace(-1, 0, 5)
    assert values[0] == pytest.approx(np.mean(11.8 / (1 + (xs / 5) ** 2)), rel=1e-3)
    assert values[1] < 11.8  # from 0 to 1, not the value at 0


def test_negative_nr_interv_skips_the_last_point(core):
    outcome, out = run(core, "ascanct m1 0 10 -100 0.002")
    assert outcome.state == "finish", out.errors
    planned = column(core, "m1_planned")
    assert len(planned) == 100 and planned[-1] == pytest.approx(9.9)


def test_no_overshoot_correction_leaves_the_motor_past_final(core):
    run(core, "ascanct m1 0 10 100 0.002 0 False")
    # velocity 50 units/s: the last point counts 0.002 s past 10, then a 0.05 s ramp
    assert core.pool.motor("m1").position() == pytest.approx(10 + 50 * 0.002 + 0.5 * 50 * ACCEL)


def test_overshoot_correction_from_the_environment(core):
    core.env.set("ScanOvershootCorrection", False)
    run(core, "ascanct m1 0 10 100 0.002")
    assert core.pool.motor("m1").position() > 10.5


def test_latency_time_spaces_the_triggers(core):
    run(core, "ascanct m1 0 1 4 0.01 0.02")
    np.testing.assert_allclose(np.diff(column(core, "trigger_time")), 0.03, atol=1e-9)
    np.testing.assert_allclose(column(core, "t"), 0.01)


def test_velocity_above_the_maximum_is_refused_before_moving(core):
    outcome, out = run(core, "ascanct m1 0 50 10 0.001")
    assert outcome.state == "exception"
    message = " ".join(out.errors)
    assert "m1" in message and "5000" in message and "maximum velocity 500" in message
    assert core.pool.motor("m1").position() == 0.0
    assert collector_class(core).scans == []


def test_ramp_outside_the_limits_is_refused_before_moving(core):
    # m3 may go to +-5: scanning 4..-4 at 80 units/s needs a 2 unit ramp beyond each end
    outcome, out = run(core, "ascanct m3 4 -4 10 0.01")
    assert outcome.state == "exception"
    message = " ".join(out.errors)
    assert "m3" in message and "ramp start 6" in message and "[-5, 5]" in message
    assert core.pool.motor("m3").position() == 0.0


@pytest.mark.parametrize("command, error", [
    ("ascanct m1 0 1 0 0.01", "nr_interv must not be 0"),
    ("ascanct m1 0 1 10 0", "integ_time must be a finite time above 0"),
    ("ascanct m1 0 1 10 0.01 -1", "latency_time must be a finite time of 0 or more seconds"),
    ("a2scanct m1 0 1 m1 0 1 10 0.01", "m1 is given more than once"),
])
def test_bad_parameters_are_refused(core, command, error):
    outcome, out = run(core, command)
    assert outcome.state == "exception"
    assert error in " ".join(out.errors)


def test_a2scanct_and_a3scanct_move_together(core):
    outcome, out = run(core, "a2scanct m1 0 1 m2 10 8 4 0.01")
    assert outcome.state == "finish", out.errors
    np.testing.assert_allclose(column(core, "m2_planned"), [10, 9.5, 9, 8.5, 8])
    np.testing.assert_allclose(column(core, "m2"), column(core, "m2_planned"), atol=0.01)
    assert core.pool.motor("m2").position() == 8.0
    outcome, out = run(core, "a3scanct m1 0 1 m2 0 1 m3 0 -1 2 0.01")
    assert outcome.state == "finish", out.errors
    np.testing.assert_allclose(column(core, "m3_planned"), [0, -0.5, -1])


def test_dscanct_and_d2scanct_return_to_start(core):
    core.pool.motor("m1").start_move(2.0)
    core.pool.motor("m1").wait_move(5)
    outcome, out = run(core, "dscanct m1 -1 1 4 0.01")
    assert outcome.state == "finish", out.errors
    np.testing.assert_allclose(column(core, "m1_planned"), [1, 1.5, 2, 2.5, 3])
    assert core.pool.motor("m1").position() == 2.0
    outcome, out = run(core, "d2scanct m1 0 1 m2 0 2 2 0.01")
    assert outcome.state == "finish", out.errors
    assert core.pool.motor("m2").position() == 0.0 and core.pool.motor("m1").position() == 2.0


@pytest.mark.parametrize("bidirectional", [False, True])
def test_meshct_rows(core, bidirectional):
    outcome, out = run(core, f"meshct m1 0 1 4 m2 0 2 2 0.01 {bidirectional}")
    assert outcome.state == "finish", out.errors
    info = collector_class(core).scans[-1]["info"]
    assert info.scan_shape == (3, 5) and info.npoints == 15
    fast = column(core, "m1_planned").reshape(3, 5)
    slow = column(core, "m2_planned").reshape(3, 5)
    np.testing.assert_allclose(slow, [[0] * 5, [1] * 5, [2] * 5])
    np.testing.assert_allclose(column(core, "m2").reshape(3, 5), slow)
    row = np.linspace(0, 1, 5)
    expected = [row, row[::-1] if bidirectional else row, row]
    np.testing.assert_allclose(fast, expected)
    np.testing.assert_allclose(column(core, "m1").reshape(3, 5), expected, atol=0.01)


def test_software_timing_reads_the_motor_at_each_trigger(tmp_path):
    core = make(tmp_path, CtTiming="software")
    outcome, out = run(core, "ascanct m1 0 1 10 0.02")
    assert outcome.state == "finish", out.errors
    points = scan_points(core)
    assert len(points) == 11
    triggers = column(core, "trigger_time")
    assert np.all(np.diff(triggers) > 0)
    # the readback at the trigger: where a 5 units/s motion puts the motor at that time
    velocity = 1 / (10 * 0.02)
    lag = column(core, "m1") - column(core, "m1_planned")
    late = triggers - (triggers[0] + 0.02 * np.arange(11))
    np.testing.assert_allclose(lag - lag[0], velocity * late, atol=velocity * 0.02)


def stop_during(core, command: str, when, action: str = "stop"):
    from collect import Collect

    listener = Collect()
    runner = MacroRunner(core, listener)
    runner.start(command)
    deadline = time.monotonic() + 10
    while not when() and time.monotonic() < deadline:
        time.sleep(0.002)
    getattr(runner, action)()
    return runner.wait(20), listener


def scanning(core) -> bool:
    scans = collector_class(core).scans
    return bool(scans) and len(scans[-1]["points"]) > 20


@pytest.mark.parametrize("action, status", [("stop", EndStatus.STOPPED),
                                            ("abort", EndStatus.ABORTED)])
def test_stop_and_abort_mid_motion_decelerate(core, action, status):
    motor: SimMotor = core.pool.motor("m1")
    outcome, out = stop_during(core, "ascanct m1 0 20 400 0.005", lambda: scanning(core),
                               action)
    assert outcome is not None and outcome.state in ("stop", "abort")
    end = last_end(core)
    assert end.status is status
    points = scan_points(core)
    assert end.points == len(points) > 20
    assert [p["point_nb"] for p in points] == list(range(len(points)))
    # came to rest after a deceleration ramp (not on the spot): up to v * t_acc / 2 further
    assert motor.wait_move(0)
    velocity = 20 / (400 * 0.005)
    assert points[-1]["m1"] < motor.position() <= points[-1]["m1"] + velocity * (
        0.005 * 3 + 0.05 + ACCEL)
    assert (motor.velocity, motor.acceleration) == (50.0, ACCEL)  # restored


def test_stalling_motor_ends_the_scan_with_a_clear_error(tmp_path):
    config = {**CONFIG, "motors": {**CONFIG["motors"],
                                   "m1": {**CONFIG["motors"]["m1"], "stall_at": 3.0}}}
    core = make(tmp_path, config)
    outcome, out = run(core, "ascanct m1 0 10 100 0.002")
    assert outcome.state == "exception"
    message = " ".join(out.errors)
    assert "motor m1 stopped at 3" in message and "stalled" in message
    end = last_end(core)
    assert end.status is EndStatus.FAILED and "stalled" in end.reason
    points = scan_points(core)
    assert len(points) == end.points > 0
    assert [p["point_nb"] for p in points] == list(range(len(points)))
    assert max(p["m1"] for p in points) <= 3.0 + 1e-9


def test_channel_falling_behind_ends_the_scan_with_a_clear_error(tmp_path):
    config = {**CONFIG, "channels": {**CONFIG["channels"],
                                     "c1": {**CONFIG["channels"]["c1"], "readout_rate": 50.0}}}
    core = make(tmp_path, config)
    # what c1 declares (a readout of 1/50 s) refuses the scan before anything moves ...
    outcome, out = run(core, "ascanct m1 0 10 1000 0.004", timeout=30)
    assert outcome.state == "exception" and "give latency_time 0.016 or more" in outcome.error
    assert not collector_class(core).scans
    # ... and a detector slower than it says is caught while the scan runs
    core.pool.channel("c1").min_latency = lambda integration_time: 0.0
    outcome, out = run(core, "ascanct m1 0 10 1000 0.004", timeout=30)
    assert outcome.state == "exception"
    message = " ".join(out.errors)
    assert "channel c1 fell behind the triggers" in message
    end = last_end(core)
    assert end.status is EndStatus.FAILED
    assert len(scan_points(core)) == end.points > 0


def test_pause_waits_for_the_end_of_the_row(core):
    """The motion cannot wait: a pause mid-row takes effect after it, nothing is lost."""
    from collect import Collect

    listener = Collect()
    runner = MacroRunner(core, listener)
    runner.start("meshct m1 0 10 200 m2 0 1 1 0.002")
    deadline = time.monotonic() + 10
    while not scanning(core) and time.monotonic() < deadline:
        time.sleep(0.002)
    runner.pause()
    time.sleep(0.3)
    runner.resume()
    outcome = runner.wait(20)
    assert outcome is not None and outcome.state == "finish", listener.errors
    points = scan_points(core)
    assert [p["point_nb"] for p in points] == list(range(402))
    np.testing.assert_allclose(column(core, "m1"), column(core, "m1_planned"), atol=0.01)


@pytest.mark.parametrize("command, error", [
    ("senv CtTiming fast", "CtTiming must be one of auto, software, triggered, not 'fast'"),
    ("senv ScanOvershootCorrection 1", "ScanOvershootCorrection must be True or False"),
    ("senv JsonRecordBlocks yes", "JsonRecordBlocks must be True or False"),
])
def test_continuous_scan_variables_are_checked_when_set(core, command, error):
    outcome, out = run(core, command)
    assert outcome.state == "exception"
    assert error in " ".join(out.errors)


@pytest.mark.parametrize("taken, busy, last, expected, not_expected", [
    # a steady rate too high: latency_time can fix it, and the figure is the measured one
    (5, 5 * 0.08, 0.08, "each point takes 0.08 s to trigger, read and record (measured on "
     "5 points), more than integ_time + latency_time (0.051 s): give latency_time 0.079 or "
     "more", "stall"),
    # one point stalled where the others kept the rate (the case the old message got
    # wrong: 0.0382 s per point on average, "more than 0.051 s")
    (40, 39 * 0.03 + 0.3, 0.3, "point 40 stalled, taking 0.3 s to trigger, read and record "
     "where integ_time + latency_time is 0.051 s (the 39 points before took 0.03 s each "
     "on average, within it: a longer latency_time would not help)", "give latency_time"),
    # an earlier stall, the last points on time but never catching up
    (10, 10 * 0.04, 0.04, "the 10 points took 0.04 s each on average (the last 0.04 s), "
     "within integ_time + latency_time (0.051 s): a stall before point 40", "give latency"),
    (0, 0.0, 0.0, "point 41 was due 0.2 s ago, before any point was taken", "give latency"),
])
def test_software_timing_says_why_it_fell_behind(taken, busy, last, expected, not_expected):
    message = ctscan.behind_message(41, 0.2, busy, taken, last, 0.001, 0.051)
    assert expected in message and not_expected not in message, message


@pytest.mark.parametrize("slow_points, expected", [
    (range(10**6), "each point takes"),  # every read 0.03 s, integ + latency 0.011 s
    (range(5, 6), "point 5 stalled, taking 0."),  # one read of 0.8 s
])
def test_software_timing_falling_behind_ends_the_scan_saying_why(tmp_path, slow_points,
                                                                  expected):
    core = make(tmp_path, CtTiming="software")
    channel = core.pool.channel("c1")
    reads, read = [0], channel.read

    def slow_read() -> Any:  # a counter whose readout is slower than it says
        reads[0] += 1
        if reads[0] - 1 in slow_points:
            time.sleep(0.03 if len(slow_points) > 1 else 0.8)  # > SOFTWARE_SLACK
        return read()

    channel.read = slow_read
    outcome, out = run(core, "ascanct m1 0 1 40 0.01 0.001", timeout=30)
    assert outcome.state == "exception", out.errors
    assert "software timing fell behind" in outcome.error and expected in outcome.error, \
        outcome.error
