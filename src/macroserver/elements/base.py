"""Element interfaces: what the scan engine needs from motors, channels and groups.

Small protocols so that simulated elements (`sim.py`) and Tango-backed ones (`tango.py`)
plug in side by side. Motion and counting are split into start / wait / stop so that
the engine can poll for an abort while a long move or count is in progress.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from macroserver.records import Role


class ElementError(RuntimeError):
    """An element failed (hardware error, device not reachable); the message says which."""


@runtime_checkable
class Motor(Protocol):
    """A moveable with a position in user units and user limits."""

    name: str

    @property
    def unit(self) -> str:
        """The unit of the position ("" when unknown)."""

    def position(self) -> float:
        """The current position (read back from the hardware)."""

    def limits(self) -> tuple[float, float]:
        """User limits (low, high); targets outside are refused before anything moves."""

    def start_move(self, target: float) -> None:
        """Start moving to `target` and return at once."""

    def wait_move(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds; True once the motor has stopped moving."""

    def stop(self) -> None:
        """Stop a move in progress (also used on abort)."""


@dataclass(frozen=True)
class MotionSettings:
    """How a motor moves: `velocity` in units/s (None: at once, simulated motors only),
    `acceleration` the time in s to reach it (Sardana's `Acceleration`), and the
    fastest velocity the motor accepts (inf when the hardware says nothing)."""

    velocity: float | None
    acceleration: float = 0.0
    max_velocity: float = math.inf


@runtime_checkable
class SettlingMotor(Motor, Protocol):
    """A motor that needs time at rest after a move before a point is counted (settle or
    dwell time: vibrations damping, a closed loop converging)."""

    def settling_time(self) -> float:
        """Seconds a step scan waits after the motor reached its target (0: none)."""


@runtime_checkable
class ContinuousMotor(Motor, Protocol):
    """A motor whose velocity and acceleration a continuous scan may set (and restores)."""

    def motion_settings(self) -> MotionSettings:
        """The velocity, acceleration and maximum velocity now in force."""

    def set_motion_settings(self, settings: MotionSettings) -> None:
        """Set velocity and acceleration (the maximum is the motor's own, not set)."""


@runtime_checkable
class PositionCapture(Protocol):
    """A motor that knows where it was at past instants (an encoder capture; simulated
    motors compute it from their trajectory). `times` are `time.monotonic()` values."""

    def positions_at(self, times: np.ndarray) -> np.ndarray:
        """The positions at `times`, which must not lie in the future."""


MAX_SETTLING = 3600.0  # s: an hour of waiting after every move is a typo, not a motor


def checked_settling(name: str, seconds: float) -> float:
    """`seconds` as motor `name`'s settling time, refused (ValueError) outside 0 to
    MAX_SETTLING (NaN too)."""
    if not (0.0 <= seconds <= MAX_SETTLING):
        raise ValueError(f"motor {name}: settling_time must be from 0 to {MAX_SETTLING:g} s, "
                         f"not {seconds!r}")
    return float(seconds)


def checked_limits(name: str, limits: tuple[float, float]) -> tuple[float, float]:
    """`limits` of motor `name`, refused (ValueError) when the low one is above the high one."""
    if limits[0] > limits[1]:
        raise ValueError(f"motor {name}: low limit {limits[0]} above high limit {limits[1]}")
    return limits


def outside_limits(motor: Motor, target: float, what: str = "target") -> str:
    """Why `motor` refuses to go to `target` ("" when it is within its limits)."""
    low, high = motor.limits()
    if low <= target <= high:
        return ""
    return (f"motor {motor.name}: {what} {target:g} is outside its limits "
            f"[{low:g}, {high:g}]")


@runtime_checkable
class Channel(Protocol):
    """Something read at every point: a timer, a 0D counter, a 1D or 2D detector.

    `kind` is the channel's role (timer, counter, spectrum or image); `shape` is `()`
    for scalars.
    """

    name: str
    label: str
    kind: Role
    shape: tuple[int, ...]
    dtype: str
    unit: str

    def start(self, integration_time: float) -> None:
        """Start acquiring for `integration_time` seconds and return at once."""

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds; True once the acquisition is over."""

    def read(self) -> Any:
        """The value of the last acquisition (a float, or a numpy array).

        A channel class may also offer `read_many(channels) -> list` (a static method),
        reading several of its channels in fewer round trips; a measurement group then
        reads its channels of that class with one call (`MeasurementGroup.read`)."""

    def stop(self) -> None:
        """Stop an acquisition in progress."""


@runtime_checkable
class TriggeredChannel(Channel, Protocol):
    """A channel acquiring on a trigger schedule by itself (hardware timing), its values
    read back as a buffer, as Sardana's channels push value buffers in continuous scans."""

    def arm(self, starts: np.ndarray, integration_time: float) -> None:
        """Acquire over [start, start + integration_time] for each monotonic `start`."""

    def read_buffer(self, limit: int) -> Sequence[Any]:
        """The values acquired since the last call, in trigger order (maybe none), at
        most `limit` of them: the rest stay for the next call (the scan reads a bounded
        number of frames at a time, however fast they come)."""


