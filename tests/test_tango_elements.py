"""Tango-backed motors and channels against the simulated device servers (tests/devices)."""

from __future__ import annotations

import math
import re
import time
import tomllib

import numpy as np
import pytest
import tango
from collect import wait_until
from conftest import SIM_MOTOR_SERVER

from macroserver.elements.base import Channel, ElementError, MeasurementGroup, Motor
from macroserver.elements.state_events import StateWake
from macroserver.elements.tango import TangoChannel, TangoMotor, build_tango_element

pytestmark = pytest.mark.timeout(60)

RATE = 1000.0  # SimDetector's default counts per second


def _tables(text: str) -> dict:
    return tomllib.loads(text)


def test_motor_from_toml_moves_and_reads_back(sim_motor: str) -> None:
    spec = _tables(f'[motors.m1]\ntype = "tango"\ndevice = "{sim_motor}"\n')["motors"]["m1"]
    motor = build_tango_element("motor", "m1", spec)
    assert isinstance(motor, Motor)
    target = motor.position() + 5.0  # 0.25 s at the sim velocity
    motor.start_move(target)
    assert motor.wait_move(0.0) is False  # still MOVING
    assert motor.wait_move(5.0) is True
    assert motor.position() == pytest.approx(target)


def test_motor_unit_and_limits_come_from_the_attribute(sim_motor: str) -> None:
    motor = TangoMotor("m1", sim_motor)
    assert motor.unit == "mm"
    assert motor.limits() == (-1000.0, 1000.0)


def test_configured_limits_refuse_a_target_before_moving(sim_motor: str) -> None:
    motor = TangoMotor("m1", sim_motor, limits=(-20.0, 20.0), unit="deg")
    before = motor.position()
    with pytest.raises(ElementError, match=r"m1: target 25 is outside its limits \[-20, 20\]"):
        motor.start_move(25.0)
    assert motor.wait_move(0.0) is True
    assert motor.position() == before
    assert motor.unit == "deg"


def test_stop_ends_a_move_half_way(sim_motor: str) -> None:
    motor = TangoMotor("m1", sim_motor)
    start = motor.position()
    target = start + 20.0 * (1 if start < 0 else -1)  # 1 s at the sim velocity
    motor.start_move(target)
    wait_until(lambda: motor.position() != start, "the move's start")  # not a guessed sleep
    motor.stop()
    assert motor.wait_move(1.0) is True
    stopped = motor.position()
    assert min(start, target) < stopped < max(start, target)
    time.sleep(0.1)
    assert motor.position() == stopped


def _triggered(name: str, device: str, attribute: str, kind: str) -> TangoChannel:
    return TangoChannel(name, f"{device}/{attribute}", kind, start_command="Start",
                        stop_command="Stop")


def test_counter_counts_for_the_integration_time(sim_detector: str) -> None:
    channel = _triggered("ct", sim_detector, "Counts", "counter")
    assert isinstance(channel, Channel)
    assert (channel.shape, channel.dtype, channel.unit) == ((), "float64", "counts")
    channel.start(0.2)
    assert channel.wait(0.0) is False  # RUNNING
    assert channel.wait(5.0) is True
    value = channel.read()
    assert isinstance(value, float) and value == pytest.approx(0.2 * RATE, rel=0.05)


def test_spectrum_and_image_have_the_device_shapes(sim_detector: str) -> None:
    spectrum = _triggered("spec", sim_detector, "Spectrum", "spectrum")
    image = _triggered("img", sim_detector, "Image", "image")
    assert (spectrum.shape, spectrum.dtype) == ((256,), "float64")
    assert (image.shape, image.dtype) == ((64, 64), "int32")
    spectrum.start(0.1)
    assert spectrum.wait(5.0)
    values = spectrum.read()
    assert values.shape == (256,) and values.argmax() == 128
    pixels = image.read()
    assert isinstance(pixels, np.ndarray) and pixels.shape == (64, 64)
    assert (pixels[0, 0], pixels[63, 63]) == (100, 226)  # rows + columns + counts


