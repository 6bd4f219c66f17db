"""A simulated trigger/gate unit and a counter wired to it, in one device server.

SimTriggerGate: `Repetitions` gates of `Active` s every `Active + Passive` s, the first
`Delay` s after `Start`; `StartedAt` is the wall-clock time of the first gate. RUNNING
while gates remain. SimGatedCounter: after `Start` it counts `Rate` counts/s during each
gate of the device named by its `Gate` property (the "cable" is a DeviceProxy), and
`ValueBuffer` holds one value per gate that has ended; `Counts` is a plain counter for
step scans.

Run as `python sim_trigger_gate.py <instance> [Tango options]`; server "SimTriggerGate".
"""

from __future__ import annotations

import sys
import time

import numpy as np
from tango import AttrWriteType, DeviceProxy, DevState
from tango.server import Device, attribute, command, device_property, run

RW = AttrWriteType.READ_WRITE


class SimTriggerGate(Device):
    def init_device(self) -> None:
        super().init_device()
        self._active, self._passive, self._repetitions, self._delay = 0.1, 0.0, 1, 0.0
        self._started_at = 0.0

    def _ended(self) -> float:
        return self._started_at + self._repetitions * (self._active + self._passive)

    def dev_state(self) -> DevState:
        return DevState.RUNNING if time.time() < self._ended() else DevState.ON

    @attribute(dtype=float, access=RW, unit="s")
    def Active(self) -> float:
        return self._active

    @Active.write
    def Active(self, value: float) -> None:
        self._active = value

    @attribute(dtype=float, access=RW, unit="s")
    def Passive(self) -> float:
        return self._passive

    @Passive.write
    def Passive(self, value: float) -> None:
        self._passive = value

    @attribute(dtype=int, access=RW)
    def Repetitions(self) -> int:
        return self._repetitions

    @Repetitions.write
    def Repetitions(self, value: int) -> None:
        self._repetitions = value

    @attribute(dtype=float, access=RW, unit="s")
    def Delay(self) -> float:
        return self._delay

    @Delay.write
    def Delay(self, value: float) -> None:
        self._delay = value

    @attribute(dtype=float, unit="s")
    def StartedAt(self) -> float:
        return self._started_at

    @command
    def Start(self) -> None:
        self._started_at = time.time() + self._delay

    @command
    def Stop(self) -> None:
        period = self._active + self._passive
        begun = max(0.0, time.time() - self._started_at)
        self._repetitions = min(self._repetitions, int(np.ceil(begun / period)))


class SimGatedCounter(Device):
    Gate = device_property(dtype=str, doc="the SimTriggerGate this counter is wired to")
    Rate = device_property(dtype=float, default_value=1000.0, doc="counts per second")

    def init_device(self) -> None:
        super().init_device()
        self._armed_at = float("inf")
        self._gate = DeviceProxy(self.Gate)

    @attribute(dtype=float, unit="counts")
    def Counts(self) -> float:
        return self.Rate * 0.1

    @attribute(dtype=(float,), max_dim_x=10_000_000, unit="counts")
    def ValueBuffer(self) -> np.ndarray:
        started, active, passive, repetitions = (a.value for a in self._gate.read_attributes(
            ["StartedAt", "Active", "Passive", "Repetitions"]))
        if started < self._armed_at:  # the gate has not started since this counter's Start
            return np.zeros(0)
        ended = int(np.floor((time.time() - started - active) / (active + passive))) + 1
        return np.full(min(max(ended, 0), repetitions), self.Rate * active)

    @command
    def Start(self) -> None:
        self._armed_at = time.time()

    @command
    def Stop(self) -> None:
        pass


def main() -> None:
    run((SimTriggerGate, SimGatedCounter), args=["SimTriggerGate", *sys.argv[1:]])


if __name__ == "__main__":
    main()