PLOT_TYPES = ("No", "Spectrum", "Image")
"""Sardana's PlotType names, by their number in a group's configuration."""


def default_display(channel: Channel) -> dict[str, Any]:
    """What a client shows of a channel until told otherwise: scalars plotted against the
    moved motor, arrays not plotted."""
    scalar = channel.kind in (Role.TIMER, Role.COUNTER)
    return {"label": channel.label, "output": True, "plot_type": 1 if scalar else 0,
            "plot_axes": ["<mov>"] if scalar else [], "normalization": 0,
            "conditioning": "", "nexus_path": ""}


def _readers(channels: list[Channel]) -> list[tuple[Any, list[Channel]]]:
    """How `MeasurementGroup.read` reads `channels`: (its class's `read_many`, the
    channels of that class) for classes having one, else (None, [the channel])."""
    batches: dict[Any, list[Channel]] = {}
    readers: list[tuple[Any, list[Channel]]] = []
    for channel in channels:
        read_many = getattr(type(channel), "read_many", None)
        if read_many is None:
            readers.append((None, [channel]))
        elif read_many in batches:
            batches[read_many].append(channel)
        else:
            batches[read_many] = [channel]
            readers.append((read_many, batches[read_many]))
    return readers


class MeasurementGroup:
    """Channels that count together, one of them the timer.

    It works with any `Channel` implementation: start all, wait for all, read all.
    `members` are all the configured channels; `channels` the enabled ones, which a scan
    acquires (all of them until `configure` chooses fewer, as Sardana's expconf does).
    """

    def __init__(self, name: str, channels: list[Channel], timer: str) -> None:
        names = [c.name for c in channels]
        if timer not in names:
            raise ValueError(f"measurement group {name}: timer {timer!r} is not one of {names}")
        self.name = name
        self.members: tuple[Channel, ...] = tuple(channels)
        self.timer = timer
        self.channels = self._timer_first(channels, timer)
        self._plan_reads()
        #: per channel, what clients set for display only (label, output, plot type and
        #: axes, ...: Sardana's configuration keys); kept with the group
        self.hints: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _timer_first(channels: list[Channel], timer: str) -> list[Channel]:
        # the timer first, as Sardana orders a group's columns
        return sorted(channels, key=lambda c: c.name != timer)

    def configure(self, timer: str, enabled: list[str]) -> None:
        """Choose the timer and the enabled channels (names of members; the timer among
        them). Nothing changes when the choice is refused."""
        members = {c.name: c for c in self.members}
        unknown = [n for n in enabled if n not in members]
        if unknown:
            raise ValueError(f"measurement group {self.name}: {unknown} are not members "
                             f"(members: {list(members)})")
        if timer not in enabled:
            raise ValueError(f"measurement group {self.name}: the timer {timer!r} must be "
                             f"an enabled channel")
        chosen = [c for c in self.members if c.name in enabled]
        self.timer, self.channels = timer, self._timer_first(chosen, timer)
        self._plan_reads()

    def _plan_reads(self) -> None:
        self._readers = _readers(self.channels)
        self._one_by_one = all(read_many is None for read_many, _ in self._readers)

    def display(self, channel: Channel) -> dict[str, Any]:
        """The display settings of a member: defaults, then what clients set (`hints`)."""
        return {**default_display(channel), **self.hints.get(channel.name, {})}

    def frozen(self) -> "MeasurementGroup":
        """A copy with the channels enabled now, so that a scan keeps its columns even if
        the group is reconfigured while it runs."""
        copy = MeasurementGroup(self.name, list(self.channels), self.timer)
        copy.hints = self.hints
        return copy

    def start(self, integration_time: float) -> None:
        for channel in self.channels:
            channel.start(integration_time)

    def wait(self, timeout: float) -> bool:
        return all(channel.wait(timeout) for channel in self.channels)

    def read(self) -> dict[str, Any]:
        """Every channel's value, in the group's order; channels whose class reads many
        at once (`read_many`, e.g. Tango channels: one request per device, all in
        flight together) are read with one call."""
        if self._one_by_one:  # no channel reads many at once: one pass, one dict
            return {channel.name: channel.read() for channel in self.channels}
        values: dict[str, Any] = {}
        for read_many, channels in self._readers:
            if read_many is None:
                values[channels[0].name] = channels[0].read()
            else:
                values.update(zip((c.name for c in channels), read_many(channels)))
        return {channel.name: values[channel.name] for channel in self.channels}

    def stop(self) -> None:
        for channel in self.channels:
            channel.stop()