def test_passive_channel_waits_out_the_integration_time(sim_detector: str) -> None:
    channel = build_tango_element("channel", "c1", {
        "type": "tango", "kind": "counter", "attribute": f"{sim_detector}/Elapsed",
        "label": "Elapsed time", "unit": ""})
    assert (channel.label, channel.unit) == ("Elapsed time", "")
    began = time.monotonic()
    channel.start(0.3)
    assert channel.wait(0.05) is False
    assert channel.wait(5.0) is True
    assert 0.3 <= time.monotonic() - began < 1.0
    channel.start(10.0)
    channel.stop()
    assert channel.wait(0.0) is True


def test_missing_device_is_an_element_error_naming_it(tango_db) -> None:
    channel = TangoChannel("ghost", "test/nosuch/1/Counts")
    with pytest.raises(ElementError, match="channel ghost .test/nosuch/1/Counts.: .*test/nosuch/1"):
        channel.read()
    motor = TangoMotor("gm", "test/nosuch/2")
    with pytest.raises(ElementError, match="motor gm .test/nosuch/2/Position.: .*test/nosuch/2"):
        motor.position()
    assert motor.unit == ""


def test_measurement_group_of_tango_channels_counts_and_reads(sim_detector: str) -> None:
    tables = _tables(f"""
        [channels.t1]
        type = "tango"
        kind = "timer"
        attribute = "{sim_detector}/Elapsed"
        start_command = "Start"
        stop_command = "Stop"
        [channels.ct1]
        type = "tango"
        attribute = "{sim_detector}/Counts"
        [channels.spec1]
        type = "tango"
        kind = "spectrum"
        attribute = "{sim_detector}/Spectrum"
        shape = [256]
    """)["channels"]
    channels = [build_tango_element("channel", n, s) for n, s in tables.items()]
    group = MeasurementGroup("mg", channels[::-1], timer="t1")
    assert [c.name for c in group.channels][0] == "t1"
    group.start(0.2)
    assert group.wait(5.0)
    values = group.read()
    assert set(values) == {"t1", "ct1", "spec1"}
    assert values["t1"] == pytest.approx(0.2, abs=0.02)
    assert values["ct1"] == pytest.approx(0.2 * RATE, rel=0.1)
    assert values["spec1"].shape == (256,)


def test_a_group_read_names_the_channel_whose_attribute_fails(sim_detector: str) -> None:
    # the group reads a device's channels in one request: one failing attribute is
    # still reported against its own channel, and the others read fine on their own
    good = TangoChannel("ct1", f"{sim_detector}/Counts")
    bad = TangoChannel("nope", f"{sim_detector}/NoSuchAttribute")
    group = MeasurementGroup("mg", [good, bad], timer="ct1")
    with pytest.raises(ElementError, match=f"channel nope .{sim_detector}/NoSuchAttribute.: "):
        group.read()
    assert MeasurementGroup("mg", [good], timer="ct1").read()["ct1"] >= 0.0


