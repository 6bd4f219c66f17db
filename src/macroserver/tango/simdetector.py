"""A simulated Lima-like detector as a Tango device, writing real HDF5 frame files.

The attributes and commands are the subset of LimaCCDs a scan uses (saving_*,
acq_*, last_image_*, image_*, prepareAcq/startAcq/stopAcq); `elements/lima.py` drives
it exactly as it drives a real Lima device. Frame size, dtype and the highest frame
rate are device properties. `macroserver up`/`demo` start it, in its own process, for
each channel whose configuration has a `simulator` table (tango/detectors.py).

Run as `python -m macroserver.tango.simdetector <instance>`; server and class
"SimLimaDetector".
"""

from __future__ import annotations

import sys
from typing import Any

from tango import AttrWriteType, DevState
from tango.server import Device, attribute, command, device_property, run

from macroserver.elements.simdetector import SimDetectorCore

SERVER = "SimLimaDetector"
IMAGE_TYPES = {"uint8": "Bpp8", "uint16": "Bpp16", "uint32": "Bpp32", "int32": "Bpp32S",
               "float32": "Bpp32F"}


def _setting(name: str, dtype: Any) -> attribute:
    """A read/write Lima attribute kept in the detector core's field of the same name."""

    def read(self: SimLimaDetector) -> Any:
        return getattr(self.core, name)

    def write(self: SimLimaDetector, value: Any) -> None:
        setattr(self.core, name, value)

    return attribute(name=name, dtype=dtype, access=AttrWriteType.READ_WRITE,
                     fget=read, fset=write)


class SimLimaDetector(Device):
    Width = device_property(dtype=int, default_value=1024)
    Height = device_property(dtype=int, default_value=1024)
    DType = device_property(dtype=str, default_value="uint16")
    Rate = device_property(dtype=float, default_value=0.0, doc="most frames per second, 0 any")
    MaxSaved = device_property(dtype=int, default_value=-1,
                               doc="fault simulation: save only this many frames (-1 all)")

    saving_directory = _setting("saving_directory", str)
    saving_prefix = _setting("saving_prefix", str)
    saving_suffix = _setting("saving_suffix", str)
    saving_format = _setting("saving_format", str)
    saving_frame_per_file = _setting("saving_frame_per_file", int)
    saving_next_number = _setting("saving_next_number", int)
    acq_nb_frames = _setting("acq_nb_frames", int)
    acq_expo_time = _setting("acq_expo_time", float)

    def init_device(self) -> None:
        super().init_device()
        self.core = SimDetectorCore((self.Height, self.Width), self.DType, self.Rate,
                                    max_saved=self.MaxSaved if self.MaxSaved >= 0 else None)
        self._trigger_mode = "INTERNAL_TRIGGER_MULTI"
        self._saving_mode = "AUTO_FRAME"

    def dev_state(self) -> DevState:
        status = self.core.status
        return {"Running": DevState.RUNNING, "Fault": DevState.FAULT}.get(status, DevState.ON)

    def dev_status(self) -> str:
        core = self.core
        text = f"acq_status {core.status}: {core.acquired} acquired, {core.saved} saved"
        return f"{text}; {core.error}" if core.error else text

    @attribute(dtype=str, access=AttrWriteType.READ_WRITE)
    def acq_trigger_mode(self) -> str:
        return self._trigger_mode

    @acq_trigger_mode.write  # type: ignore[no-redef]
    def acq_trigger_mode(self, value: str) -> None:
        if value != "INTERNAL_TRIGGER_MULTI":
            raise ValueError(f"acq_trigger_mode {value!r}: only INTERNAL_TRIGGER_MULTI "
                             "(one startAcq per frame) is simulated")
        self._trigger_mode = value

    @attribute(dtype=str, access=AttrWriteType.READ_WRITE)
    def saving_mode(self) -> str:
        return self._saving_mode

    @saving_mode.write  # type: ignore[no-redef]
    def saving_mode(self, value: str) -> None:
        if value != "AUTO_FRAME":
            raise ValueError(f"saving_mode {value!r}: only AUTO_FRAME is simulated")
        self._saving_mode = value

    @attribute(dtype=(float,), max_dim_x=4)
    def valid_ranges(self) -> list[float]:
        """Lima's [min exposure, max exposure, min latency, max latency]: the simulated
        readout takes one frame period at the most frames per second (Rate)."""
        rate = self.core.max_rate
        return [0.0, 1e6, 1.0 / rate if rate else 0.0, 1e6]

    @attribute(dtype=int)
    def last_image_acquired(self) -> int:
        return self.core.acquired - 1

    @attribute(dtype=int)
    def last_image_saved(self) -> int:
        return self.core.saved - 1

    @attribute(dtype=int)
    def image_width(self) -> int:
        return self.core.shape[1]

    @attribute(dtype=int)
    def image_height(self) -> int:
        return self.core.shape[0]

    @attribute(dtype=str)
    def image_type(self) -> str:
        return IMAGE_TYPES[self.core.dtype]

    @attribute(dtype=str)
    def acq_status(self) -> str:
        return self.core.status

    @command
    def prepareAcq(self) -> None:
        self.core.prepare()

    @command
    def startAcq(self) -> None:
        self.core.trigger()

    @command
    def stopAcq(self) -> None:
        self.core.stop()


def main() -> None:
    run((SimLimaDetector,), args=[SERVER, *sys.argv[1:]])


if __name__ == "__main__":
    main()
