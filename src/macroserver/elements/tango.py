"""Motors and channels backed by Tango devices (see docs/tango-elements.md for the keys).

A motor is any device with a `Position`-like attribute whose State is MOVING while it
moves; a channel reads any scalar, spectrum or image attribute. Device proxies are made
on first use, so a server starts even while some hardware is off; every Tango failure is
re-raised as ElementError naming the element, the device or attribute and Tango's reason.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from typing import Any, Iterator, Literal, Sequence, overload

import numpy as np
import tango

from macroserver.elements.base import (
    ElementError,
    MotionSettings,
    checked_limits,
    checked_settling,
    outside_limits,
)
from macroserver.elements.calibration import Calibration
from macroserver.elements.move_timing import MoveTiming
from macroserver.elements.state_events import BUSY_STATES, StateWake
from macroserver.records import Role
from macroserver.wire import description, error_text

POLL_INTERVAL = 0.02  # the longest wait between two State polls
FIRST_POLL = 0.0005  # the first; doubled after each poll still busy (a step scan's move
#                      or count that ends at once costs a fraction of a ms, not 20 ms)
MOTOR_KEYS = {"type", "device", "attribute", "limits", "unit", "settling_time"}
#: The attribute a motor's device may tell its settling time in (seconds, read at each
#: scan's start; our Pool-like Motor devices serve it)
SETTLING_ATTRIBUTE = "SettlingTime"
#: The attributes a channel's device may tell, in seconds, the least time it needs
#: between the end of one acquisition and the next start in (Sardana's name first; read
#: at each continuous scan's pre-flight)
LATENCY_ATTRIBUTES = ("LatencyTime", "Latency")
CHANNEL_KEYS = {"type", "kind", "attribute", "label", "unit", "shape",
                "start_command", "stop_command"}
#: Our Pool-like devices' commands (tango/pool_devices.py) that reply whether the move or
#: count is over, [1, values read after its end...], or not, [0]: a State poll and a
#: value read fewer per move or count (issue 21: dead time)
MOVE_AND_REPORT = "MoveAndReport"
START_AND_REPORT = "StartAndReport"
WAIT_AND_REPORT = "WaitAndReport"
REPORT_WAIT = POLL_INTERVAL  # the longest one WaitAndReport waits (the device's cap)
#: and the command of their channels that reads the Values of several channel devices of
#: their server in one request
READ_VALUES = "ReadValues"
#: how long the position a move's report carries (read by the device after the move's
#: end) stands for the next position read: a step scan reads it at once; a read later
#: asks the device, which someone else may have moved since
REPORT_FRESH = 0.1


class _TangoDevice:
    """One device reached lazily, whose failures become ElementError naming `what`."""

    def __init__(self, what: str, device: str) -> None:
        self.what = what
        self.device = device
        self._proxy: tango.DeviceProxy | None = None
        self._written: dict[str, tango.AttributeInfoEx] = {}  # attributes written, described
        self._argument_types: dict[str, tango.CmdArgType] = {}
        self._wake: StateWake | None = None  # State events, once subscribed
        self._events_tried = False
        self._declares: dict[tuple[str, ...], str | None] = {}  # see `declared_seconds`
        self._reports: bool | None = None  # it has WaitAndReport: asked once
        self._served_by: tuple[str, str] | None = None  # (its server, its name there)
        self.seen_busy = 0.0  # when the last poll that found it busy was sent (monotonic)

    @contextmanager
    def call(self, target: str) -> Iterator[tango.DeviceProxy]:
        """The proxy, with DevFailed inside the block reported against `target`."""
        try:
            if self._proxy is None:
                self._proxy = tango.DeviceProxy(self.device)
            yield self._proxy
        except tango.DevFailed as exc:
            raise ElementError(f"{self.what} ({target}): {error_text(exc)}") from None

    def state(self) -> tango.DevState:
        with self.call(self.device) as proxy:
            return proxy.state()

    def write(self, attribute: str, value: Any) -> None:
        """Write `attribute`, whose description is asked once: PyTango's write by name asks
        the device for it at every write, a hidden round trip per point (issue 21)."""
        with self.call(f"{self.device}/{attribute}") as proxy:
            info = self._written.get(attribute)
            if info is None:
                info = self._written[attribute] = proxy.get_attribute_config(attribute)
            try:
                proxy.write_attribute(info, value)
            except tango.DevFailed:
                del self._written[attribute]  # asked again next time: the device may be new
                raise

    def declared_seconds(self, names: tuple[str, ...]) -> tuple[str, float] | None:
        """The first attribute of `names` the device has (which one it has is asked once)
        and its value now, in seconds: None when it has none of them. A value read now:
        a change written to the device counts from the next scan."""
        if names not in self._declares:
            with self.call(f"{self.device}/{names[0]}") as proxy:
                has = {a.lower(): a for a in proxy.get_attribute_list()}
            self._declares[names] = next((has[n.lower()] for n in names if n.lower() in has),
                                         None)
        attribute = self._declares[names]
        if attribute is None:
            return None
        with self.call(f"{self.device}/{attribute}") as proxy:
            return attribute, float(proxy.read_attribute(attribute).value)

    def argument_type(self, command: str) -> tango.CmdArgType:
        """The argument type of `command`, asked once."""
        if command not in self._argument_types:
            with self.call(f"{self.device}/{command}") as proxy:
                self._argument_types[command] = proxy.command_query(command).in_type
        return self._argument_types[command]

    def run(self, command: str, argument: Any = None) -> Any:
        """Run `command` (with `argument` unless None) and return its reply. The argument
        is packed here with the type asked once: PyTango asks the device for it at every
        call with an argument, a hidden round trip per point (issue 21)."""
        if argument is not None:
            data = tango.DeviceData()
            data.insert(self.argument_type(command), argument)
            argument = data
        with self.call(f"{self.device}/{command}") as proxy:
            return proxy.command_inout(command, argument)

    def has_command(self, name: str) -> bool:
        with self.call(self.device) as proxy:
            return name.lower() in (c.lower() for c in proxy.get_command_list())

    def reports(self) -> bool:
        """Whether the device reports ends in its replies (one of our Pool-like devices:
        it has WaitAndReport; asked once)."""
        if self._reports is None:
            self._reports = self.has_command(WAIT_AND_REPORT)
        return self._reports

    def served_by(self) -> tuple[str, str]:
        """(its server's admin device, its name in that server), asked once."""
        if self._served_by is None:
            with self.call(self.device) as proxy:
                self._served_by = (proxy.adm_name(), proxy.dev_name())
        return self._served_by

    def reported(self, command: str, argument: Any = None) -> tuple[float, ...] | None:
        """Run a command replying [1, values...] when the move or count is over (the
        values, read by the device after the end), [0] while it goes on (None)."""
        reply = [float(v) for v in self.run(command, argument)]
        if not reply:
            raise ElementError(f"{self.what} ({self.device}/{command}): empty reply")
        return tuple(reply[1:]) if reply[0] == 1.0 else None

    def wait_reported(self, timeout: float) -> tuple[float, ...] | None:
        """Wait up to `timeout` for the move or count under way to end: the values its
        end's report carries, None after `timeout`. The device waits on its element for
        up to REPORT_WAIT per request, so the end is seen as it comes, with its values,
        in one round trip where polling took a State read or more and a value read."""
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.0, deadline - time.monotonic())
            values = self.reported(WAIT_AND_REPORT, min(REPORT_WAIT, left))
            if values is not None or time.monotonic() >= deadline:
                return values

    def wait_not_busy(self, timeout: float, busy_for: float = 0.0) -> bool:
        """Poll State until it is neither MOVING nor RUNNING; False after `timeout`.
        The first poll comes after `busy_for` seconds (the device is known to be busy
        until then: `MoveTiming`). Between polls, a State change event of the device
        (when it sends them) ends the pause early (`StateWake`); while the device's
        events announce every end, the polls between are only a safety net, every
        POLL_INTERVAL.

        FAULT is raised as an error with the device's Status, since waiting longer will
        not help.
        """
        deadline = time.monotonic() + timeout
        if busy_for > 0:
            time.sleep(min(busy_for, timeout))
        pause = FIRST_POLL
        announced = True  # no pause yet, or the last one ended by an event
        while True:
            if self._wake is not None:
                self._wake.arm()
            sent = time.monotonic()
            state = self.state()
            if state == tango.DevState.FAULT:
                with self.call(self.device) as proxy:
                    status = proxy.status()
                raise ElementError(f"{self.what} ({self.device}) is in FAULT: {status}")
            if state not in BUSY_STATES:
                if not announced and self._wake is not None:
                    self._wake.unannounced()  # if its event never comes: poll as before
                return True
            self.seen_busy = sent
            if time.monotonic() >= deadline:
                return False
            announced = self._pause(pause)
            pause = min(2 * pause, POLL_INTERVAL)

    def _pause(self, seconds: float) -> bool:
        """Sleep between two polls, woken by a State event; False if the device's events
        are trusted and none came (the subscription is tried at the first pause: a
        device that is never busy when polled is never subscribed)."""
        if not self._events_tried:
            self._events_tried = True
            with self.call(f"{self.device}/State") as proxy:
                self._wake = StateWake.subscribe(proxy)
        if self._wake is None:
            time.sleep(seconds)
            return True
        if self._wake.trusted:
            return self._wake.sleep(POLL_INTERVAL)
        self._wake.sleep(seconds)
        return True


