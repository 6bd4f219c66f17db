"""A simulated Tango motor: moves at `Velocity` units/s, MOVING meanwhile, with a Stop command.

Run as `python sim_motor.py <instance> [Tango options]`; it registers as server "SimMotor",
device class "SimMotor".
"""

from __future__ import annotations

import sys
import time

from tango import DevState
from tango.server import Device, attribute, command, device_property, run


class Travel:
    """A straight move at constant velocity; where it is at any time (shared by the
    simulated motor devices)."""

    def __init__(self) -> None:
        self._from = self._to = 0.0
        self._t0 = self._t1 = time.monotonic()

    def position(self) -> float:
        now = time.monotonic()
        if now >= self._t1:
            return self._to
        return self._from + (self._to - self._from) * (now - self._t0) / (self._t1 - self._t0)

    def moving(self) -> bool:
        return time.monotonic() < self._t1

    def go(self, target: float, velocity: float) -> None:
        start = self.position()
        self._from, self._to = start, target
        self._t0 = time.monotonic()
        self._t1 = self._t0 + abs(target - start) / velocity

    def halt(self) -> None:
        self._to = self.position()
        self._t1 = time.monotonic()


class SimMotor(Device):
    Velocity = device_property(dtype=float, default_value=10.0, doc="units per second")

    def init_device(self) -> None:
        super().init_device()
        self._travel = Travel()

    def dev_state(self) -> DevState:
        return DevState.MOVING if self._travel.moving() else DevState.ON

    def dev_status(self) -> str:
        return f"The motor is {self.dev_state()} at {self._travel.position():g}"

    @attribute(dtype=float, unit="mm", min_value=-1000.0, max_value=1000.0, format="%8.4f")
    def Position(self) -> float:
        return self._travel.position()

    @Position.write
    def Position(self, target: float) -> None:
        self._travel.go(target, self.Velocity)

    @command
    def Stop(self) -> None:
        self._travel.halt()


def main() -> None:
    run((SimMotor,), args=["SimMotor", *sys.argv[1:]])


if __name__ == "__main__":
    main()