@pytest.mark.parametrize(("kind", "spec", "message"), [
    ("motor", {"type": "tango"}, "motors.x: device must be a non-empty string"),
    ("motor", {"type": "tango", "device": "a/b/c", "speed": 3}, r"unknown keys \['speed'\]"),
    ("motor", {"type": "tango", "device": "a/b/c", "limits": [1]}, "limits must be a list of 2"),
    ("motor", {"type": "tango", "device": "a/b/c", "settling_time": "1"},
     "motors.x: settling_time must be a number of seconds, not '1'"),
    ("motor", {"type": "tango", "device": "a/b/c", "settling_time": -1},
     "motor x: settling_time must be from 0 to 3600 s, not -1.0"),
    ("channel", {"type": "tango", "attribute": "test/counter/1"},
     "must be domain/family/member/attribute"),
    ("channel", {"type": "tango", "kind": "image", "attribute": "a/b/c/d", "shape": [4]},
     "image needs a shape of 2 positive sizes"),
    ("channel", {"type": "tango", "kind": "histogram", "attribute": "a/b/c/d"},
     "kind must be one of"),
    ("detector", {}, "unknown Tango element kind"),
])
def test_bad_tables_are_refused_with_their_name(kind: str, spec: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_tango_element(kind, "x", spec)


def test_unbounded_when_the_attribute_sets_no_limits(sim_detector: str) -> None:
    motor = TangoMotor("fake", sim_detector, attribute="Counts")
    assert motor.limits() == (-math.inf, math.inf)


def test_a_bad_key_in_the_configuration_names_the_table_once(tmp_path) -> None:
    from macroserver.config import load_config
    from macroserver.errors import ConfigError

    path = tmp_path / "bad.toml"
    path.write_text('[channels.c1]\ntype = "tango"\nattribute = "a/b/c/d"\nspeed = 3\n')
    with pytest.raises(ConfigError) as refused:
        load_config(str(path))
    assert str(refused.value) == (
        f"configuration {path}: channels.c1: unknown keys ['speed'] (allowed: ['attribute', "
        "'kind', 'label', 'shape', 'start_command', 'stop_command', 'type', 'unit'])")


def test_a_tango_motor_is_calibrated_and_its_device_keeps_it(sim_motor: str, tmp_path) -> None:
    """set_user_pos on a Tango-backed motor: the offset is kept in the device's property
    in the Tango database, so a fresh `macroserver run` finds the same user position;
    its limits follow; DefinePosition is refused for a device without the command."""
    import json
    import subprocess
    import sys

    import tango

    config = tmp_path / "tango.toml"
    config.write_text(f'[motors.tm]\ntype = "tango"\ndevice = "{sim_motor}"\n')

    def run(*commands: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "macroserver.cli.admin", "run",
                               "--config", str(config), "--env", str(tmp_path / "env.json"),
                               *commands], capture_output=True, text=True, timeout=120)

    device = tango.DeviceProxy(sim_motor)
    try:
        done = run("mv tm 2", "set_user_pos tm 12", "wm tm")
        assert done.returncode == 0, done.stderr
        assert "tm reset from 2.0000 (offset 0.0000) to 12.0000 (offset 10.0000)" in done.stdout
        assert re.search(r" High\s+1010\.0\n Current\s+12\.0\n Low\s+-990\.0\n"
                         r"Dial\s+\n High\s+inf\n Current\s+2\.0\n", done.stdout), done.stdout
        stored = json.loads(device.get_property("MacroServerCalibration")
                            ["MacroServerCalibration"][0])
        assert (stored["offset"], stored["user_limits"]) == (10.0, [-990.0, 1010.0])
        done = run("mv tm 13", "wa")  # a fresh process: the device's dial is 3
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-2:] == ["User   13.0000", "Dial    3.0000"]
        assert device.read_attribute("Position").value == pytest.approx(3.0)
        done = run("set_dial_pos tm 0")
        assert done.returncode == 1 and "has no DefinePosition command" in done.stderr
        done = run("set_step_per_unit tm 2")
        assert done.returncode == 1 and "the device's own" in done.stderr
    finally:
        device.delete_property("MacroServerCalibration")
        device.write_attribute("Position", 0.0)