def _configured_limit(value: str, default: float) -> float:
    """An attribute's min/max_value as a float, `default` when it is "Not specified"."""
    try:
        return float(value)
    except ValueError:
        return default


#: The device property in which a Tango-backed motor's calibration is kept (JSON).
CALIBRATION_PROPERTY = "MacroServerCalibration"


class TangoMotor:
    """A Tango device moved by writing its position attribute, which is the motor's dial
    position; the user position is `sign * dial + offset` (`Calibration`), and the
    calibration set from the shell is kept in the device's own `MacroServerCalibration`
    property in the Tango database, so every server using the device finds it.

    `stop` runs the device's `Stop` command when it has one; a device without one cannot
    be stopped from here, so the move runs to its end.

    The settling time a step scan waits after each move is the configured one, else the
    device's `SettlingTime` attribute (seconds) when it has one, else 0.

    Our Pool-like Motor devices are moved with `MoveAndReport` and waited for with
    `WaitAndReport`: their replies tell the end, with the position read after it, which
    the next position read within REPORT_FRESH takes instead of asking again. Any other
    device is moved by writing its attribute and waited for by polling State.
    """

    def __init__(self, name: str, device: str, attribute: str = "Position",
                 limits: tuple[float, float] | None = None, unit: str | None = None,
                 settling_time: float | None = None) -> None:
        self.name = name
        self.device = device
        self.attribute = attribute
        self._target = f"{device}/{attribute}"
        self._device = _TangoDevice(f"motor {name}", device)
        self._limits = checked_limits(name, limits) if limits is not None else None
        self._unit = unit
        self._calibration: Calibration | None = None
        self._settling = None if settling_time is None else checked_settling(name, settling_time)
        self._moves = MoveTiming()
        self._reported = False  # the move under way was sent with MoveAndReport
        self._over = False  # and its end reported
        self._end: tuple[float, float] | None = None  # (dial position, monotonic) reported

    @property
    def unit(self) -> str:
        """The configured unit, else the attribute's; "" while the device is unreachable."""
        if self._unit is None:
            try:
                self._unit = self._attribute_config().unit
            except ElementError:
                return ""
        return self._unit

    def _attribute_config(self) -> tango.AttributeInfoEx:
        with self._device.call(self._target) as proxy:
            return proxy.get_attribute_config(self.attribute)

    def calibration(self) -> Calibration:
        """The calibration kept in the device's property, else none (offset 0, sign 1)
        with the configured limits, else the attribute's min/max_value, as user limits."""
        if self._calibration is None:
            with self._device.call(self._target) as proxy:
                stored = list(proxy.get_property(CALIBRATION_PROPERTY)[CALIBRATION_PROPERTY])
            if stored:
                try:
                    self._calibration = Calibration.from_json(json.loads(stored[0]), self.name)
                except ValueError as exc:
                    raise ElementError(f"{exc} (property {CALIBRATION_PROPERTY} of "
                                       f"{self.device})") from None
            else:
                self._calibration = Calibration(user_limits=self._configured_limits())
        return self._calibration

    def _configured_limits(self) -> tuple[float, float]:
        if self._limits is None:
            config = self._attribute_config()
            self._limits = (_configured_limit(config.min_value, -math.inf),
                            _configured_limit(config.max_value, math.inf))
        return self._limits

    def set_calibration(self, calibration: Calibration) -> None:
        """Apply and keep a calibration; the step per unit is the device's own."""
        if calibration.step_per_unit != self.calibration().step_per_unit:
            raise ElementError(f"motor {self.name}: the step per unit of {self.device} is "
                               f"the device's own; set it there")
        with self._device.call(self._target) as proxy:
            proxy.put_property({CALIBRATION_PROPERTY: [json.dumps(calibration.to_json())]})
        self._calibration = calibration
        self._moves.forget()

    def define_position(self, user: float) -> None:
        """The device's DefinePosition with the dial position `user` means."""
        if not self._device.has_command("DefinePosition"):
            raise ElementError(f"motor {self.name}: {self.device} has no DefinePosition "
                               f"command; set_user_pos changes the offset instead")
        self._device.run("DefinePosition", self.calibration().dial(user))
        self._moves.forget()
        self._end = None

    def keep_position(self) -> None:
        """Nothing to do: the device keeps its position."""

    def limits(self) -> tuple[float, float]:
        """Where a move may go: inside the user limits and the dial limits."""
        return self.calibration().allowed()

    def dial_position(self) -> float:
        reported, self._end = self._end, None
        if reported is not None and time.monotonic() - reported[1] < REPORT_FRESH:
            return reported[0]  # read by the device after the move's end, taken once
        with self._device.call(self._target) as proxy:
            return float(proxy.read_attribute(self.attribute).value)

    def position(self) -> float:
        return self.calibration().user(self.dial_position())

    def start_move(self, target: float) -> None:
        refused = outside_limits(self, target)
        if refused:
            raise ElementError(refused)
        dial = self.calibration().dial(float(target))
        self._over, self._end = False, None
        if self.attribute == "Position" and self._device.reports():
            self._over = self._ended(self._device.reported(MOVE_AND_REPORT, dial))
            self._reported = True
            return
        self._reported = False
        self._device.write(self.attribute, dial)
        self._moves.started(dial)

    def wait_move(self, timeout: float) -> bool:
        if self._reported:
            if not self._over:
                self._over = self._ended(self._device.wait_reported(timeout))
            return self._over
        done = self._device.wait_not_busy(timeout, self._moves.moving_for())
        if done:
            self._moves.ended(self._device.seen_busy)
        return done

    def _ended(self, report: tuple[float, ...] | None) -> bool:
        """Whether a report says the move is over; its position is kept for the next
        position read."""
        if report is None:
            return False
        self._end = (report[0], time.monotonic()) if report else None
        return True

    def settling_time(self) -> float:
        """The configured settling time, else the device's SettlingTime (read now: a
        change written to the device counts from the next scan), else 0."""
        if self._settling is not None:
            return self._settling
        declared = self._device.declared_seconds((SETTLING_ATTRIBUTE,))
        if declared is None:
            return 0.0
        try:
            return checked_settling(self.name, declared[1])
        except ValueError as exc:
            raise ElementError(f"{exc} (attribute {self.device}/{declared[0]})") from None

    def motion_settings(self) -> MotionSettings:
        """Sardana's `Velocity` (its max_value the fastest allowed) and `Acceleration`
        (seconds to reach the velocity) attributes of the device."""
        device = self._device.device
        try:
            with self._device.call(f"{device}/Velocity") as proxy:
                velocity, acceleration = (a.value for a in proxy.read_attributes(
                    ["Velocity", "Acceleration"]))
                limit = proxy.get_attribute_config("Velocity").max_value
        except ElementError as exc:
            raise ElementError(f"motor {self.name} cannot scan continuously: its device "
                               f"needs Velocity and Acceleration attributes ({exc})") from None
        return MotionSettings(float(velocity), float(acceleration),
                              _configured_limit(limit, math.inf))

    def set_motion_settings(self, settings: MotionSettings) -> None:
        self._moves.forget()
        if settings.velocity:
            self._device.write("Velocity", float(settings.velocity))
        self._device.write("Acceleration", float(settings.acceleration))

    def stop(self) -> None:
        self._moves.forget()
        self._end = None
        if self._device.has_command("Stop"):
            self._device.run("Stop")


