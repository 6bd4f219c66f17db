"""The simulated elements as Tango devices (issue 12 item 6), read with PyTango and Taurus.

One MacroServer instance ("pd") per module, on a configuration whose element names no
other test uses, so that the devices also get their names as aliases. Motion started
through a Motor device and through a macro is the same element: each shows in the other.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import tango
from collect import wait_until
from tango import AttrQuality, DevState
from tango_helpers import Events, MacroServerInstance, start_macroserver, wait_state

from macroserver.config import build_config
from macroserver.elements.base import MeasurementGroup
from macroserver.elements.tango import TangoChannel, TangoMotor
from macroserver.tango.event_probe import wait_subscriptions_live
from macroserver.tango.pool_elements import pool_elements

pytestmark = pytest.mark.timeout(180)

CONFIG = """\
data_roots = []

[motors.pdm1]
limits = [-5.0, 5.0]
velocity = 10.0
unit = "mm"

[motors.pdfast]
unit = "deg"
settling_time = 0.02

[channels.pdtimer]
kind = "timer"
unit = "s"

[channels.pdct]
kind = "counter"
motor = "pdm1"

[channels.pdspec]
kind = "spectrum"
shape = [16]
motor = "pdm1"

[channels.pdimg]
kind = "image"
shape = [8, 6]
motor = "pdm1"

[measurement_groups.pdmg]
timer = "pdtimer"
channels = ["pdtimer", "pdct", "pdspec", "pdimg"]
"""

DEVICES = {"pdm1": ("motor/pd/pdm1", "Motor"), "pdfast": ("motor/pd/pdfast", "Motor"),
           "pdtimer": ("expchan/pd/pdtimer", "CTExpChannel"),
           "pdct": ("expchan/pd/pdct", "CTExpChannel"),
           "pdspec": ("expchan/pd/pdspec", "OneDExpChannel"),
           "pdimg": ("expchan/pd/pdimg", "TwoDExpChannel"),
           "pdmg": ("mntgrp/pd/pdmg", "MeasurementGroup")}


@pytest.fixture(scope="module")
def ms(tango_db, module_device_server, tmp_path_factory) -> MacroServerInstance:
    folder = tmp_path_factory.mktemp("ms-pd")
    config = folder / "pool.toml"
    config.write_text(CONFIG)
    instance = start_macroserver(module_device_server, tango_db.tango_host, "pd", folder, config)
    instance.set_env({"ActiveMntGrp": "pdmg", "JsonRecorder": True,
                      "ScanDir": str(instance.data_dir), "ScanFile": "pd.dat"})
    return instance


def proxy(ms: MacroServerInstance, name: str) -> tango.DeviceProxy:
    device = tango.DeviceProxy(f"tango://{ms.tango_host}/{DEVICES[name][0]}")
    device.set_timeout_millis(10000)
    return device


def run_macro(ms: MacroServerInstance, *command: str) -> dict[str, Any]:
    """Run a macro through the Door's RunMacro; its final MacroStatus."""
    events = Events(ms.door)
    try:
        macro_id = ms.proxy().RunMacro(list(command))[0]
        return events.wait_end(macro_id)
    finally:
        events.close()


class ChangeEvents:
    """Change events of one attribute of an element device of `ms`, the first (current
    value) included. Returns once the subscription is live: the elements share the
    door's server, whose probe proves this process's earlier subscriptions to it
    (ZeroMQ's late joiner would otherwise lose the events of an action started at once)."""

    def __init__(self, ms: MacroServerInstance, name: str, attr: str) -> None:
        self.values: list[tuple[Any, AttrQuality]] = []
        self._cond = threading.Condition()
        self._device = proxy(ms, name)
        self._id = self._device.subscribe_event(attr, tango.EventType.CHANGE_EVENT,
                                                self._on_event)
        assert wait_subscriptions_live(ms.proxy())

    def _on_event(self, event: tango.EventData) -> None:
        if event.err:
            return
        with self._cond:
            self.values.append((event.attr_value.value, event.attr_value.quality))
            self._cond.notify_all()

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self.values), timeout), self.values

    def close(self) -> None:
        self._device.unsubscribe_event(self._id)