def test_state_events_that_never_come_or_a_device_gone_do_not_stall_a_wait(
    device_server, monkeypatch
) -> None:
    """A motor whose server polls State every 20 ms sends the State events that wake a
    wait. One whose server polls State once a minute accepts the State event subscription
    but sends no event in time: the wait still ends with the move (the poll decides,
    events only wake it early), and the next wait polls as without events. When the
    device goes away during a wait, the wait fails naming it, subscription or not."""
    device, fast = "test/motor/slowpoll", "test/motor/fastpoll"
    server = device_server(SIM_MOTOR_SERVER, "SimMotor", "slowpoll",
                           {"SimMotor": {name: {"properties": {"Velocity": ["20"]}}
                                         for name in (device, fast)}})
    tango.DeviceProxy(device).poll_attribute("State", 60000)
    tango.DeviceProxy(fast).poll_attribute("State", 20)
    heard: list[tango.DevState] = []
    on_event = StateWake._on_event

    def listen(wake: StateWake, event: tango.EventData) -> None:
        if not event.err:
            heard.append(event.attr_value.value)
        on_event(wake, event)

    monkeypatch.setattr(StateWake, "_on_event", listen)
    polled = TangoMotor("fast", fast)
    polled.start_move(polled.position() + 10.0)  # 0.5 s: subscribed while it moves
    assert polled.wait_move(5.0) is True
    assert polled._device._wake is not None  # subscribed, and its ON event comes
    wait_until(lambda: tango.DevState.ON in heard, "the ON event of the move's end", 10.0)
    motor = TangoMotor("slow", device)
    target = motor.position() + 5.0  # 0.25 s
    motor.start_move(target)
    assert motor.wait_move(5.0) is True
    assert motor._device._wake is not None  # subscribed: the event path was taken
    assert motor.position() == pytest.approx(target)
    motor.start_move(target - 100.0)  # 5 s
    assert motor.wait_move(0.1) is False
    assert motor._device._wake.trusted is False  # the end came without its event
    server.kill()
    server.wait(10)
    with pytest.raises(ElementError, match=f"motor slow \\({device}\\)"):
        motor.wait_move(10.0)


def _timed_polls(motor: TangoMotor) -> list[float]:
    """The times at which the motor's waits read its device's State, from now on."""
    polls: list[float] = []
    state = motor._device.state

    def timed_state() -> tango.DevState:
        polls.append(time.monotonic())
        return state()

    motor._device.state = timed_state  # type: ignore[method-assign]
    return polls


def test_equal_steps_wait_out_what_the_last_step_moved_before_polling(sim_motor: str) -> None:
    """A device without State events: after a few equal steps the wait's first poll comes
    no earlier than most of a step (it polled at once before), and every wait still ends
    with its move."""
    motor = TangoMotor("steps", sim_motor)
    polls = _timed_polls(motor)
    here = motor.position()
    step = 1.0 if here < 900 else -1.0  # 50 ms at the sim velocity
    first_polls = []
    for n in range(1, 6):
        polls.clear()
        motor.start_move(here + n * step)
        written = time.monotonic()
        assert motor.wait_move(5.0) is True
        assert motor.position() == pytest.approx(here + n * step)
        first_polls.append(polls[0] - written)
    assert min(first_polls[3:]) >= 0.025, first_polls  # polled at once without MoveTiming


def test_a_tango_counter_declares_its_latency_and_a_continuous_scan_heeds_it(
        sim_detector: str, sim_motor: str, tmp_path) -> None:
    """The device's LatencyTime is the channel's least time between acquisitions, read at
    each scan (a write counts from the next): a continuous scan whose period leaves less
    is refused before anything moves, saying what latency_time to give, and runs with
    it. A device without the attribute declares none; a bad value is named."""
    from collect import make_core, run

    device = tango.DeviceProxy(sim_detector)
    channel = _triggered("det", sim_detector, "Counts", "counter")
    assert channel.min_latency(0.01) == 0.0
    assert TangoChannel("pos", f"{sim_motor}/Position").min_latency(0.01) == 0.0
    core = make_core(tmp_path, {
        "motors": {"m1": {"limits": [-1000.0, 1000.0], "velocity": 1000.0,
                          "acceleration": 0.05}},
        "channels": {"t": {"kind": "timer"},
                     "det": {"type": "tango", "attribute": f"{sim_detector}/Counts",
                             "start_command": "Start", "stop_command": "Stop"}},
        "measurement_groups": {"mg": {"timer": "t", "channels": ["t", "det"]}},
    }, env={"ScanDir": str(tmp_path / "data"), "ScanFile": ["lat.h5"]})
    device.write_attribute("LatencyTime", 0.05)
    try:
        assert channel.min_latency(0.01) == 0.05
        outcome, out = run(core, "ascanct m1 0 1 5 0.01", timeout=60)
        assert outcome.state == "exception"
        message = " ".join(out.errors)
        assert "channel det needs 0.05 s between acquisitions" in message, message
        assert "give latency_time 0.05 or more" in message and not (tmp_path / "data" /
                                                                    "lat.h5").exists()
        outcome, out = run(core, "ascanct m1 0 1 5 0.01 0.05", timeout=60)
        assert outcome.state == "finish", out.errors
        device.write_attribute("LatencyTime", -1.0)
        with pytest.raises(ElementError, match=f"channel det: {sim_detector}/LatencyTime "
                                               "must be a number of seconds from 0, not -1.0"):
            channel.min_latency(0.01)
    finally:
        device.write_attribute("LatencyTime", 0.0)