class TangoChannel:
    """A channel reading one Tango attribute, `device/attribute`.

    Without a `start_command` it is a passive reader: `start` notes the time, `wait`
    lets the integration time pass, `read` reads the attribute. With one, `start` runs
    that command (with the integration time as argument if it takes one; else, on a
    device with Sardana's `IntegrationTime` attribute, such as our Pool-like channels,
    after writing it when it changed) and `wait` lets the integration time pass, then
    polls State until the device is no longer RUNNING or MOVING. What the command takes
    is asked once, not at every point. The device's `LatencyTime` (or `Latency`), when
    it has one, is the time it needs between acquisitions (`min_latency`). Our Pool-like
    channels are started with `StartAndReport` and waited for with `WaitAndReport`:
    their replies tell the end of the count and carry a scalar's Value, read after it,
    so neither State nor the value is read after it.
    """

    def __init__(self, name: str, attribute: str, kind: Role | str = Role.COUNTER, *,
                 label: str | None = None, unit: str | None = None,
                 shape: tuple[int, ...] | None = None, start_command: str | None = None,
                 stop_command: str | None = None) -> None:
        try:
            role = Role.of_channel(kind)
        except ValueError as exc:
            raise ValueError(f"channel {name}: {exc}") from None
        device, _, attr = attribute.rpartition("/")
        if attribute.count("/") < 3 or not attr:
            raise ValueError(f"channel {name}: attribute must be domain/family/member/attribute,"
                             f" not {attribute!r}")
        self.name = name
        self.kind = role
        self.label = label or name
        self.device = device
        self.attribute = attribute
        self.start_command = start_command
        self.stop_command = stop_command
        self._attr = attr
        self._device = _TangoDevice(f"channel {name}", device)
        self._unit = unit
        self._shape = () if role.scalar else shape
        self._dtype = "float64" if role.scalar else None
        self._count_until = 0.0
        self._start_takes_time: bool | None = None  # learnt at the first start
        self._time_attribute = False  # the device has IntegrationTime (Start takes none)
        self._time_written: float | None = None
        self._reports = False  # our Pool-like channel: StartAndReport, WaitAndReport
        self._reported: tuple[float, ...] | None = None  # the count's end, when reported
        self._server: str | None = None  # see `_values_server`; "": none (asked once)

    @property
    def unit(self) -> str:
        """The configured unit, else the attribute's; "" while the device is unreachable."""
        if self._unit is None:
            try:
                with self._device.call(self.attribute) as proxy:
                    self._unit = proxy.get_attribute_config(self._attr).unit
            except ElementError:
                return ""
        return self._unit

    @property
    def shape(self) -> tuple[int, ...]:
        """`()` for scalars; else the configured shape or that of the current value."""
        if self._shape is None:
            self._learn_array()
        assert self._shape is not None
        return self._shape

    @property
    def dtype(self) -> str:
        """float64 for scalars; else the dtype of the current value."""
        if self._dtype is None:
            self._learn_array()
        assert self._dtype is not None
        return self._dtype

    def _learn_array(self) -> None:
        value = self.read()
        if value.size == 0:
            raise ElementError(f"channel {self.name} ({self.attribute}) is empty now; "
                               f"give its shape in the configuration")
        if self._shape is None:
            self._shape = value.shape
        self._dtype = value.dtype.name

    def min_latency(self, integration_time: float) -> float:
        """The least time the device needs between acquisitions (readout, dead time), as
        its `LatencyTime` (or `Latency`) attribute says in seconds; 0 without one. The
        pre-flight of a continuous scan refuses a period shorter than that."""
        declared = self._device.declared_seconds(LATENCY_ATTRIBUTES)
        if declared is None:
            return 0.0
        attribute, seconds = declared
        if not 0.0 <= seconds < math.inf:
            raise ElementError(f"channel {self.name}: {self.device}/{attribute} must be a "
                               f"number of seconds from 0, not {seconds!r}")
        return seconds

    def start(self, integration_time: float) -> None:
        if self.start_command:
            self._send_start(integration_time)
        # the device counts from its Start, before the command returned: polling from
        # then on found it still counting at one point in six (and slept FIRST_POLL more)
        self._count_until = time.monotonic() + integration_time

    def _send_start(self, integration_time: float) -> None:
        assert self.start_command
        if self._start_takes_time is None:
            self._start_takes_time = (
                self._device.argument_type(self.start_command) != tango.DevVoid)
            with self._device.call(self._device.device) as proxy:
                self._time_attribute = not self._start_takes_time and "integrationtime" in (
                    a.lower() for a in proxy.get_attribute_list())
            self._reports = (self._time_attribute and self.start_command.lower() == "start"
                             and self._device.reports())
        if self._start_takes_time:
            self._device.run(self.start_command, integration_time)
            return
        if self._time_attribute and integration_time != self._time_written:
            self._device.write("IntegrationTime", integration_time)
            self._time_written = integration_time
        if self._reports:
            self._reported = self._device.reported(START_AND_REPORT)
        else:
            self._device.run(self.start_command)

    def wait(self, timeout: float) -> bool:
        if self._reports:  # the device waits for the end of the count and reports it
            if self._reported is None:
                self._reported = self._device.wait_reported(timeout)
            return self._reported is not None
        remaining = self._count_until - time.monotonic()
        if remaining > 0:  # sleep(0) still gives the GIL away: ~0.25 ms under load
            time.sleep(min(remaining, timeout))
        if self.start_command:  # counting ends about now: poll from here, briefly
            return self._device.wait_not_busy(max(0.0, timeout - max(0.0, remaining)))
        return remaining <= timeout

    def read(self) -> Any:
        told = self._told()
        if told is not None:
            return told
        with self._device.call(self.attribute) as proxy:
            return self._value(proxy.read_attribute(self._attr))

    def _scalar_value(self) -> bool:
        return self._attr.lower() == "value" and self.kind.scalar

    def _told(self) -> float | None:
        """The Value the count's report carried (read by the device after its end), once."""
        reported, self._reported = self._reported, None
        return reported[0] if reported and self._scalar_value() else None

    def _values_server(self) -> str | None:
        """The server of our Pool-like channel devices whose ReadValues reads this
        channel's scalar Value with the others it serves; None for any other channel."""
        if self._server is None:
            ours = self._scalar_value() and self._device.reports()
            self._server = self._device.served_by()[0] if ours else ""
        return self._server or None

    def _value(self, reading: tango.DeviceAttribute) -> Any:
        if reading.has_failed:  # in a read_attributes reply, instead of a DevFailed
            raise ElementError(f"{self._device.what} ({self.attribute}): "
                               f"{description(reading.get_err_stack()[0])}")
        if self.kind.scalar:
            return float(reading.value)
        return np.asarray(reading.value)

    @staticmethod
    def read_many(channels: Sequence[TangoChannel]) -> list[Any]:
        """The values of `channels`, with one `read_attributes` per device: a group whose
        timer and counters live on one device costs one round trip, not one per channel
        (issue 21: dead time); the scalar Values of our Pool-like channels with one
        ReadValues per server, and a Value their count's report carried not at all.
        Asynchronous requests to several devices at once were measured slower here (more
        CPU in PyTango than the round trips they overlap)."""
        values: dict[str, Any] = {}
        by_server: dict[str, list[TangoChannel]] = {}
        by_device: dict[str, list[TangoChannel]] = {}
        for channel in channels:
            told = channel._told()
            server = None if told is not None else channel._values_server()
            if told is not None:
                values[channel.name] = told
            elif server is not None:
                by_server.setdefault(server, []).append(channel)
            else:
                by_device.setdefault(channel.device, []).append(channel)
        for members in by_server.values():
            if len(members) == 1:
                by_device.setdefault(members[0].device, []).append(members[0])
                continue
            names = [channel._device.served_by()[1] for channel in members]
            reply = members[0]._device.run(READ_VALUES, names)
            if len(reply) != len(members):
                raise ElementError(f"{members[0]._device.what} ({members[0].device}/"
                                   f"{READ_VALUES}): {len(reply)} values for {names}")
            values.update((c.name, float(v)) for c, v in zip(members, reply))
        for members in by_device.values():
            if len(members) == 1:
                values[members[0].name] = members[0].read()
                continue
            target = ", ".join(channel.attribute for channel in members)
            with members[0]._device.call(target) as proxy:
                readings = proxy.read_attributes([channel._attr for channel in members])
            values.update((c.name, c._value(r)) for c, r in zip(members, readings))
        return [values[channel.name] for channel in channels]

    def stop(self) -> None:
        self._count_until = 0.0
        self._reported = None
        if self.stop_command:
            self._device.run(self.stop_command)


