"""Simulated motors and channels, for demos, tests and benchmarks.

Motion and counting take real time (distance/velocity, the integration time) and can be
interrupted, so stop and abort behave as with hardware. Channel values are smooth
functions of a motor position (`models.py`), so scans show something worth plotting.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable, Sequence

import numpy as np

from macroserver.elements.base import (
    ElementError,
    MotionSettings,
    checked_limits,
    checked_settling,
    outside_limits,
)
from macroserver.elements.calibration import Calibration, CalibrationStore
from macroserver.elements.trajectory import Trajectory, plan_move, plan_stop
from macroserver.records import Role


class SimMotor:
    """A motor with user limits, a velocity (None or 0: moves are instant) and an
    acceleration time; it follows a real trapezoidal profile and decelerates on stop.

    Its trajectory is in dial units; positions and targets are in user units through
    its `Calibration` (offset, sign, limits), which `attach` restores from a store and
    every change writes back, with the dial position.

    `settling_time` is the time a step scan waits after each of its moves (the motion
    itself ends at the target: the wait is the scan's, as for any motor).

    `stall_at` simulates a mechanical fault: the motor stops dead when it reaches that
    dial position (tests use it to check that scans notice a stalled motor).
    """

    def __init__(
        self,
        name: str,
        position: float = 0.0,
        limits: tuple[float, float] = (float("-inf"), float("inf")),
        velocity: float | None = None,
        unit: str = "",
        acceleration: float = 0.0,
        max_velocity: float = math.inf,
        stall_at: float | None = None,
        settling_time: float = 0.0,
    ) -> None:
        if acceleration < 0 or max_velocity <= 0:
            raise ValueError(f"motor {name}: acceleration must be >= 0 and max_velocity > 0")
        self._settling = checked_settling(name, settling_time)
        self.name = name
        self.unit = unit
        self.velocity = velocity or None
        self.acceleration = float(acceleration)
        self.max_velocity = float(max_velocity)
        self.stall_at = stall_at
        self._calibration = Calibration(user_limits=checked_limits(name, limits))
        self._store: CalibrationStore | None = None
        self._saved_dial = float(position)
        self._calibrated = False  # set from the shell or a device: kept in the store
        self._lock = threading.Lock()
        self._trajectory = Trajectory.at_rest(float(position), time.monotonic())
        self._stopped = threading.Event()
        self._stopped.set()

    def limits(self) -> tuple[float, float]:
        return self._calibration.allowed()

    def calibration(self) -> Calibration:
        return self._calibration

    def dial_position(self) -> float:
        return self._trajectory.position_at(time.monotonic())

    def position(self) -> float:
        dial = self._trajectory.position_at(time.monotonic())
        calibration = self._calibration  # read at every point: no arithmetic when identity
        return dial if calibration.identity else calibration.user(dial)

    def positions_at(self, times: np.ndarray) -> np.ndarray:
        calibration = self._calibration
        dial = self._trajectory.positions_at(times)
        return dial if calibration.identity else calibration.sign * dial + calibration.offset

    def attach(self, store: CalibrationStore) -> None:
        """Take the dial and the calibration kept in `store` (if any); keep changes there.
        A calibration set from the shell or a device wins over the configuration's limits
        (as Sardana memorizes them); one never set leaves the configuration in force."""
        document = store.load(self.name) or {}
        with self._lock:
            if "calibration" in document:
                self._calibration = Calibration.from_json(document["calibration"], self.name)
                self._calibrated = True
            if "dial" in document:
                dial = float(document["dial"])
                self._trajectory = Trajectory.at_rest(dial, time.monotonic())
                self._saved_dial = dial
        self._store = store

    def set_calibration(self, calibration: Calibration) -> None:
        """A new calibration; a new step per unit keeps the hardware's steps, so the dial
        changes as Sardana's does (refused while moving)."""
        with self._lock:
            old = self._calibration
            if calibration.step_per_unit != old.step_per_unit:
                self._redefine(self._trajectory.position_at(time.monotonic())
                               * old.step_per_unit / calibration.step_per_unit)
            self._calibration, self._calibrated = calibration, True
            self._save()

    def define_position(self, user: float) -> None:
        with self._lock:
            self._redefine(self._calibration.dial(user))
            self._save()

    def _redefine(self, dial: float) -> None:
        now = time.monotonic()
        if self._trajectory.end_time > now:
            raise ElementError(f"motor {self.name} is moving: its position cannot be "
                               f"redefined now")
        self._trajectory = Trajectory.at_rest(float(dial), now)

    def keep_position(self) -> None:
        """Store the dial position if the motor rests elsewhere than stored (called when
        a macro ends: once per command, never per scan point)."""
        with self._lock:
            if self._trajectory.end_time <= time.monotonic() and \
                    self._trajectory.final != self._saved_dial:
                self._save()

    def _save(self) -> None:
        if self._store is not None:
            dial = self._trajectory.position_at(time.monotonic())
            document: dict[str, Any] = {"dial": dial}
            if self._calibrated:
                document["calibration"] = self._calibration.to_json()
            self._store.save(self.name, document)
            self._saved_dial = dial

    def motion_settings(self) -> MotionSettings:
        return MotionSettings(self.velocity, self.acceleration, self.max_velocity)

    def set_motion_settings(self, settings: MotionSettings) -> None:
        self.velocity = settings.velocity or None
        self.acceleration = settings.acceleration

    def settling_time(self) -> float:
        return self._settling

    def set_settling_time(self, seconds: float) -> None:
        """A new settling time (from the motor's device), until the server restarts."""
        self._settling = checked_settling(self.name, seconds)

    def start_move(self, target: float) -> None:
        refused = outside_limits(self, target)
        if refused:
            raise ElementError(refused)
        with self._lock:
            now = time.monotonic()
            here = self._trajectory.position_at(now)
            dial = self._calibration.dial(float(target))
            trajectory = plan_move(here, dial, self.velocity, self.acceleration, now)
            if self.stall_at is not None:
                stall = trajectory.crossing(self.stall_at)
                if stall is not None:
                    trajectory = trajectory.truncated(stall)
            self._trajectory = trajectory
            if trajectory.end_time > now:
                self._stopped.clear()

    def wait_move(self, timeout: float) -> bool:
        remaining = self._trajectory.end_time - time.monotonic()
        if remaining <= 0:
            if not self._stopped.is_set():  # set() notifies under a lock: not per point
                self._stopped.set()
            return True
        self._stopped.wait(min(remaining, timeout))
        return self._stopped.is_set() or time.monotonic() >= self._trajectory.end_time

    def stop(self) -> None:
        """Decelerate to rest at the configured acceleration (at once without one)."""
        with self._lock:
            now = time.monotonic()
            self._trajectory = plan_stop(self._trajectory, self.velocity, self.acceleration, now)
            if self._trajectory.end_time <= now:
                self._stopped.set()


ValueModel = Callable[[float], Any]
"""Computes a channel's value from the integration time of the acquisition."""

WindowModel = Callable[[np.ndarray, float], Sequence[Any]]
"""Computes a channel's values over many windows [start, start + integration_time]."""


class SimChannel:
    """A channel whose acquisition lasts the integration time and can be stopped.

    Armed with a trigger schedule (`arm`), it acquires by itself as hardware-timed
    channels do, each value integrated over its window (`windows`); `readout_rate`
    (values/s, unlimited by default) simulates a detector slower than the triggers.
    """

    def __init__(
        self,
        name: str,
        kind: Role | str,
        model: ValueModel,
        shape: tuple[int, ...] = (),
        unit: str = "",
        label: str | None = None,
        windows: WindowModel | None = None,
        readout_rate: float = math.inf,
    ) -> None:
        self.name = name
        self.label = label or name
        self.kind = Role.of_channel(kind)
        self.shape = shape
        self.dtype = "float64"
        self.unit = unit
        self._model = model
        self._windows = windows or (lambda starts, t: [model(t) for _ in starts])
        self.readout_rate = readout_rate
        self._end = 0.0
        self._integration_time = 0.0
        self._stopped = threading.Event()
        self._schedule = np.empty(0)
        self._delivered = 0

    def min_latency(self, integration_time: float) -> float:
        """A slow readout (`readout_rate`) needs this much time after each window."""
        if not math.isfinite(self.readout_rate):
            return 0.0
        return max(0.0, 1.0 / self.readout_rate - integration_time)

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
        now = time.monotonic()
        self._end = now
        self._stopped.set()
        # the windows over by now were acquired: still in the buffer; no more after them
        over = int(np.searchsorted(self._schedule + self._integration_time, now, "right"))
        self._schedule = self._schedule[:max(over, self._delivered)]

    def arm(self, starts: np.ndarray, integration_time: float) -> None:
        self._schedule = np.asarray(starts, dtype=np.float64)
        self._integration_time = integration_time
        self._delivered = 0

    def read_buffer(self, limit: int) -> Sequence[Any]:
        now = time.monotonic()
        schedule = self._schedule
        ready = int(np.searchsorted(schedule + self._integration_time, now, "right"))
        if math.isfinite(self.readout_rate) and len(schedule):
            ready = min(ready, int((now - schedule[0]) * self.readout_rate))
        ready = min(ready, self._delivered + limit)
        first, self._delivered = self._delivered, max(self._delivered, ready)
        if self._delivered == first:
            return ()
        return self._windows(schedule[first:self._delivered], self._integration_time)
