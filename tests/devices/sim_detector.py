"""A simulated Tango detector: `Start(seconds)` counts (RUNNING meanwhile), then the
scalar `Counts`, the 256-point `Spectrum` and the 64x64 int32 `Image` hold values
proportional to the time counted; `Elapsed` is that time (a timer to read).
`LatencyTime` (s, writable, 0 at start) is the readout time it declares it needs between
two acquisitions, as Sardana's counters do.

Run as `python sim_detector.py <instance> [Tango options]`; it registers as server
"SimDetector", device class "SimDetector".
"""

from __future__ import annotations

import sys
import time

import numpy as np
from tango import AttrDataFormat, AttrWriteType, DevState
from tango.server import Device, attribute, command, device_property, run

SPECTRUM_SIZE = 256
IMAGE_SHAPE = (64, 64)


class SimDetector(Device):
    Rate = device_property(dtype=float, default_value=1000.0, doc="counts per second")

    def init_device(self) -> None:
        super().init_device()
        self._t0 = self._t1 = time.monotonic()
        self._latency = 0.0

    def _counted(self) -> float:
        """Seconds counted so far in the last acquisition."""
        return min(time.monotonic(), self._t1) - self._t0

    def dev_state(self) -> DevState:
        return DevState.RUNNING if time.monotonic() < self._t1 else DevState.ON

    @attribute(dtype=float, unit="counts")
    def Counts(self) -> float:
        return self.Rate * self._counted()

    @attribute(dtype=(float,), max_dim_x=SPECTRUM_SIZE)
    def Spectrum(self) -> np.ndarray:
        channel = np.arange(SPECTRUM_SIZE)
        peak = np.exp(-0.5 * ((channel - SPECTRUM_SIZE / 2) / 10.0) ** 2)
        return self.Rate * self._counted() * peak

    @attribute(dtype=np.int32, dformat=AttrDataFormat.IMAGE,
               max_dim_x=IMAGE_SHAPE[1], max_dim_y=IMAGE_SHAPE[0])
    def Image(self) -> np.ndarray:
        rows, cols = np.indices(IMAGE_SHAPE)
        return (rows + cols + round(self.Rate * self._counted())).astype(np.int32)

    @attribute(dtype=float, unit="s")
    def Elapsed(self) -> float:
        return self._counted()

    @attribute(dtype=float, unit="s", access=AttrWriteType.READ_WRITE)
    def LatencyTime(self) -> float:
        return self._latency

    @LatencyTime.write
    def LatencyTime(self, seconds: float) -> None:
        self._latency = seconds

    @command(dtype_in=float)
    def Start(self, seconds: float) -> None:
        self._t0 = time.monotonic()
        self._t1 = self._t0 + seconds

    @command
    def Stop(self) -> None:
        self._t1 = min(self._t1, time.monotonic())


def main() -> None:
    run((SimDetector,), args=["SimDetector", *sys.argv[1:]])


if __name__ == "__main__":
    main()