def _check_keys(where: str, spec: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown} (allowed: {sorted(allowed)})")


@overload
def _text(spec: dict[str, Any], key: str, where: str, required: Literal[True]) -> str: ...


@overload
def _text(spec: dict[str, Any], key: str, where: str, required: bool = False) -> str | None: ...


def _text(spec: dict[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = spec.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not (value or key == "unit"):
        raise ValueError(f"{where}: {key} must be a non-empty string, not {value!r}")
    return value


def _numbers(spec: dict[str, Any], key: str, where: str, count: int | None,
             kind: type) -> tuple | None:
    value = spec.get(key)
    if value is None:
        return None
    accepted = (int, float) if kind is float else (int,)
    ok = isinstance(value, list) and (count is None or len(value) == count) and all(
        isinstance(v, accepted) and not isinstance(v, bool) for v in value)
    if not ok:
        raise ValueError(f"{where}: {key} must be a list of {count or 'some'} "
                         f"{kind.__name__}s, not {value!r}")
    return tuple(kind(v) for v in value)


def _seconds(spec: dict[str, Any], key: str, where: str) -> float | None:
    value = spec.get(key)
    if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
        raise ValueError(f"{where}: {key} must be a number of seconds, not {value!r}")
    return None if value is None else float(value)


def build_tango_element(kind: str, name: str, spec: dict[str, Any]) -> TangoMotor | TangoChannel:
    """Build the element of a `type = "tango"` table; `kind` is "motor" or "channel".

    Bad keys or values raise ValueError naming the table; nothing contacts the device.
    """
    if kind in ("motor", "motors"):
        where = f"motors.{name}"
        _check_keys(where, spec, MOTOR_KEYS)
        return TangoMotor(name, _text(spec, "device", where, required=True),
                          attribute=_text(spec, "attribute", where) or "Position",
                          limits=_numbers(spec, "limits", where, 2, float),
                          unit=_text(spec, "unit", where),
                          settling_time=_seconds(spec, "settling_time", where))
    if kind in ("channel", "channels"):
        where = f"channels.{name}"
        _check_keys(where, spec, CHANNEL_KEYS)
        shape = _numbers(spec, "shape", where, None, int)
        try:
            role = Role.of_channel(spec.get("kind", "counter"))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if shape is not None and (len(shape) != role.ndim or min(shape) <= 0):
            raise ValueError(f"{where}: a {role.channel_kind} takes no shape" if role.scalar
                             else f"{where}: a {role.channel_kind} needs a shape of "
                                  f"{role.ndim} positive sizes")
        return TangoChannel(name, _text(spec, "attribute", where, required=True), role,
                            label=_text(spec, "label", where),
                            unit=_text(spec, "unit", where), shape=shape,
                            start_command=_text(spec, "start_command", where),
                            stop_command=_text(spec, "stop_command", where))
    raise ValueError(f"unknown Tango element kind {kind!r} (motor or channel)")
