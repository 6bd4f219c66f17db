"""Simulated motors and channels, for demos, tests and benchmarks.

Motion and counting take real time (distance/velocity, the integration time) and can be
interrupted, so stop and abort behave as with hardware. Channel values are smooth
functions of a motor position (`models.py`), so scans show something worth plotting.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from macroserver.elements.base import ElementError
from macroserver.records import Role


class SimMotor:
    """A motor with user limits and an optional velocity (None or 0: moves are instant)."""

    def __init__(
        self,
        name: str,
        position: float = 0.0,
        limits: tuple[float, float] = (float("-inf"), float("inf")),
        velocity: float | None = None,
        unit: str = "",
    ) -> None:
        if limits[0] > limits[1]:
            raise ValueError(f"motor {name}: low limit {limits[0]} above high limit {limits[1]}")
        self.name = name
        self.unit = unit
        self.velocity = velocity or None
        self._limits = limits
        self._lock = threading.Lock()
        self._from = self._to = float(position)
        self._t0 = self._t1 = 0.0
        self._stopped = threading.Event()
        self._stopped.set()

    def limits(self) -> tuple[float, float]:
        return self._limits

    def position(self) -> float:
        with self._lock:
            return self._position_at(time.monotonic())

    def _position_at(self, now: float) -> float:
        if now >= self._t1:
            return self._to
        fraction = (now - self._t0) / (self._t1 - self._t0)
        return self._from + (self._to - self._from) * fraction

    def start_move(self, target: float) -> None:
        low, high = self._limits
        if not low <= target <= high:
            raise ElementError(f"motor {self.name}: target {target} outside limits [{low}, {high}]")
        with self._lock:
            now = time.monotonic()
            self._from = self._position_at(now)
            self._to = float(target)
            self._t0 = now
            self._t1 = now + (abs(target - self._from) / self.velocity if self.velocity else 0.0)
            if self._t1 > now:
                self._stopped.clear()

    def wait_move(self, timeout: float) -> bool:
        remaining = self._t1 - time.monotonic()
        if remaining <= 0:
            self._stopped.set()
            return True
        self._stopped.wait(min(remaining, timeout))
        return self._stopped.is_set() or time.monotonic() >= self._t1

    def stop(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._from = self._to = self._position_at(now)
            self._t0 = self._t1 = now
            self._stopped.set()


ValueModel = Callable[[float], Any]
"""Computes a channel's value from the integration time of the acquisition."""


class SimChannel:
    """A channel whose acquisition lasts the integration time and can be stopped."""

    def __init__(
        self,
        name: str,
        kind: Role | str,
        model: ValueModel,
        shape: tuple[int, ...] = (),
        unit: str = "",
        label: str | None = None,
    ) -> None:
        self.name = name
        self.label = label or name
        self.kind = Role.of_channel(kind)
        self.shape = shape
        self.dtype = "float64"
        self.unit = unit
        self._model = model
        self._end = 0.0
        self._integration_time = 0.0
        self._stopped = threading.Event()

    def start(self, integration_time: float) -> None:
        self._integration_time = integration_time
        self._end = time.monotonic() + integration_time
        if integration_time > 0:
            self._stopped.clear()

    def wait(self, timeout: float) -> bool:
        remaining = self._end - time.monotonic()
        if remaining <= 0:
            return True
        self._stopped.wait(min(remaining, timeout))
        return self._stopped.is_set() or time.monotonic() >= self._end

    def read(self) -> Any:
        return self._model(self._integration_time)

    def stop(self) -> None:
        self._end = time.monotonic()
        self._stopped.set()