def test_a_step_scan_records_each_point_where_the_motor_came_to_rest(
        sim_motor: str, sim_detector: str, tmp_path) -> None:
    """A step scan on the plain pair reads the motor's position while the count runs
    (a round trip hidden under the integration time): each point still carries the
    position the moving SimMotor came to rest at (its target, as the device reads it
    after the scan) and counts of the whole integration time, never a value from
    before the end of the count or of the move."""
    from collect import collector_class, make_core, run, write_collector

    recorders = tmp_path / "recorders"
    write_collector(recorders)
    core = make_core(tmp_path, {
        "motors": {"tm": {"type": "tango", "device": sim_motor}},
        "channels": {"t": {"type": "tango", "kind": "timer",
                           "attribute": f"{sim_detector}/Elapsed",
                           "start_command": "Start", "stop_command": "Stop"},
                     "ct": {"type": "tango", "attribute": f"{sim_detector}/Counts"}},
        "measurement_groups": {"mg": {"timer": "t", "channels": ["t", "ct"]}},
    }, recorder_path=[recorders])
    device = tango.DeviceProxy(sim_motor)
    try:
        outcome, out = run(core, "ascan tm 1 3 4 0.05", timeout=60)
        assert outcome.state == "finish", out.errors
        points = [values for _, values in collector_class(core).scans[-1]["points"]]
        assert [p["tm"] for p in points] == [1.0, 1.5, 2.0, 2.5, 3.0]
        assert device.read_attribute("Position").value == 3.0
        assert device.state() == tango.DevState.ON
        for point in points:  # the detector counted 0.05 s at every point, to its end
            assert point["t"] == pytest.approx(0.05, abs=1e-6)
            assert point["ct"] == pytest.approx(RATE * 0.05, rel=1e-4)
    finally:
        device.write_attribute("Position", 0.0)
        wait_until(lambda: device.state() == tango.DevState.ON, "the motor back at 0")


def test_equal_steps_catch_up_with_a_motor_made_faster(sim_motor: str) -> None:
    """A generic motor whose steps of 1 take 50 ms, then 5 ms (its Velocity property
    changed and the device re-initialised behind the element's back): each step found
    done at its first poll polls the next one earlier, twice as much each time, so
    within twelve steps a first poll comes within 10 ms of the write (90 % of the last
    wait, each time, took 22); every wait ends with its move."""
    device = tango.DeviceProxy(sim_motor)
    motor = TangoMotor("faster", sim_motor)
    polls = _timed_polls(motor)

    def steps(count: int, start: float) -> list[float]:
        first_polls = []
        for n in range(1, count + 1):
            polls.clear()
            motor.start_move(start + n)
            written = time.monotonic()
            assert motor.wait_move(5.0) is True
            assert device.read_attribute("Position").value == start + n
            first_polls.append(polls[0] - written)
        return first_polls

    try:
        motor.start_move(-4.0)
        assert motor.wait_move(5.0) is True
        steps(4, -4.0)  # 50 ms each: learnt, ending at 0
        device.put_property({"Velocity": ["200"]})
        device.Init()  # at 0 still, ten times faster
        first_polls = steps(12, 0.0)
        assert min(first_polls) < 0.010, first_polls
    finally:
        device.put_property({"Velocity": [str(20.0)]})
        device.Init()