def test_every_simulated_element_is_a_device_with_its_name_as_alias(ms: MacroServerInstance
                                                                    ) -> None:
    db = tango.Database(*ms.tango_host.split(":"))
    registered = list(db.get_device_class_list("MacroServer/pd"))
    classes = dict(zip(registered[0::2], registered[1::2]))
    for alias, (device, cls) in DEVICES.items():
        assert classes[device] == cls
        assert db.get_device_from_alias(alias) == device
        assert tango.DeviceProxy(f"tango://{ms.tango_host}/{device}").info().dev_class == cls
        assert db.get_device_property(device, ["Element"])["Element"] == [alias]


def test_tango_backed_elements_keep_their_own_device_names() -> None:
    config = build_config({
        "motors": {"tm": {"type": "tango", "device": "lab/motor/7"}, "sm": {}},
        "channels": {"tc": {"type": "tango", "attribute": "lab/adc/1/Voltage"},
                     "bad name": {"kind": "counter"}},
        "measurement_groups": {"g": {"channels": ["tc"]}}})
    elements, problems = pool_elements(config.pool, "inst")
    found = {e.name: (e.device, e.attribute, e.served, e.type) for e in elements}
    assert found == {"tm": ("lab/motor/7", "Position", False, "Motor"),
                     "sm": ("motor/inst/sm", "Position", True, "Motor"),
                     "tc": ("lab/adc/1", "Voltage", False, "CTExpChannel"),
                     "g": ("mntgrp/inst/g", "", True, "MeasurementGroup")}
    assert problems == [("bad name: not served as a Tango device (a device name takes only "
                         "letters, digits and _ . + -)")]
    entry = next(e for e in elements if e.name == "tm").sardana_entry("db:10000", "ms/x/1")
    assert entry["full_name"] == "tango://db:10000/lab/motor/7"
    assert entry["source"] == "tango://db:10000/lab/motor/7/Position"
    assert "Moveable" in entry["interfaces"]


def test_motor_position_has_limits_and_unit_in_its_configuration(ms: MacroServerInstance) -> None:
    config = proxy(ms, "pdm1").get_attribute_config("Position")
    assert (config.min_value, config.max_value, config.unit) == ("-5.0", "5.0", "mm")
    unlimited = proxy(ms, "pdfast").get_attribute_config("Position")
    assert (unlimited.min_value, unlimited.max_value, unlimited.unit) == (
        "Not specified", "Not specified", "deg")
    with pytest.raises(tango.DevFailed, match="above the maximum|outside|greater"):
        proxy(ms, "pdm1").write_attribute("Position", 7.0)
    assert proxy(ms, "pdm1").read_attribute("Position").value != 7.0


def test_a_move_through_the_device_sends_position_events_and_is_seen_by_macros(
    ms: MacroServerInstance
) -> None:
    motor = proxy(ms, "pdm1")
    motor.write_attribute("Position", 0.0)
    wait_state(motor, DevState.ON)
    positions = ChangeEvents(ms, "pdm1", "Position")
    states = ChangeEvents(ms, "pdm1", "State")
    try:
        motor.write_attribute("Position", 3.0)  # 0.3 s at 10 mm/s
        positions.wait_for(lambda v: v[-1] == (3.0, AttrQuality.ATTR_VALID))
        states.wait_for(lambda v: [s for s, _ in v][-2:] == [DevState.MOVING, DevState.ON])
    finally:
        positions.close()
        states.close()
    moving = [p for p, q in positions.values if q == AttrQuality.ATTR_CHANGING]
    assert len(moving) >= 2 and all(0.0 <= p < 3.0 for p in moving)
    assert moving == sorted(moving)
    status = run_macro(ms, "wm", "pdm1")
    assert status["state"] == "finish"
    assert run_macro(ms, "mv", "pdm1", "3.5")["state"] == "finish"
    assert motor.read_attribute("Position").value == 3.5


def test_a_move_by_a_macro_shows_in_the_device_events(ms: MacroServerInstance) -> None:
    motor = proxy(ms, "pdm1")
    positions = ChangeEvents(ms, "pdm1", "Position")
    try:
        assert run_macro(ms, "mv", "pdm1", "-2")["state"] == "finish"
        positions.wait_for(lambda v: v[-1] == (-2.0, AttrQuality.ATTR_VALID))
    finally:
        positions.close()
    assert motor.read_attribute("Position").value == -2.0
    assert motor.state() == DevState.ON


