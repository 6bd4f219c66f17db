"""A self-saving detector behind a Tango device with Lima's interface (LimaCCDs).

Arming writes the saving attributes (saving_directory, saving_prefix, saving_suffix,
saving_format, saving_frame_per_file, saving_next_number, saving_mode), acq_nb_frames
and the trigger mode (INTERNAL_TRIGGER_MULTI: one startAcq per point), then runs
prepareAcq; the folder the device reports back must be the one asked for. Per point the
channel runs startAcq and, from the moment the frame can be ready at the earliest (its
exposure or the detector's declared readout latency, whichever is longer), polls
last_image_acquired (one read of two attributes per poll); it never reads an image.
See docs/detectors.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

from macroserver.elements.base import ElementError
from macroserver.elements.framefiles import LIMA_DATASET
from macroserver.elements.selfsaving import (
    COMMON_KEYS,
    DEFAULT_SAVE_TIMEOUT,
    SELF_SAVING,
    check_keys,
    non_negative,
    positive_int,
    simulator_core,
)
from macroserver.elements.tango import _TangoDevice
from macroserver.records import FrameCount, LinkedFrames

#: Lima's image_type values and the numpy dtype of the saved frames.
IMAGE_TYPES = {"Bpp8": "uint8", "Bpp8S": "int8", "Bpp16": "uint16", "Bpp16S": "int16",
               "Bpp32": "uint32", "Bpp32S": "int32", "Bpp32F": "float32"}
LIMA_KEYS = COMMON_KEYS | {"device", "simulator"}
SIMULATOR_KEYS = {"width", "height", "dtype", "rate", "max_saved"}
FIRST_POLL = 0.0005  # s; doubled up to LAST_POLL while a frame is awaited
LAST_POLL = 0.02
#: Tango round trips' worth of time a software-timed point costs this server beyond the
#: detector's own latency (startAcq, the frame counters polled, the trigger thread and
#: the other channels: ~10 measured on 2 loaded cores with the demo's eiger, 1.2-3.6 ms)
CALLS_PER_POINT = 10
ROUND_TRIPS_TIMED = 3


class LimaChannel:
    """One Lima-like Tango device as a self-saving channel."""

    kind = SELF_SAVING
    shape: tuple[int, ...] = ()
    dtype = "int64"
    unit = ""

    def __init__(self, name: str, device: str, *, label: str | None = None,
                 frames_per_file: int = 100, dataset: str = LIMA_DATASET,
                 save_timeout: float = DEFAULT_SAVE_TIMEOUT,
                 simulator: Mapping[str, Any] | None = None) -> None:
        self.name = name
        #: settings of the simulated device `macroserver up` starts for it (None: real)
        self.simulator = simulator
        self.label = label or name
        self.device = device
        self.frames_per_file = frames_per_file
        self.dataset = dataset
        self.save_timeout = save_timeout
        self._device = _TangoDevice(f"detector {name}", device)
        self._frame_shape: tuple[int, int] | None = None
        self._frame_dtype = ""
        self._frames = 0
        self._expo_time: float | None = None
        self._readout = 0.0  # the detector's declared latency, read when armed
        self._ready_at = 0.0  # monotonic time before which the frame cannot be ready
        self._round_trip: float | None = None  # seconds of one Tango call, timed once

    @property
    def frame_shape(self) -> tuple[int, int]:
        if self._frame_shape is None:
            self._read_image_format()
        assert self._frame_shape is not None
        return self._frame_shape

    @property
    def frame_dtype(self) -> str:
        if self._frame_shape is None:
            self._read_image_format()
        return self._frame_dtype

    def _read_image_format(self) -> None:
        with self._device.call(f"{self.device}/image_*") as proxy:
            width, height, kind = (a.value for a in proxy.read_attributes(
                ["image_width", "image_height", "image_type"]))
        if kind not in IMAGE_TYPES:
            raise ElementError(f"detector {self.name}: image_type {kind!r} is not one of "
                               f"{sorted(IMAGE_TYPES)}")
        self._frame_shape, self._frame_dtype = (int(height), int(width)), IMAGE_TYPES[kind]

    def _write(self, proxy: Any, values: Mapping[str, Any]) -> None:
        proxy.write_attributes(list(values.items()))

    def arm(self, folder: Path, prefix: str, frames: int) -> LinkedFrames:
        self._read_image_format()
        suffix = ".h5"
        with self._device.call(f"{self.device} (saving settings)") as proxy:
            self._write(proxy, {
                "acq_trigger_mode": "INTERNAL_TRIGGER_MULTI", "acq_nb_frames": frames,
                "saving_directory": str(folder), "saving_prefix": prefix,
                "saving_suffix": suffix, "saving_format": "HDF5",
                "saving_frame_per_file": self.frames_per_file, "saving_next_number": 0,
                "saving_mode": "AUTO_FRAME"})
            reported = proxy.read_attribute("saving_directory").value
            if Path(reported) != folder:
                raise ElementError(
                    f"detector {self.name} saves to {reported!r}, not to {str(folder)!r} "
                    "as the scan asked; refused (its files must be inside the data roots)")
            proxy.command_inout("prepareAcq")
        self._readout = self._declared_latency()
        self._frames = 0
        self._expo_time = None
        return LinkedFrames(self.name, folder, prefix, suffix, self.dataset,
                            self.frames_per_file, self.frame_shape, self.frame_dtype, frames)

    def _declared_latency(self) -> float:
        """Lima's `valid_ranges` (min/max exposure, min/max latency): the least latency the
        detector declares between frames (0 when the device does not say)."""
        with self._device.call(f"{self.device}/valid_ranges") as proxy:
            if "valid_ranges" not in {a.lower() for a in proxy.get_attribute_list()}:
                return 0.0
            ranges = proxy.read_attribute("valid_ranges").value
        return float(ranges[2]) if ranges is not None and len(ranges) >= 3 else 0.0

    def min_latency(self, integration_time: float) -> float:
        """The detector's declared latency plus the Tango calls a point costs this
        server, known before the first scan moves anything. The calls' cost is timed
        once, on the first asking (the slowest of three reads of the declaration: a
        loaded machine asks for more), so a refusal's figure is the one the next
        pre-flight accepts; after a scan, the measured cycle of its group speaks too."""
        if self._round_trip is None:
            times = []
            for _ in range(ROUND_TRIPS_TIMED):
                asked = time.monotonic()
                self._declared_latency()
                times.append((time.monotonic() - asked) / 2)  # two calls: list, read
            self._round_trip = max(times)
        return self._declared_latency() + CALLS_PER_POINT * self._round_trip

    def start(self, integration_time: float) -> None:
        with self._device.call(f"{self.device}/startAcq") as proxy:
            if integration_time != self._expo_time:
                proxy.write_attribute("acq_expo_time", integration_time)
                self._expo_time = integration_time
            proxy.command_inout("startAcq")
        self._ready_at = time.monotonic() + max(integration_time, self._readout)
        self._frames += 1

    def _counters(self, counter: str) -> int:
        """Frames counted by `counter` (last_image_* + 1); a Fault raises its status."""
        with self._device.call(f"{self.device}/{counter}") as proxy:
            last, status = (a.value for a in proxy.read_attributes([counter, "acq_status"]))
            if status == "Fault":
                raise ElementError(f"detector {self.name} ({self.device}) is in Fault: "
                                   f"{proxy.status().strip()}")
        return int(last) + 1

    def _wait_count(self, counter: str, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        pause = FIRST_POLL
        while self._counters(counter) < count:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(2 * pause, LAST_POLL)
        return True

    def wait(self, timeout: float) -> bool:
        early = min(self._ready_at - time.monotonic(), timeout)
        if early > 0:  # no frame before then: polling would only add Tango calls
            time.sleep(early)
            timeout -= early
        return self._wait_count("last_image_acquired", self._frames, timeout)

    def read(self) -> Any:
        return self._frames - 1

    def stop(self) -> None:
        with self._device.call(f"{self.device}/stopAcq") as proxy:
            proxy.command_inout("stopAcq")

    def finish(self, timeout: float) -> FrameCount:
        acquired = self._counters("last_image_acquired")
        self._wait_count("last_image_saved", acquired, timeout)
        saved = self._counters("last_image_saved")
        self.stop()
        return FrameCount(acquired, saved)


def build_lima_channel(name: str, spec: Mapping[str, Any]) -> LimaChannel:
    """A `type = "tango"`, `kind = "selfsaving"` channel; ValueError names a bad key."""
    where = f"channels.{name}"
    check_keys(where, spec, LIMA_KEYS)
    device = spec.get("device")
    if not isinstance(device, str) or device.count("/") < 2:
        raise ValueError(f"{where}: device must be a Tango device name (domain/family/member),"
                         f" not {device!r}")
    dataset = spec.get("dataset", LIMA_DATASET)
    if not isinstance(dataset, str) or not dataset.startswith("/"):
        raise ValueError(f"{where}: dataset must be an absolute HDF5 path, not {dataset!r}")
    simulator = spec.get("simulator")
    if simulator is not None:
        if not isinstance(simulator, dict):
            raise ValueError(f"{where}: simulator must be a table of width, height, dtype...")
        check_keys(f"{where}.simulator", simulator, SIMULATOR_KEYS)
        simulator_core(simulator, f"{where}.simulator")  # checks the values now
    return LimaChannel(name, device, label=spec.get("label"), simulator=simulator,
                       frames_per_file=positive_int(spec, "frames_per_file", where, 100),
                       dataset=dataset,
                       save_timeout=non_negative(spec, "save_timeout", where,
                                                 DEFAULT_SAVE_TIMEOUT))
