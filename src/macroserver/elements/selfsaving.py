"""Self-saving detectors: channels whose device writes its own frame files.

The scan never reads their pixels. Before the first point it arms the detector (saving
folder and prefix under ScanDir, the planned number of frames); per point it triggers
one frame and waits only for the detector's frame counter; the channel's value is the
frame number, and recorders link the detector's files (`records.LinkedFrames`).
Implementations: `SimSelfSavingChannel` here (in-process simulation) and
`lima.LimaChannel` (any Tango device with Lima's interface).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Protocol, runtime_checkable

from macroserver.elements.base import Channel, ElementError
from macroserver.elements.framefiles import LIMA_DATASET
from macroserver.elements.simdetector import DTYPES, SimDetectorCore
from macroserver.records import FrameCount, LinkedFrames, Role

SELF_SAVING = Role.FRAME  # the kind of a self-saving channel
#: Keys of a `kind = "selfsaving"` channel table (`simulator` only with type = "tango").
COMMON_KEYS = {"type", "kind", "label", "frames_per_file", "dataset", "save_timeout"}
SIM_KEYS = COMMON_KEYS | {"width", "height", "dtype", "rate", "max_saved"}
DEFAULT_SAVE_TIMEOUT = 30.0


@runtime_checkable
class SelfSavingChannel(Channel, Protocol):
    """A channel whose device saves its frames; its value per point is the frame number."""

    frame_shape: tuple[int, int]
    frame_dtype: str
    save_timeout: float

    def arm(self, folder: Path, prefix: str, frames: int) -> LinkedFrames:
        """Set the saving folder and prefix, prepare `frames` frames; where they will be."""

    def finish(self, timeout: float) -> FrameCount:
        """Wait up to `timeout` s for the saving to catch up, stop; what was acquired/saved."""


def is_self_saving(channel: Channel) -> bool:
    return getattr(channel, "kind", None) == SELF_SAVING


class SimSelfSavingChannel:
    """A simulated detector in this process, saving real HDF5 files in a thread."""

    kind = SELF_SAVING
    shape: tuple[int, ...] = ()
    dtype = "int64"
    unit = ""

    def __init__(self, name: str, core: SimDetectorCore, label: str | None = None,
                 save_timeout: float = DEFAULT_SAVE_TIMEOUT) -> None:
        self.name = name
        self.label = label or name
        self.core = core
        self.frame_shape = core.shape
        self.frame_dtype = core.dtype
        self.save_timeout = save_timeout
        self._frames = 0  # frames triggered in this scan

    def arm(self, folder: Path, prefix: str, frames: int) -> LinkedFrames:
        core = self.core
        core.saving_directory, core.saving_prefix = str(folder), prefix
        core.acq_nb_frames, core.saving_next_number = frames, 0
        self._frames = 0
        try:
            core.prepare()
        except (ValueError, OSError) as exc:
            raise ElementError(f"detector {self.name}: {exc}") from None
        return LinkedFrames(self.name, folder, prefix, core.saving_suffix, LIMA_DATASET,
                            core.saving_frame_per_file, self.frame_shape, self.frame_dtype,
                            frames)

    def min_latency(self, integration_time: float) -> float:
        """A frame takes at least 1/rate: the rest of it after the exposure."""
        rate = self.core.max_rate
        return max(0.0, 1.0 / rate - integration_time) if rate else 0.0

    def start(self, integration_time: float) -> None:
        self.core.acq_expo_time = integration_time
        try:
            self.core.trigger()
        except RuntimeError as exc:
            raise ElementError(f"detector {self.name}: {exc}") from None
        self._frames += 1

    def wait(self, timeout: float) -> bool:
        try:
            return self.core.wait_for(self._frames, timeout)
        except RuntimeError as exc:
            raise ElementError(f"detector {self.name}: {exc}") from None

    def read(self) -> Any:
        return self._frames - 1

    def stop(self) -> None:
        self.core.stop()

    def finish(self, timeout: float) -> FrameCount:
        core = self.core
        try:
            core.wait_for(core.acquired, timeout, saved=True)
        except RuntimeError:
            pass  # a Fault: the counts below say what was saved before it
        core.stop()
        return FrameCount(core.acquired, core.saved)


def positive_int(spec: Mapping[str, Any], key: str, where: str, default: int | None) -> Any:
    value = spec.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{where}: {key} must be a whole number of at least 1, not {value!r}")
    return value


def non_negative(spec: Mapping[str, Any], key: str, where: str, default: float) -> float:
    value = spec.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"{where}: {key} must be a number of 0 or more, not {value!r}")
    return float(value)


def check_keys(where: str, spec: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown} (allowed: {sorted(allowed)})")


def simulator_core(spec: Mapping[str, Any], where: str) -> SimDetectorCore:
    """The simulated detector a table describes (width, height, dtype, rate, ...)."""
    dtype = spec.get("dtype", "uint16")
    if dtype not in DTYPES:
        raise ValueError(f"{where}: dtype must be one of {list(DTYPES)}, not {dtype!r}")
    return SimDetectorCore(
        (positive_int(spec, "height", where, 256), positive_int(spec, "width", where, 256)),
        dtype, max_rate=non_negative(spec, "rate", where, 0.0),
        frames_per_file=positive_int(spec, "frames_per_file", where, 100),
        max_saved=positive_int(spec, "max_saved", where, None))


def build_sim_self_saving(name: str, spec: Mapping[str, Any]) -> SimSelfSavingChannel:
    """A `type = "sim"`, `kind = "selfsaving"` channel; ValueError names a bad key."""
    where = f"channels.{name}"
    check_keys(where, spec, SIM_KEYS)
    if spec.get("dataset", LIMA_DATASET) != LIMA_DATASET:
        raise ValueError(f"{where}: the simulated detector saves to {LIMA_DATASET}")
    return SimSelfSavingChannel(name, simulator_core(spec, where), label=spec.get("label"),
                                save_timeout=non_negative(spec, "save_timeout", where,
                                                     DEFAULT_SAVE_TIMEOUT))
