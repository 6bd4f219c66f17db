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
import time
from dataclasses import replace
from typing import Any

import tango
from tango import AttrQuality, AttrWriteType, DevState
from tango.server import Device, attribute, command, device_property

from macroserver.elements.base import Channel, ContinuousMotor, ElementError
from macroserver.elements.base import MeasurementGroup as Group
from macroserver.engine.core import MacroServerCore
from macroserver.errors import MacroServerError
from macroserver.tango.element_watch import WATCH
from macroserver.tango.faults import throw
from macroserver.tango.mg_config import Hints, apply_configuration, build_configuration
from macroserver.tango.pool_elements import PoolElement, pool_elements

MAX_SPECTRUM = 1 << 20  # largest 1D value served, in points
MAX_IMAGE_SIDE = 1 << 14  # largest 2D value served, in pixels per side
RW = AttrWriteType.READ_WRITE
FAULTS = (MacroServerError, ElementError, ValueError)


def tango_host() -> str:
    """host:port of the database this server is registered in."""
    db = tango.Util.instance().get_database()
    return f"{db.get_db_host()}:{db.get_db_port()}"


class ElementDevice(Device):
    """What every element device has: its element, State (ON, or MOVING while it moves or
    acquires; FAULT when the element is gone) with change events, Stop and Abort."""

    Element = device_property(dtype=str, default_value="", doc="the element's name")
    MacroServerName = device_property(dtype=str, default_value="",
                                      doc="the MacroServer device whose element this is")

    def init_device(self) -> None:
        super().init_device()
        self._pushed_state: DevState | None = None
        self.set_change_event("State", True, False)
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

    def push_changes(self) -> None:
        state = self.dev_state()
        if state != self._pushed_state:
            self._pushed_state = state
            self.set_state(state)  # what Tango sends for State, whatever value is pushed
            self.push_change_event("State", state)
        self.push_value_changes(state)

    def push_value_changes(self, state: DevState) -> None:
        """Push events of the element's value attributes (by default none)."""

    @command(doc_in="stop the motion or acquisition")
    def Stop(self) -> None:
        self._call(lambda: self.element().stop(), "Stop")

    @command(doc_in="stop at once (as Stop for simulated elements)")
    def Abort(self) -> None:
        self._call(lambda: self.element().stop(), "Abort")


class Motor(ElementDevice):
    """A motor: Position (change events during moves; its limits and unit are attribute
    properties in the database, `element_export.py`), Velocity, Acceleration."""

    def init_device(self) -> None:
        super().init_device()
        self._pushed_position: float | None = None
        self.set_change_event("Position", True, False)

    def element(self) -> ContinuousMotor:
        motor = self.core().pool.motor(self.Element)
        if not isinstance(motor, ContinuousMotor):  # served motors are simulated ones
            raise ElementError(f"motor {self.Element} has no velocity settings to serve")
        return motor

    def busy(self) -> bool:
        return not self.element().wait_move(0)

    def push_value_changes(self, state: DevState) -> None:
        position = self.element().position()
        if position != self._pushed_position:
            self._pushed_position = position
            quality = AttrQuality.ATTR_CHANGING if state == DevState.MOVING else (
                AttrQuality.ATTR_VALID)
            self.push_change_event("Position", position, time.time(), quality)

    @attribute(dtype=float, access=RW, doc="user position; writing it starts a move")
    def Position(self) -> float:
        return self._call(lambda: self.element().position(), "Position")

    def write_Position(self, target: float) -> None:
        self._call(lambda: self.element().start_move(target), "Position")
        WATCH.look_now()

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


class _AcquirableDevice(ElementDevice):
    """A channel or a group: IntegrationTime and Start (one acquisition)."""

    def init_device(self) -> None:
        super().init_device()
        self._integration_time = 1.0

    def element(self) -> Channel | Group:
        raise NotImplementedError

    def busy(self) -> bool:
        return not self.element().wait(0)

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
        WATCH.look_now()


class _ChannelDevice(_AcquirableDevice):
    """An experimental channel: its Value is the last acquisition."""

    def element(self) -> Channel:
        return self.core().pool.channel(self.Element)

    def read_value(self) -> Any:
        return self._call(lambda: self.element().read(), "Value")


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
        self._hints: Hints = {}

    def element(self) -> Group:
        return self.core().pool.measurement_group(self.Element)

    def _elements(self) -> dict[str, PoolElement]:
        instance = tango.Util.instance().get_ds_inst_name()
        elements, _ = pool_elements(self.core().pool, instance)
        return {e.name: e for e in elements}

    def _controller(self) -> str:
        return f"{tango.Util.instance().get_ds_inst_name()}_simulation"

    @attribute(dtype=str, access=RW, doc="Sardana's measurement group configuration (JSON)")
    def Configuration(self) -> str:
        return self._call(lambda: json.dumps(build_configuration(
            self.element(), self._elements(), tango_host(), self._controller(), self._hints)),
            "Configuration")

    def write_Configuration(self, text: str) -> None:
        def apply() -> None:
            self._hints = apply_configuration(self.element(), text, self._elements(),
                                              tango_host())
        self._call(apply, "Configuration")  # a refused one is a ValueError: nothing changed

    @attribute(dtype=(str,), max_dim_x=1024, doc="names of the member channels")
    def ElementList(self) -> list[str]:
        return self._call(lambda: [c.name for c in self.element().members], "ElementList")

    @attribute(dtype=int, access=RW, doc="kept for clients; counting is by time")
    def MonitorCount(self) -> int:
        return self._monitor_count

    def write_MonitorCount(self, count: int) -> None:
        self._monitor_count = count

    @attribute(dtype=str, doc="Timer: counting is by integration time")
    def AcquisitionMode(self) -> str:
        return "Timer"


POOL_DEVICE_CLASSES = (Motor, CTExpChannel, OneDExpChannel, TwoDExpChannel, MeasurementGroup)
