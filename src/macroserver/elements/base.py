"""Element interfaces: what the scan engine needs from motors, channels and groups.

Small protocols so that simulated elements (`sim.py`) and Tango-backed ones (`tango.py`)
plug in side by side. Motion and counting are split into start / wait / stop so that
the engine can poll for an abort while a long move or count is in progress.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from macroserver.records import Role


class ElementError(RuntimeError):
    """An element failed (hardware error, device not reachable); the message says which."""


@runtime_checkable
class Motor(Protocol):
    """A moveable with a position in user units and user limits."""

    name: str
    unit: str

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
        """The value of the last acquisition (a float, or a numpy array)."""

    def stop(self) -> None:
        """Stop an acquisition in progress."""


class MeasurementGroup:
    """Channels that count together, one of them the timer.

    It works with any `Channel` implementation: start all, wait for all, read all.
    """

    def __init__(self, name: str, channels: list[Channel], timer: str) -> None:
        names = [c.name for c in channels]
        if timer not in names:
            raise ValueError(f"measurement group {name}: timer {timer!r} is not one of {names}")
        self.name = name
        # the timer first, as Sardana orders a group's columns
        self.channels = sorted(channels, key=lambda c: c.name != timer)
        self.timer = timer

    def start(self, integration_time: float) -> None:
        for channel in self.channels:
            channel.start(integration_time)

    def wait(self, timeout: float) -> bool:
        return all(channel.wait(timeout) for channel in self.channels)

    def read(self) -> dict[str, Any]:
        return {channel.name: channel.read() for channel in self.channels}

    def stop(self) -> None:
        for channel in self.channels:
            channel.stop()
