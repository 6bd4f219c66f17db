"""Positions and point counts of every scan macro, seen by a recorder plug-in.

The collecting recorder is a RecorderPath plug-in (tests/collect.py); it sees exactly
what a file recorder would. Relative scans must return to their start positions after a
normal end, a stop, an abort and an error raised mid-scan.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from collect import Collect, collector_class, make_core, run, write_collector

from macroserver.elements.base import MeasurementGroup
from macroserver.engine.runner import MacroRunner
from macroserver.records import EndStatus, Role
from macroserver.streams import Level


@pytest.fixture
def core(tmp_path):
    folder = tmp_path / "recorders"
    write_collector(folder)
    return make_core(tmp_path, recorder_path=[folder])


def points(core, name: str = "collector") -> list[dict[str, Any]]:
    scan = collector_class(core, name).scans[-1]
    return [values for _, values in scan["points"]]


def last_scan(core, name: str = "collector") -> dict[str, Any]:
    return collector_class(core, name).scans[-1]


def positions(core, *motors: str) -> list[tuple[float, ...]]:
    return [tuple(p[m] for m in motors) for p in points(core)]


def approx_list(values):
    return [pytest.approx(v, abs=1e-12) for v in values]


def test_ascan_points_and_positions(core):
    outcome, out = run(core, "ascan m1 0 0.5 5 0")
    assert outcome.state == "finish", out.errors
    assert positions(core, "m1") == approx_list([(0.0,), (0.1,), (0.2,), (0.3,), (0.4,), (0.5,)])
    assert [p["point_nb"] for p in points(core)] == list(range(6))
    scan = last_scan(core)
    assert scan["info"].npoints == 6
    assert scan["end"].status is EndStatus.DONE and scan["end"].points == 6
    # the final position is exact, not start + 5 * 0.1
    assert points(core)[-1]["m1"] == 0.5
    assert core.pool.motor("m1").position() == 0.5


def test_ascan_descending_and_one_interval(core):
    run(core, "ascan m1 2 -2 4 0")
    assert positions(core, "m1") == approx_list([(2.0,), (1.0,), (0.0,), (-1.0,), (-2.0,)])
    run(core, "ascan m1 3 4 1 0")
    assert positions(core, "m1") == [(3.0,), (4.0,)]


def test_a2scan_and_a3scan_move_together(core):
    outcome, out = run(core, "a2scan m1 0 1 m2 10 20 4 0")
    assert outcome.state == "finish", out.errors
    assert positions(core, "m1", "m2") == approx_list(
        [(0, 10), (0.25, 12.5), (0.5, 15), (0.75, 17.5), (1, 20)])
    assert last_scan(core)["info"].ref_motors == ("m1", "m2")

    outcome, out = run(core, "a3scan m1 0 2 m2 0 -2 m3 5 5 2 0")
    assert outcome.state == "finish", out.errors
    assert positions(core, "m1", "m2", "m3") == approx_list([(0, 0, 5), (1, -1, 5), (2, -2, 5)])
    assert len(points(core)) == 3


def test_dscan_relative_and_back_to_start(core):
    run(core, "mv m1 3")
    outcome, out = run(core, "dscan m1 -1 1 4 0")
    assert outcome.state == "finish", out.errors
    assert positions(core, "m1") == approx_list([(2,), (2.5,), (3,), (3.5,), (4,)])
    assert core.pool.motor("m1").position() == 3.0
    assert "Returning to start positions..." in out.text(Level.INFO)


def test_d2scan_relative_and_back_to_start(core):
    run(core, "mv m1 1 m2 -1")
    outcome, out = run(core, "d2scan m1 0 1 m2 -2 0 2 0")
    assert outcome.state == "finish", out.errors
    assert positions(core, "m1", "m2") == approx_list([(1, -3), (1.5, -2), (2, -1)])
    assert core.pool.motor("m1").position() == 1.0
    assert core.pool.motor("m2").position() == -1.0


def test_mesh_first_motor_inner(core):
    outcome, out = run(core, "mesh m1 0 2 2 m2 10 11 1 0")
    assert outcome.state == "finish", out.errors
    assert positions(core, "m1", "m2") == approx_list(
        [(0, 10), (1, 10), (2, 10), (0, 11), (1, 11), (2, 11)])
    assert last_scan(core)["info"].npoints == 6
    assert last_scan(core)["info"].scan_shape == (3, 2)


def test_mesh_snake(core):
    outcome, out = run(core, "mesh m1 0 2 2 m2 0 2 2 0 True")
    assert outcome.state == "finish", out.errors
    assert positions(core, "m1", "m2") == approx_list(
        [(0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (0, 1), (0, 2), (1, 2), (2, 2)])


def test_timescan_counts_without_moving(core):
    core.pool.motor("m1").start_move(1.5)
    outcome, out = run(core, "timescan 3 0")
    assert outcome.state == "finish", out.errors
    scan = last_scan(core)
    assert len(scan["points"]) == 4
    assert scan["info"].ref_motors == ()
    assert all("m1" not in values for _, values in scan["points"])
    assert [values["t"] for _, values in scan["points"]] == [0.0] * 4
    dts = [values["dt"] for _, values in scan["points"]]
    assert dts == sorted(dts)


def test_timescan_latency_spaces_points(core):
    started = time.monotonic()
    outcome, _ = run(core, "timescan 2 0 0.2")
    assert outcome.state == "finish"
    # three points, two latencies between them
    assert time.monotonic() - started >= 0.4
    stamps = last_scan(core)["received_at"]
    assert len(stamps) == 3


def test_counter_follows_motor(core):
    run(core, "ascan m1 0 5 1 0")
    values = [p["c1"] for p in points(core)]
    assert values[0] == pytest.approx(11.8)
    assert values[1] < values[0]


# -- relative scans return to start after stop, abort and errors --------------------------


class Breaks:
    """A counter channel whose read raises at a chosen read."""

    def __init__(self, name: str, fail_at: int) -> None:
        self.name = self.label = name
        self.kind = Role.COUNTER
        self.shape: tuple[int, ...] = ()
        self.dtype = "float64"
        self.unit = ""
        self.reads = 0
        self.fail_at = fail_at

    def start(self, integration_time: float) -> None:
        pass

    def wait(self, timeout: float) -> bool:
        return True

    def read(self) -> float:
        self.reads += 1
        if self.reads - 1 == self.fail_at:
            raise OSError("detector went away")
        return float(self.reads)

    def stop(self) -> None:
        pass


def _start_and_interrupt(core, command: str, action: str, after_points: int):
    listener = Collect()
    runner = MacroRunner(core, listener)
    runner.start(command)
    cls = collector_class(core)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if cls.scans and len(cls.scans[-1]["points"]) >= after_points:
            break
        time.sleep(0.005)
    getattr(runner, action)()
    outcome = runner.wait(10)
    assert outcome is not None
    return outcome, listener


@pytest.mark.parametrize("action, status", [("stop", EndStatus.STOPPED),
                                             ("abort", EndStatus.ABORTED)])
def test_dscan_returns_after_interrupt(core, action, status):
    run(core, "mv m1 5")
    outcome, out = _start_and_interrupt(core, "dscan m1 -2 2 40 0.05", action, 3)
    assert outcome.state == ("stop" if action == "stop" else "abort")
    scan = last_scan(core)
    assert scan["end"].status is status
    assert 3 <= len(scan["points"]) < 41
    assert core.pool.motor("m1").position() == 5.0
    assert "Returning to start positions..." in out.text(Level.INFO)


@pytest.mark.parametrize("action", ["stop", "abort"])
def test_d2scan_returns_after_interrupt(core, action):
    run(core, "mv m1 1 m2 2")
    outcome, _ = _start_and_interrupt(core, "d2scan m1 0 3 m2 0 -3 30 0.05", action, 2)
    assert outcome.state in ("stop", "abort")
    assert len(last_scan(core)["points"]) < 31
    assert core.pool.motor("m1").position() == 1.0
    assert core.pool.motor("m2").position() == 2.0


def test_dscan_returns_after_channel_error(core):
    breaking = Breaks("bad", fail_at=3)
    core.pool.channels["bad"] = breaking
    core.pool.measurement_groups["mg_bad"] = MeasurementGroup(
        "mg_bad", [core.pool.channel("t"), breaking], "t")
    core.env.update({"ActiveMntGrp": "mg_bad"})
    run(core, "mv m1 -4")
    outcome, out = run(core, "dscan m1 0 1 10 0")
    assert outcome.state == "exception"
    assert "detector went away" in outcome.error
    scan = last_scan(core)
    assert len(scan["points"]) == 3
    assert scan["end"].status is EndStatus.FAILED
    assert "OSError: detector went away" in scan["end"].reason
    assert core.pool.motor("m1").position() == -4.0


def test_d2scan_returns_after_critical_recorder_failure(tmp_path):
    folder = tmp_path / "recorders"
    write_collector(folder)
    write_collector(folder, name="fragile", cls="FragileRecorder", fail_at=3)
    core = make_core(tmp_path, recorder_path=[folder],
                     env={"CriticalRecorders": ["fragile"]})
    run(core, "mv m1 2 m2 3")
    outcome, out = run(core, "d2scan m1 -1 1 m2 -1 1 50 0.01")
    assert outcome.state == "exception"
    assert "fragile" in outcome.error
    scan = last_scan(core)
    assert scan["end"].status is EndStatus.FAILED
    assert 3 <= scan["end"].points < 51  # stopped soon after the failure
    assert core.pool.motor("m1").position() == 2.0
    assert core.pool.motor("m2").position() == 3.0
    assert any("recorder fragile failed at point 3" in e for e in out.errors)


def test_critical_failure_on_last_points_is_not_missed(tmp_path):
    """With integration time 0 the scan can finish before the recorder sees point 3;
    the engine still waits for critical recorders and ends the scan failed."""
    folder = tmp_path / "recorders"
    write_collector(folder)
    write_collector(folder, name="fragile", cls="FragileRecorder", fail_at=3, sleep=0.01)
    core = make_core(tmp_path, recorder_path=[folder], env={"CriticalRecorders": "fragile"})
    run(core, "mv m1 2")
    outcome, out = run(core, "dscan m1 -1 1 5 0")
    assert outcome.state == "exception"
    assert "fragile failed at point 3" in outcome.error
    assert last_scan(core)["end"].status is EndStatus.FAILED
    assert core.pool.motor("m1").position() == 2.0


def test_dscan_returns_with_moving_motor(tmp_path):
    """A motor with a velocity: the return move really takes time and is waited for."""
    config = {
        "motors": {"slow": {"position": 1.0, "limits": [-10, 10], "velocity": 20.0}},
        "channels": {"t": {"kind": "timer"}},
        "measurement_groups": {"mg": {"timer": "t", "channels": ["t"]}},
    }
    folder = tmp_path / "recorders"
    write_collector(folder)
    core = make_core(tmp_path, config=config, recorder_path=[folder])
    started = time.monotonic()
    outcome, out = run(core, "dscan slow 0 2 4 0")
    assert outcome.state == "finish", out.errors
    # 2 units out at 20/s, then 2 units back: at least 0.2 s of motion
    assert time.monotonic() - started >= 0.18
    assert positions(core, "slow") == approx_list([(1,), (1.5,), (2,), (2.5,), (3,)])
    assert core.pool.motor("slow").position() == 1.0


def test_a_position_unreadable_during_the_count_stops_the_count(core, monkeypatch):
    """The motors' positions are read while the count runs (a round trip hidden in the
    dead time): when that read fails, the scan fails naming it and the count it cut short
    is stopped, not left counting its 30 s after the scan ended."""
    timer = core.pool.channel("t")
    motor = core.pool.motor("m1")
    readable = motor.position

    def position() -> float:
        if not timer.wait(0):  # asked while the timer counts: the encoder is gone
            raise OSError("encoder cable unplugged")
        return readable()

    monkeypatch.setattr(motor, "position", position)
    outcome, _ = run(core, "ascan m1 0 1 2 30")
    assert outcome.state == "exception"
    assert "encoder cable unplugged" in outcome.error
    assert timer.wait(0)  # stopped, not counting on
    assert last_scan(core)["points"] == []
