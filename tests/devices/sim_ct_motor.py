"""A simulated Tango motor with Sardana's motion attributes: `Velocity` (units/s, its
max_value the fastest the motor goes) and `Acceleration` (s to reach the velocity),
both writable; it moves at the velocity (ramps not simulated), MOVING meanwhile. Its
`SettlingTime` (s, writable, 0 at start) is what a step scan waits after each move: the
attribute our TangoMotor reads (the device itself does not wait).

Run as `python sim_ct_motor.py <instance> [Tango options]`; server "SimCtMotor".
"""

from __future__ import annotations

import sys

from sim_motor import Travel  # the script's folder is on sys.path
from tango import AttrWriteType, DevState
from tango.server import Device, attribute, command, run


class SimCtMotor(Device):
    def init_device(self) -> None:
        super().init_device()
        self._travel = Travel()
        self._velocity, self._acceleration = 10.0, 0.1
        self._settling = 0.0

    def dev_state(self) -> DevState:
        return DevState.MOVING if self._travel.moving() else DevState.ON

    @attribute(dtype=float, unit="mm", min_value=-1000.0, max_value=1000.0)
    def Position(self) -> float:
        return self._travel.position()

    @Position.write
    def Position(self, target: float) -> None:
        self._travel.go(target, self._velocity)

    @attribute(dtype=float, access=AttrWriteType.READ_WRITE, unit="mm/s", min_value=0.0,
               max_value=200.0)
    def Velocity(self) -> float:
        return self._velocity

    @Velocity.write
    def Velocity(self, value: float) -> None:
        self._velocity = value

    @attribute(dtype=float, access=AttrWriteType.READ_WRITE, unit="s", min_value=0.0)
    def Acceleration(self) -> float:
        return self._acceleration

    @Acceleration.write
    def Acceleration(self, value: float) -> None:
        self._acceleration = value

    @attribute(dtype=float, access=AttrWriteType.READ_WRITE, unit="s", min_value=0.0)
    def SettlingTime(self) -> float:
        return self._settling

    @SettlingTime.write
    def SettlingTime(self, value: float) -> None:
        self._settling = value

    @command
    def Stop(self) -> None:
        self._travel.halt()


def main() -> None:
    run((SimCtMotor,), args=["SimCtMotor", *sys.argv[1:]])


if __name__ == "__main__":
    main()