def test_velocity_acceleration_and_stop(ms: MacroServerInstance) -> None:
    motor = proxy(ms, "pdm1")
    assert motor.read_attribute("Velocity").value == 10.0
    with pytest.raises(tango.DevFailed, match="velocity must be between 0 and inf, not -1"):
        motor.write_attribute("Velocity", -1.0)
    with pytest.raises(tango.DevFailed, match="acceleration must be >= 0 s, not -0.5"):
        motor.write_attribute("Acceleration", -0.5)
    motor.write_attribute("Velocity", 1.0)
    motor.write_attribute("Acceleration", 0.1)
    try:
        assert (motor.Velocity, motor.Acceleration) == (1.0, 0.1)
        start = motor.Position
        motor.write_attribute("Position", start + 4.0)  # 4 s at 1 mm/s
        wait_state(motor, DevState.MOVING, timeout=5)
        motor.command_inout("Stop")
        wait_state(motor, DevState.ON, timeout=10)
        stopped = motor.Position
        assert start < stopped < start + 4.0
        time.sleep(0.3)
        assert motor.Position == stopped
    finally:
        motor.write_attribute("Velocity", 10.0)
        motor.write_attribute("Acceleration", 0.0)


def test_settling_time_is_served_read_by_tango_motors_and_forecast(
        ms: MacroServerInstance) -> None:
    """SettlingTime is the configuration's settling_time; a write changes what scans
    wait (the forecast of SimulateMacro shows it); a Tango-backed motor on the device
    reads it through the device server; a bad value is refused, nothing changed."""
    motor = proxy(ms, "pdfast")
    assert motor.read_attribute("SettlingTime").value == 0.02
    assert motor.get_attribute_config("SettlingTime").unit == "s"
    with pytest.raises(tango.DevFailed, match="settling_time must be from 0 to 3600 s, "
                                              "not -1.0"):
        motor.write_attribute("SettlingTime", -1.0)
    events = ChangeEvents(ms, "pdfast", "SettlingTime")
    motor.write_attribute("SettlingTime", 0.25)
    try:
        events.wait_for(lambda v: v[-1][0] == 0.25)
        tango_motor = TangoMotor("tm", f"tango://{ms.tango_host}/{DEVICES['pdfast'][0]}")
        assert tango_motor.settling_time() == 0.25
        moved = motor.Position != 0.0  # the first point is a move unless it is there
        reply = ms.proxy().SimulateMacro(["ascan", "pdfast", "0", "1", "4", "0"])
        duration = json.loads(reply[0])["duration"]
        assert duration["settling"] == pytest.approx(0.25 * (4 + moved))
        assert any("settling 1." in line for line in reply[1:]), reply
    finally:
        events.close()
        motor.write_attribute("SettlingTime", 0.02)
    assert motor.read_attribute("SettlingTime").value == 0.02


def test_a_tango_motor_and_channel_on_these_devices_learn_each_end_from_the_reply(
    ms: MacroServerInstance
) -> None:
    """`type = "tango"` elements on these devices move with MoveAndReport, count with
    StartAndReport and wait with WaitAndReport: the device tells the end in its reply
    (with a scalar's value, read after the end), never before it. No State poll, so no
    State subscription either (issue 21: dead time)."""
    motor = TangoMotor("m", f"tango://{ms.tango_host}/{DEVICES['pdm1'][0]}")
    timer = TangoChannel("t", f"tango://{ms.tango_host}/{DEVICES['pdtimer'][0]}/Value",
                         "timer", start_command="Start")
    counter = TangoChannel("c", f"tango://{ms.tango_host}/{DEVICES['pdct'][0]}/Value",
                           start_command="Start")
    motor.start_move(-4.0)
    assert motor.wait_move(10.0)
    motor.start_move(2.0)  # 0.6 s at 10 mm/s
    assert motor.wait_move(0.01) is False  # one WaitAndReport of 10 ms: still moving
    assert motor.wait_move(10.0)
    assert motor.position() == 2.0  # the reply's, read after the end (taken once)
    proxy(ms, "pdm1").write_attribute("Position", 2.5)  # another client moves it
    wait_until(lambda: proxy(ms, "pdm1").state() == DevState.ON, "the other move's end")
    assert motor.position() == 2.5  # asked again
    motor.start_move(2.5)  # no move: over in MoveAndReport's own reply
    assert motor._over and motor.wait_move(0.0)
    assert motor._device._reports and motor._device._wake is None
    for integration in (0.3, 0.0):
        began = time.monotonic()
        timer.start(integration)
        counter.start(integration)
        assert timer.wait(5.0) and counter.wait(5.0)
        assert time.monotonic() - began >= integration
        assert timer._reported == (pytest.approx(integration),)  # the reply's value
        assert timer.read() == pytest.approx(integration)
        assert timer._reported is None  # taken once: the next read asks the device
        assert isinstance(counter.read(), float)
    assert timer._device._wake is None and counter._device._wake is None


