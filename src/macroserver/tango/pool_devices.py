"""Tango devices of the simulated elements, with the core members of Sardana's Pool ones.

Each device is a view of one element of a MacroServer in this process (the same object
its macros use): a move written to a Motor's Position and a move made by `mv` are the
same motion, and both show in the device's events. The element is looked up by name at
every call, so a MacroServer `Init` that rebuilds its elements is followed.
Tango class names are Sardana's (Motor, CTExpChannel, OneDExpChannel, TwoDExpChannel,
MeasurementGroup), so Taurus and Sardana's clients treat the devices as Pool elements.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from typing import Any, Protocol, cast

import numpy as np
import tango
from tango import AttrQuality, AttrWriteType, DevState, EventType
from tango.server import Device, attribute, command, device_property

from macroserver.elements.base import Channel, ContinuousMotor, ElementError
from macroserver.elements.base import MeasurementGroup as Group
from macroserver.elements.calibration import CalibratedMotor, Calibration
from macroserver.elements.sim import SimMotor
from macroserver.engine.core import MacroServerCore
from macroserver.engine.settling import settling_time
from macroserver.errors import MacroServerError
from macroserver.tango.element_watch import WATCH
from macroserver.tango.faults import throw
from macroserver.tango.mg_config import apply_configuration, build_configuration
from macroserver.tango.pool_elements import PoolElement, pool_elements

MAX_SPECTRUM = 1 << 20  # largest 1D value served, in points
MAX_IMAGE_SIDE = 1 << 14  # largest 2D value served, in pixels per side
RW = AttrWriteType.READ_WRITE
_NOTHING = object()  # no value pushed yet
ACQUISITION_MODE = "Timer"  # groups count for a time, not to a monitor count
FAULTS = (MacroServerError, ElementError, ValueError)
NO_SWITCHES = [False, False, False]  # home, upper, lower: simulated motors have none
#: the longest a WaitAndReport waits for the end (it holds the device's monitor: other
#: requests to the device, a Stop say, wait for it meanwhile)
REPORT_WAIT = 0.02


def tango_host() -> str:
    """host:port of the database this server is registered in."""
    db = tango.Util.instance().get_database()
    return f"{db.get_db_host()}:{db.get_db_port()}"


def _same(old: Any, new: Any) -> bool:
    if isinstance(new, np.ndarray) or isinstance(old, np.ndarray):
        return isinstance(old, np.ndarray) and np.array_equal(old, new)
    return bool(old == new)


class ElementDevice(Device):
    """What every element device has: its element, State (ON, or MOVING while it moves or
    acquires; FAULT when the element is gone), Stop and Abort.

    Every attribute in `EVENTS` (and State) sends change events, pushed by the element
    watch when its value changes: Taurus shows nothing for an attribute without events
    (its polling fallback did not refresh them), and with them follows every change.
    Only attributes some client subscribed to are looked at: a scan driving these devices
    must not pay, in this process, for events nobody receives (issue 21: dead time).

    Ours, not Sardana's: `MoveAndReport`, `StartAndReport` and `WaitAndReport` reply
    whether the move or count is over ([1, values...], the values read after its end)
    or not ([0]), so that a client needs no State poll and no value read after it
    (elements/tango.py; issue 21: dead time).
    """

    EVENTS: tuple[str, ...] = ("Status",)

    Element = device_property(dtype=str, default_value="", doc="the element's name")
    MacroServerName = device_property(dtype=str, default_value="",
                                      doc="the MacroServer device whose element this is")

    def init_device(self) -> None:
        super().init_device()
        self._pushed: dict[str, Any] = {}
        for name in ("State", *self.EVENTS):
            self.set_change_event(name, True, False)
        WATCH.add(self)

    def delete_device(self) -> None:
        WATCH.discard(self)

    def core(self) -> MacroServerCore:
        try:
            server = tango.Util.instance().get_device_by_name(self.MacroServerName)
        except tango.DevFailed:
            raise ElementError(f"{self.Element}: no MacroServer {self.MacroServerName!r} in "
                               f"this server") from None
        core = getattr(server, "core", None)
        if core is None:
            raise ElementError(f"{self.Element}: MacroServer {self.MacroServerName} did not "
                               f"start: {server.get_status()}")
        return core

    def element(self) -> Any:
        raise NotImplementedError

    def busy(self) -> bool:
        """True while the element moves or acquires."""
        return not self.wait_done(0.0)

    def wait_done(self, timeout: float) -> bool:
        """Wait up to `timeout` for the element's move or acquisition to end; True once
        it has (the element's own wait: the watch following the device wakes at the
        end)."""
        raise NotImplementedError

    def _call(self, action: Any, origin: str) -> Any:
        try:
            return action()
        except FAULTS as exc:
            throw(exc, f"{type(self).__name__}.{origin}")

    def dev_state(self) -> DevState:
        try:
            return DevState.MOVING if self.busy() else DevState.ON
        except FAULTS:
            return DevState.FAULT

    def dev_status(self) -> str:
        try:
            return f"{self.Element} is {'moving' if self.busy() else 'idle'}"
        except FAULTS as exc:
            return str(exc)

    def _watched(self, name: str) -> bool:
        """Whether a client follows `name`. While none does, what was pushed is forgotten:
        the next subscriber gets the next value even if it is the last one pushed (a
        count's MOVING, then no ON pushed after its subscriber left)."""
        if self.is_there_subscriber(name, EventType.CHANGE_EVENT):
            return True
        self._pushed.pop(name, None)
        return False

    def push_state(self) -> None:
        """A move or count just started: push State now if a client follows it, from the
        request that started it (waking the watch thread for it made the next request
        of a scan wait for that thread; issue 21: dead time). MOVING is pushed even if
        the last State pushed was MOVING: the watch may not have pushed the ON of the
        last move yet."""
        with tango.AutoTangoMonitor(self):
            if self._watched("State"):
                self._push_state(started=True)

    def follow_state(self) -> bool:
        with tango.AutoTangoMonitor(self):  # in order with the requests: see push_changes
            return self._watched("State") and self._push_state() == DevState.MOVING

    def _push_state(self, started: bool = False) -> DevState:
        """Push State if it changed; while it is MOVING, the watch follows the device
        and pushes its end as soon as it comes."""
        state = self.dev_state()
        moving = state == DevState.MOVING
        if state != self._pushed.get("State") or (started and moving):
            self._pushed["State"] = state
            self.set_state(state)  # what Tango sends for State, whatever value is pushed
            self.push_change_event("State", state)
        if moving:
            WATCH.follow(self)
        return state

    def push_changes(self) -> None:
        """Push what changed of the attributes clients follow. The values are computed
        first; State and they are pushed under the device's monitor, as requests run,
        so that a request's push_state and these pushes come in order (a lock of our
        own, taken before the monitor a push takes, deadlocked against a request)."""
        watched = [name for name in self.EVENTS if self._watched(name)]
        values = None
        if watched:
            try:
                values = self.event_values()
            except FAULTS:
                pass  # State says FAULT, Status why
        with tango.AutoTangoMonitor(self):
            state = self._push_state() if self._watched("State") else None
            if values is None:
                return
            if state is None:
                state = self.dev_state()  # the values' quality depends on it
            now = time.time()
            for name in watched:
                value = values[name]
                if not _same(self._pushed.get(name, _NOTHING), value):
                    self._pushed[name] = value
                    if name == "Status":
                        self.set_status(value)  # as State: Tango sends the stored one
                        self.push_change_event(name, value)
                    else:
                        self.push_change_event(name, value, now, self.quality(name, state))

    def event_values(self) -> dict[str, Any]:
        """The current value of every attribute in EVENTS."""
        return {"Status": self.dev_status()}

    def quality(self, name: str, state: DevState) -> AttrQuality:
        return AttrQuality.ATTR_VALID

    def report(self, max_wait: float) -> list[float]:
        """[1, values...] once the move or count is over (`ended_values`, read after its
        end), [0] while it still goes on after `max_wait` seconds (REPORT_WAIT at most:
        the element's own wait, which ends with it)."""
        if not max_wait >= 0:
            raise ValueError(f"{self.Element}: the time to wait must be >= 0 s, not "
                             f"{max_wait}")
        if not self.wait_done(min(max_wait, REPORT_WAIT)):
            return [0.0]
        return [1.0, *self.ended_values()]

    def ended_values(self) -> list[float]:
        """What a report carries after the 1 (here nothing: a group's values are its
        channels')."""
        return []

    @command(dtype_in=float, dtype_out=(float,),
             doc_in=f"seconds to wait for the end of the move or count (at most {REPORT_WAIT})",
             doc_out="[1, values...] once it is over (a motor's Position, a scalar "
                     "channel's Value, read after the end), [0] while it goes on")
    def WaitAndReport(self, max_wait: float) -> list[float]:
        return self._call(lambda: self.report(max_wait), "WaitAndReport")

    @command(doc_in="stop the motion or acquisition")
    def Stop(self) -> None:
        self._call(lambda: self.element().stop(), "Stop")

    @command(doc_in="stop at once (as Stop for simulated elements)")
    def Abort(self) -> None:
        self._call(lambda: self.element().stop(), "Abort")


class Motor(ElementDevice):
    """A motor: Position (change events during moves; its limits and unit are attribute
    properties in the database, `element_export.py`, and follow set_lim), Velocity,
    Acceleration, SettlingTime (ours: what a step scan waits after each move), and
    Sardana's calibration: DialPosition, Offset, Sign, Step_per_unit, Limit_switches,
    Backlash, DefinePosition (kept by the element across restarts)."""

    EVENTS: tuple[str, ...] = ("Status", "Position", "Velocity", "Acceleration",
                               "SettlingTime", "DialPosition", "Offset", "Sign",
                               "Step_per_unit", "Limit_switches", "Backlash")

    def init_device(self) -> None:
        super().init_device()
        self._served: Any = None  # the element last found servable (checked once)

    def element(self) -> ServedMotor:
        motor = self.core().pool.motor(self.Element)
        if motor is not self._served:  # isinstance with protocols: ~10 us per request
            if not isinstance(motor, ContinuousMotor) or not isinstance(motor, CalibratedMotor):
                raise ElementError(f"motor {self.Element} has no velocity settings or "
                                   f"calibration to serve")  # served motors are simulated
            self._served = motor
        return cast(ServedMotor, motor)

    def wait_done(self, timeout: float) -> bool:
        return self.element().wait_move(timeout)

    def push_changes(self) -> None:
        try:
            self._follow_limits(self.element().calibration())
        except FAULTS:
            pass  # State says FAULT, Status why
        super().push_changes()

    def event_values(self) -> dict[str, Any]:
        motor = self.element()
        settings = motor.motion_settings()
        calibration = motor.calibration()
        return {"Status": self.dev_status(), "Position": motor.position(),
                "Velocity": settings.velocity or 0.0, "Acceleration": settings.acceleration,
                "SettlingTime": settling_time(motor), "DialPosition": motor.dial_position(),
                "Offset": calibration.offset, "Sign": calibration.sign,
                "Step_per_unit": calibration.step_per_unit,
                "Limit_switches": NO_SWITCHES, "Backlash": 0.0}

    def _follow_limits(self, calibration: Calibration) -> None:
        """Position's and DialPosition's min/max_value follow the element's limits (what
        Sardana's clients read as the motor's range), whether or not a client follows
        the motor's events."""
        limits = {"Position": calibration.user_limits, "DialPosition": calibration.dial_limits}
        seen = self._pushed.get("limits")
        self._pushed["limits"] = limits
        if seen is None or limits == seen:
            return  # at start the database already has them (element_export.py)
        multi = self.get_device_attr()
        for name, (low, high) in limits.items():
            attr = multi.get_attr_by_name(name)
            properties = attr.get_properties()
            properties.min_value = repr(low) if math.isfinite(low) else "Not specified"
            properties.max_value = repr(high) if math.isfinite(high) else "Not specified"
            attr.set_properties(properties)

    def _calibrate(self, origin: str, **changes: Any) -> None:
        def apply() -> None:
            motor = self.element()
            motor.set_calibration(replace(motor.calibration(), **changes))
        self._call(apply, origin)
        WATCH.look_now(self)

    def quality(self, name: str, state: DevState) -> AttrQuality:
        """A position read while moving is CHANGING, as Sardana's motors report it."""
        if name == "Position" and state == DevState.MOVING:
            return AttrQuality.ATTR_CHANGING
        return AttrQuality.ATTR_VALID

    @attribute(dtype=float, access=RW, doc="user position; writing it starts a move")
    def Position(self) -> float:
        return self._call(lambda: self.element().position(), "Position")

    def write_Position(self, target: float) -> None:
        self._call(lambda: self.element().start_move(target), "Position")
        self.push_state()

    def ended_values(self) -> list[float]:
        """The position the move ended at (what Position reads)."""
        return [self.element().position()]

    @command(dtype_in=float, dtype_out=(float,), doc_in="the target, as written to Position",
             doc_out="[1, Position] if the move is over already, else [0] (then "
                     "WaitAndReport)")
    def MoveAndReport(self, target: float) -> list[float]:
        self.write_Position(target)
        return self._call(lambda: self.report(0.0), "MoveAndReport")

    @attribute(dtype=float, access=RW, unit="units/s", doc="0: moves are instant")
    def Velocity(self) -> float:
        return self._call(lambda: self.element().motion_settings().velocity or 0.0, "Velocity")

    def write_Velocity(self, velocity: float) -> None:
        def apply() -> None:
            motor = self.element()
            settings = motor.motion_settings()
            if not 0 <= velocity <= settings.max_velocity:
                raise ValueError(f"motor {self.Element}: velocity must be between 0 and "
                                 f"{settings.max_velocity:g}, not {velocity:g}")
            motor.set_motion_settings(replace(settings, velocity=velocity or None))
        self._call(apply, "Velocity")

    @attribute(dtype=float, access=RW, unit="s", doc="time to reach the velocity")
    def Acceleration(self) -> float:
        return self._call(lambda: self.element().motion_settings().acceleration, "Acceleration")

    def write_Acceleration(self, acceleration: float) -> None:
        def apply() -> None:
            if not acceleration >= 0:
                raise ValueError(f"motor {self.Element}: acceleration must be >= 0 s, "
                                 f"not {acceleration:g}")
            motor = self.element()
            motor.set_motion_settings(replace(motor.motion_settings(), acceleration=acceleration))
        self._call(apply, "Acceleration")

    @attribute(dtype=float, access=RW, unit="s",
               doc="time a step scan waits after each move before counting (settle time; "
                   "the configuration's settling_time; a write lasts until a restart)")
    def SettlingTime(self) -> float:
        return self._call(lambda: settling_time(self.element()), "SettlingTime")

    def write_SettlingTime(self, seconds: float) -> None:
        def apply() -> None:
            motor = self.element()
            if not isinstance(motor, SimMotor):
                raise ElementError(f"motor {self.Element}: its settling time is not ours to "
                                   f"set")
            motor.set_settling_time(seconds)
        self._call(apply, "SettlingTime")

    @attribute(dtype=float, doc="position in dial units (user = sign * dial + offset)")
    def DialPosition(self) -> float:
        return self._call(lambda: self.element().dial_position(), "DialPosition")

    @attribute(dtype=float, access=RW, doc="user = sign * dial + offset")
    def Offset(self) -> float:
        return self._call(lambda: self.element().calibration().offset, "Offset")

    def write_Offset(self, offset: float) -> None:
        self._calibrate("Offset", offset=offset)

    @attribute(dtype=int, access=RW, doc="1 or -1: user = sign * dial + offset")
    def Sign(self) -> int:
        return self._call(lambda: self.element().calibration().sign, "Sign")

    def write_Sign(self, sign: int) -> None:
        self._calibrate("Sign", sign=sign)

    @attribute(dtype=float, access=RW, doc="hardware steps per dial unit")
    def Step_per_unit(self) -> float:
        return self._call(lambda: self.element().calibration().step_per_unit, "Step_per_unit")

    def write_Step_per_unit(self, step_per_unit: float) -> None:
        self._calibrate("Step_per_unit", step_per_unit=step_per_unit)

    @attribute(dtype=(bool,), max_dim_x=3,
               doc="home, upper and lower limit switches (simulated motors have none)")
    def Limit_switches(self) -> list[bool]:
        return NO_SWITCHES

    @attribute(dtype=float, doc="backlash correction in user units (none: simulated)")
    def Backlash(self) -> float:
        return 0.0

    @command(dtype_in=float, doc_in="the user position the motor is at now (the dial "
                                    "changes, the offset stays)")
    def DefinePosition(self, position: float) -> None:
        self._call(lambda: self.element().define_position(position), "DefinePosition")
        WATCH.look_now(self)


class ServedMotor(ContinuousMotor, CalibratedMotor, Protocol):
    """What a Motor device serves: a simulated motor's motion settings and calibration."""


class _AcquirableDevice(ElementDevice):
    """A channel or a group: IntegrationTime and Start (one acquisition)."""

    EVENTS: tuple[str, ...] = ("Status", "IntegrationTime")

    def init_device(self) -> None:
        super().init_device()
        self._integration_time = 1.0

    def element(self) -> Channel | Group:
        raise NotImplementedError

    def wait_done(self, timeout: float) -> bool:
        return self.element().wait(timeout)

    def event_values(self) -> dict[str, Any]:
        return {"Status": self.dev_status(), "IntegrationTime": self._integration_time}

    @attribute(dtype=float, access=RW, unit="s", doc="integration time of Start")
    def IntegrationTime(self) -> float:
        return self._integration_time

    def write_IntegrationTime(self, seconds: float) -> None:
        if not seconds >= 0:
            throw(ValueError(f"{self.Element}: integration time must be >= 0, not {seconds}"),
                  f"{type(self).__name__}.IntegrationTime")
        self._integration_time = seconds

    @command(doc_in="acquire once for IntegrationTime seconds")
    def Start(self) -> None:
        self._call(lambda: self.element().start(self._integration_time), "Start")
        self.started()

    @command(dtype_out=(float,), doc_out="[1, a scalar's value] if the count is over "
                                        "already, else [0] (then WaitAndReport)")
    def StartAndReport(self) -> list[float]:
        self.Start()
        return self._call(lambda: self.report(0.0), "StartAndReport")

    def started(self) -> None:
        """Tell the clients following State that it changed (a group's: below)."""
        self.push_state()


class _ChannelDevice(_AcquirableDevice):
    """An experimental channel: its Value, read live (a simulated counter's noise changes
    it at every read, so its events come at the watch's pace)."""

    EVENTS: tuple[str, ...] = ("Status", "IntegrationTime", "Value")

    def event_values(self) -> dict[str, Any]:
        return {**super().event_values(), "Value": self.element().read()}

    def element(self) -> Channel:
        return self.core().pool.channel(self.Element)

    def ended_values(self) -> list[float]:
        """A scalar's value (what Value reads); an array is read by its client."""
        channel = self.element()
        return [float(channel.read())] if channel.kind.scalar else []

    def read_value(self) -> Any:
        return self._call(lambda: self.element().read(), "Value")

    @command(dtype_in=(str,), dtype_out=(float,),
             doc_in="names of scalar channel devices of this server (ours, not Sardana's)",
             doc_out="their Values, read now, in the same order")
    def ReadValues(self, names: list[str]) -> list[float]:
        return self._call(lambda: read_values(names), "ReadValues")


def read_values(names: list[str]) -> list[float]:
    """The Values of scalar channel devices of this server, read now: one request where
    reading each device's Value took one each (a scan's counters; issue 21: dead time)."""
    util = tango.Util.instance()
    values = []
    for name in names:
        try:
            device = util.get_device_by_name(name)
        except tango.DevFailed:
            raise ValueError(f"ReadValues: {name!r} is no device of this server") from None
        channel = device.element() if isinstance(device, _ChannelDevice) else None
        if channel is None or not channel.kind.scalar:
            raise ValueError(f"ReadValues: {name} is no scalar channel")
        values.append(float(channel.read()))
    return values


class CTExpChannel(_ChannelDevice):
    """A counter or timer: a scalar Value."""

    Value = attribute(dtype=float, fget=_ChannelDevice.read_value, doc="last acquisition")


class OneDExpChannel(_ChannelDevice):
    """A 1D detector: a spectrum Value."""

    Value = attribute(dtype=(float,), max_dim_x=MAX_SPECTRUM, fget=_ChannelDevice.read_value,
                      doc="last acquisition")


class TwoDExpChannel(_ChannelDevice):
    """A 2D detector: an image Value."""

    Value = attribute(dtype=((float,),), max_dim_x=MAX_IMAGE_SIDE, max_dim_y=MAX_IMAGE_SIDE,
                      fget=_ChannelDevice.read_value, doc="last acquisition")


class MeasurementGroup(_AcquirableDevice):
    """A measurement group: Sardana's JSON Configuration (timer and enabled channels, what
    expconf edits), IntegrationTime, ElementList and Start."""

    def init_device(self) -> None:
        super().init_device()
        self._monitor_count = 0

    def element(self) -> Group:
        return self.core().pool.measurement_group(self.Element)

    def started(self) -> None:
        """Its channels' devices change too: every device is looked at now (and this one
        followed while it counts, as a channel's)."""
        super().started()
        WATCH.look_now()

    def _elements(self) -> dict[str, PoolElement]:
        instance = tango.Util.instance().get_ds_inst_name()
        elements, _ = pool_elements(self.core().pool, instance)
        return {e.name: e for e in elements}

    EVENTS: tuple[str, ...] = ("Status", "IntegrationTime", "Configuration", "ElementList",
                               "MonitorCount", "AcquisitionMode")

    def event_values(self) -> dict[str, Any]:
        return {**super().event_values(), "Configuration": self.configuration(),
                "ElementList": self.member_names(),
                "MonitorCount": self._monitor_count, "AcquisitionMode": ACQUISITION_MODE}

    def member_names(self) -> list[str]:
        return [c.name for c in self.element().members]

    def configuration(self) -> str:
        return json.dumps(build_configuration(self.element(), self._elements(), tango_host()))

    @attribute(dtype=str, access=RW, doc="Sardana's measurement group configuration (JSON)")
    def Configuration(self) -> str:
        return self._call(self.configuration, "Configuration")

    def write_Configuration(self, text: str) -> None:
        def apply() -> None:
            group = self.element()
            group.hints = apply_configuration(group, text, self._elements(), tango_host())
            self.core().pool.group_changed(group)  # kept across restarts
        self._call(apply, "Configuration")  # a refused one is a ValueError: nothing changed

    @attribute(dtype=(str,), max_dim_x=1024, doc="names of the member channels")
    def ElementList(self) -> list[str]:
        return self._call(self.member_names, "ElementList")

    @attribute(dtype=int, access=RW, doc="kept for clients; counting is by time")
    def MonitorCount(self) -> int:
        return self._monitor_count

    def write_MonitorCount(self, count: int) -> None:
        self._monitor_count = count

    @attribute(dtype=str, doc="Timer: counting is by integration time")
    def AcquisitionMode(self) -> str:
        return ACQUISITION_MODE


POOL_DEVICE_CLASSES = (Motor, CTExpChannel, OneDExpChannel, TwoDExpChannel, MeasurementGroup)