def test_report_commands_tell_the_end_and_refuse_a_bad_wait(ms: MacroServerInstance) -> None:
    """The replies themselves: [0] while the count goes on, whatever the wait asked (a
    WaitAndReport holds the device 20 ms at most), [1, Value] after its end; an array
    channel's report carries no value, an instant move's its Position at once; a bad
    wait is refused by name."""
    timer = proxy(ms, "pdtimer")
    # a count that surely goes on while a loaded machine makes these calls (a 0.3 s one
    # could end before them), stopped after
    timer.write_attribute("IntegrationTime", 60.0)
    assert list(timer.command_inout("StartAndReport")) == [0.0]
    asked = time.monotonic()
    assert list(timer.command_inout("WaitAndReport", 30.0)) == [0.0]
    assert time.monotonic() - asked < 3.0  # capped, far below the 30 s asked
    timer.command_inout("Stop")
    wait_until(lambda: timer.state() == DevState.ON, "the stopped count's end")
    timer.write_attribute("IntegrationTime", 0.3)
    began = time.monotonic()
    report = list(timer.command_inout("StartAndReport"))
    while report == [0.0]:
        assert time.monotonic() - began < 10.0
        report = list(timer.command_inout("WaitAndReport", 0.02))
    assert time.monotonic() - began >= 0.3
    assert report == [1.0, pytest.approx(0.3)]
    for bad in (-1.0, math.nan):
        with pytest.raises(tango.DevFailed, match=f"time to wait must be >= 0 s, not {bad}"):
            timer.command_inout("WaitAndReport", bad)
    spectrum = proxy(ms, "pdspec")
    spectrum.write_attribute("IntegrationTime", 0.0)
    assert list(spectrum.command_inout("StartAndReport")) == [1.0]
    motor = proxy(ms, "pdfast")
    here = motor.read_attribute("Position").value
    assert list(motor.command_inout("MoveAndReport", here + 1.0)) == [1.0, here + 1.0]
    assert list(motor.command_inout("WaitAndReport", 0.0)) == [1.0, here + 1.0]


def test_channels_of_this_server_are_read_together(ms: MacroServerInstance) -> None:
    """A group's scalar Values on these devices come in one ReadValues per server (the
    timer's from its count's report, when it had one); an array channel is read on its
    own; ReadValues refuses by name what is no scalar channel of the server."""
    def channel(name: str, **options: Any) -> TangoChannel:
        device = f"tango://{ms.tango_host}/{DEVICES[name][0]}"
        kind = {"pdtimer": "timer", "pdspec": "spectrum"}.get(name, "counter")
        return TangoChannel(name, f"{device}/Value", kind, **options)

    sent: list[str] = []
    timer, counter, spectrum = channel("pdtimer"), channel("pdct"), channel("pdspec")
    counted_timer = channel("pdtimer", start_command="Start")
    for element in (timer, counter, spectrum, counted_timer):
        run = element._device.run

        def counted(command: str, argument: Any = None, run: Any = run) -> Any:
            sent.append(command)
            return run(command, argument)

        element._device.run = counted  # type: ignore[method-assign]
    group = MeasurementGroup("g", [counted_timer, counter], "pdtimer")
    group.start(0.25)
    assert group.wait(5.0)
    sent.clear()
    values = group.read()  # the timer's from its report, the counter alone: read
    assert sent == [] and values["pdtimer"] == 0.25
    group = MeasurementGroup("g", [timer, counter, spectrum], "pdtimer")
    values = group.read()
    assert sent == ["ReadValues"] and values["pdtimer"] == 0.25  # the last count's
    assert isinstance(values["pdct"], float) and values["pdspec"].shape == (16,)
    device = proxy(ms, "pdct")
    for name, problem in (("expchan/pd/nosuch", "is no device of this server"),
                          (DEVICES["pdm1"][0], "is no scalar channel"),
                          (DEVICES["pdspec"][0], "is no scalar channel")):
        with pytest.raises(tango.DevFailed, match=f"ReadValues: '?{name}'? {problem}"):
            device.command_inout("ReadValues", [DEVICES["pdtimer"][0], name])


def test_channels_serve_their_values_and_count_when_started(ms: MacroServerInstance) -> None:
    assert isinstance(proxy(ms, "pdct").read_attribute("Value").value, float)
    assert proxy(ms, "pdspec").read_attribute("Value").value.shape == (16,)
    assert proxy(ms, "pdimg").read_attribute("Value").value.shape == (8, 6)
    assert proxy(ms, "pdtimer").get_attribute_config("Value").unit == "s"
    timer = proxy(ms, "pdtimer")
    timer.write_attribute("IntegrationTime", 0.4)
    states = ChangeEvents(ms, "pdtimer", "State")
    try:
        timer.command_inout("Start")
        states.wait_for(lambda v: [s for s, _ in v][-2:] == [DevState.MOVING, DevState.ON])
    finally:
        states.close()
    assert timer.read_attribute("Value").value == pytest.approx(0.4)


def configuration(ms: MacroServerInstance) -> dict[str, Any]:
    return json.loads(proxy(ms, "pdmg").read_attribute("Configuration").value)


def channel_configs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {data["name"]: data for ctrl in config["controllers"].values()
            for data in ctrl["channels"].values()}


def test_measurement_group_configuration_is_sardanas_and_chooses_what_scans_acquire(
    ms: MacroServerInstance
) -> None:
    group = proxy(ms, "pdmg")
    config = configuration(ms)
    channels = channel_configs(config)
    prefix = f"tango://{ms.tango_host}/"
    assert config["timer"] == prefix + "expchan/pd/pdtimer"
    assert list(channels) == ["pdtimer", "pdct", "pdspec", "pdimg"]
    assert channels["pdspec"]["ndim"] == 1 and channels["pdimg"]["shape"] == [8, 6]
    assert channels["pdct"]["source"] == prefix + "expchan/pd/pdct/Value"
    assert all(c["enabled"] for c in channels.values())
    assert list(group.read_attribute("ElementList").value) == list(channels)

    edited = json.loads(json.dumps(config))
    for ctrl in edited["controllers"].values():
        for data in ctrl["channels"].values():
            if data["name"] == "pdimg":
                data["enabled"] = False
            if data["name"] == "pdct":
                data["label"] = "I0"
    group.write_attribute("Configuration", json.dumps(edited))
    try:
        changed = channel_configs(configuration(ms))
        assert not changed["pdimg"]["enabled"] and changed["pdct"]["label"] == "I0"
        events = Events(ms.door, ("RecordData", "MacroStatus"))
        try:
            macro_id = ms.proxy().RunMacro(["ascan", "pdfast", "0", "1", "2", "0"])[0]
            events.wait_end(macro_id)
            packets = [json.loads(v[1]) for v in events.of("RecordData") if v[1]]
        finally:
            events.close()
        names = [c["name"] for c in next(p for p in packets if p["type"] == "data_desc")
                 ["data"]["column_desc"]]
        assert "pdct" in names and "pdspec" in names and "pdimg" not in names
    finally:
        group.write_attribute("Configuration", json.dumps(config))
    assert all(c["enabled"] for c in channel_configs(configuration(ms)).values())


@pytest.mark.parametrize("change, message", [
    ("not json", "Configuration of pdmg is not JSON"),
    (json.dumps({"label": "x"}), 'needs a "controllers" object'),
    (json.dumps({"controllers": {"c": {"channels": {"tango://h:1/expchan/pd/nope": {}}}}}),
     "tango://h:1/expchan/pd/nope is not one of its channels"),
])
def test_a_bad_configuration_is_refused_and_changes_nothing(
    ms: MacroServerInstance, change: str, message: str
) -> None:
    before = configuration(ms)
    with pytest.raises(tango.DevFailed, match=message):
        proxy(ms, "pdmg").write_attribute("Configuration", change)
    assert configuration(ms) == before


def test_disabling_the_timer_is_refused(ms: MacroServerInstance) -> None:
    config = configuration(ms)
    for ctrl in config["controllers"].values():
        for data in ctrl["channels"].values():
            data["enabled"] = data["name"] != "pdtimer"
    with pytest.raises(tango.DevFailed, match="the timer 'pdtimer' must be an enabled channel"):
        proxy(ms, "pdmg").write_attribute("Configuration", json.dumps(config))
    assert all(c["enabled"] for c in channel_configs(configuration(ms)).values())


# The client leaves with os._exit once it has printed: on Python 3.13 taurus' interpreter
# teardown (its polling threads against PyTango) crashed once in a loaded suite run with
# SIGSEGV after the reads; the reads are what this test is about.
TAURUS_READ = """
import os, sys, taurus
position = taurus.Attribute(sys.argv[1] + "/Position")
value = position.read()
print(value.rvalue.magnitude, value.rvalue.units, position.range[1].magnitude)
print(taurus.Attribute(sys.argv[2] + "/State").read().rvalue.name,
      float(taurus.Attribute(sys.argv[2] + "/Value").read().rvalue.magnitude), flush=True)
os._exit(0)
"""


def test_taurus_reads_a_motor_and_a_channel(ms: MacroServerInstance, tmp_path: Path) -> None:
    assert run_macro(ms, "mv", "pdm1", "1.5")["state"] == "finish"
    motor = f"tango://{ms.tango_host}/{DEVICES['pdm1'][0]}"
    channel = f"tango://{ms.tango_host}/{DEVICES['pdct'][0]}"
    result = subprocess.run([sys.executable, "-c", TAURUS_READ, motor, channel],
                            check=False, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, (result.stdout, result.stderr)
    magnitude, unit, high = result.stdout.split()[:3]
    assert (float(magnitude), unit, float(high)) == (1.5, "mm", 5.0)
    state, value = result.stdout.split()[3:5]
    assert state == "ON" and float(value) > 0


def test_a_restart_follows_the_configuration(tango_db, device_server, tmp_path: Path) -> None:
    """Devices of removed elements go, changed limits are served, others stay."""
    config = tmp_path / "pool.toml"
    config.write_text(CONFIG.replace("pd", "pr"))
    ms = start_macroserver(device_server, tango_db.tango_host, "pr", tmp_path, config)
    db = tango.Database(*ms.tango_host.split(":"))
    assert "expchan/pr/primg" in list(db.get_device_class_list("MacroServer/pr"))
    ms.kill()
    config.write_text(CONFIG.replace("pd", "pr").replace("[-5.0, 5.0]", "[-2.0, 3.0]")
                      .replace(', "primg"]', "]").replace("[channels.primg]", "[unused]"))
    ms.start()
    registered = list(db.get_device_class_list("MacroServer/pr"))
    assert "expchan/pr/primg" not in registered and "expchan/pr/prspec" in registered
    motor = tango.DeviceProxy(f"tango://{ms.tango_host}/motor/pr/prm1")
    config_info = motor.get_attribute_config("Position")
    assert (config_info.min_value, config_info.max_value) == ("-2.0", "3.0")
    assert motor.state() == DevState.ON


def test_calibration_and_groups_changed_at_run_time_are_kept_across_a_restart(
        tango_db, device_server, tmp_path: Path) -> None:
    """DialPosition, Offset, Sign, Step_per_unit, DefinePosition on the Motor device are
    the element's calibration: a macro sees a device's change and the device a macro's;
    Position's range follows set_user_lim. A group made by defmeas on one door gets its
    device at once and is used by the other door; a Configuration written to a group's
    device (expconf's way) is kept. All of it is there after a kill and restart."""
    config = tmp_path / "pool.toml"
    config.write_text(CONFIG.replace("pd", "pc"))
    ms = start_macroserver(device_server, tango_db.tango_host, "pc", tmp_path, config)
    motor = tango.DeviceProxy(f"tango://{ms.tango_host}/motor/pc/pcm1")
    assert set(motor.get_attribute_list()) >= {
        "Position", "DialPosition", "Offset", "Sign", "Step_per_unit", "Limit_switches",
        "Backlash", "Velocity", "Acceleration"}
    assert "DefinePosition" in [c.cmd_name for c in motor.command_list_query()]
    assert run_macro(ms, "mv", "pcm1", "2")["state"] == "finish"
    motor.write_attribute("Offset", 1.5)  # user = dial + 1.5
    assert (motor.read_attribute("Position").value,
            motor.read_attribute("DialPosition").value) == (3.5, 2.0)
    motor.write_attribute("Sign", -1)  # user = -dial + 1.5
    assert motor.read_attribute("Position").value == -0.5
    motor.command_inout("DefinePosition", 1.0)  # the dial changes, the offset stays
    assert (motor.read_attribute("DialPosition").value, motor.read_attribute("Offset").value) \
        == (0.5, 1.5)
    with pytest.raises(tango.DevFailed, match="sign must be 1 or -1"):
        motor.write_attribute("Sign", 3)
    assert list(motor.read_attribute("Limit_switches").value) == [False, False, False]
    assert run_macro(ms, "set_user_lim", "pcm1", "-4", "4")["state"] == "finish"
    wait_until(lambda: motor.get_attribute_config("Position").max_value == "4.0")
    assert motor.get_attribute_config("Position").min_value == "-4.0"

    assert run_macro(ms, "defmeas", "pcnew", "pctimer", "pcct")["state"] == "finish"
    new_group = tango.DeviceProxy(f"tango://{ms.tango_host}/mntgrp/pc/pcnew")
    assert json.loads(new_group.read_attribute("Configuration").value)["timer"].endswith(
        "expchan/pc/pctimer")
    elements = json.loads(ms.proxy("ms").read_attribute("Elements").value[1])["new"]
    assert "pcnew" in [e["name"] for e in elements if e["type"] == "MeasurementGroup"]
    events = Events(ms.door_name(1))
    try:
        macro_id = tango.DeviceProxy(ms.door_name(1)).RunMacro(["ct", "0.01", "pcnew"])[0]
        assert events.wait_end(macro_id)["state"] == "finish"
        assert any("pcct" in line for line in events.lines())
    finally:
        events.close()
    group = tango.DeviceProxy(f"tango://{ms.tango_host}/mntgrp/pc/pcmg")
    edited = json.loads(group.read_attribute("Configuration").value)
    for data in channel_configs(edited).values():
        if data["name"] == "pcimg":
            data["enabled"], data["plot_type"] = False, 2
    group.write_attribute("Configuration", json.dumps(edited))
    ms.kill()
    ms.start()
    motor = tango.DeviceProxy(f"tango://{ms.tango_host}/motor/pc/pcm1")
    assert (motor.read_attribute("Position").value, motor.read_attribute("DialPosition").value,
            motor.read_attribute("Offset").value, motor.read_attribute("Sign").value) == (
        1.0, 0.5, 1.5, -1)
    config_info = motor.get_attribute_config("Position")
    assert (config_info.min_value, config_info.max_value) == ("-4.0", "4.0")
    status = run_macro(ms, "mv", "pcm1", "4.5")  # beyond the user limit kept
    assert status["state"] != "finish"
    kept = channel_configs(json.loads(tango.DeviceProxy(
        f"tango://{ms.tango_host}/mntgrp/pc/pcmg").read_attribute("Configuration").value))
    assert (kept["pcimg"]["enabled"], kept["pcimg"]["plot_type"]) == (False, 2)
    assert kept["pcct"]["enabled"]
    new_group = tango.DeviceProxy(f"tango://{ms.tango_host}/mntgrp/pc/pcnew")
    assert list(new_group.read_attribute("ElementList").value) == ["pctimer", "pcct"]
    assert run_macro(ms, "udefmeas", "pcnew")["state"] == "finish"
    registered = tango.Database(*ms.tango_host.split(":")).get_device_class_list(
        "MacroServer/pc")
    assert "mntgrp/pc/pcnew" not in list(registered)


