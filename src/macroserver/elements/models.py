"""Signal models of simulated channels: smooth functions of one motor's position.

Each model is chosen by name in the configuration (`model = "peak"`) and returns a
callable `f(integration_time) -> value` bound to the motor it follows.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable, Mapping

import numpy as np

from macroserver.elements.base import Motor
from macroserver.elements.sim import ValueModel
from macroserver.records import Role

PositionOf = Callable[[], float]


def _timer(position: PositionOf, spec: Mapping[str, Any]) -> ValueModel:
    return lambda integration_time: float(integration_time)


def _peak(position: PositionOf, spec: Mapping[str, Any]) -> ValueModel:
    """A Lorentzian peak with gaussian noise (the demo's `value`: 11.8 at 0, slowly falling)."""
    amplitude = float(spec.get("amplitude", 11.8))
    center = float(spec.get("center", 0.0))
    width = float(spec.get("width", 5.0))
    noise = float(spec.get("noise", 0.01))
    gauss = random.gauss

    def value(integration_time: float) -> float:
        x = (position() - center) / width
        return amplitude / (1.0 + x * x) + gauss(0.0, noise)

    return value


def _wave(position: PositionOf, spec: Mapping[str, Any], size: int) -> ValueModel:
    """A damped sine whose frequency follows the motor, so each spectrum differs."""
    channels = np.arange(size, dtype=np.float64) / size
    envelope = np.exp(-2.0 * channels)
    amplitude = float(spec.get("amplitude", 100.0))

    def value(integration_time: float) -> np.ndarray:
        frequency = 4.0 + 2.0 * position()
        return amplitude * envelope * (1.0 + np.sin(2.0 * math.pi * frequency * channels))

    return value


def _spot(position: PositionOf, spec: Mapping[str, Any], shape: tuple[int, int]) -> ValueModel:
    """A gaussian spot moving along x with the motor; an outer product keeps it cheap."""
    height, width = shape
    sigma = float(spec.get("sigma", 12.0))
    travel = float(spec.get("travel", 40.0))
    amplitude = float(spec.get("amplitude", 1000.0))
    ys = np.arange(height, dtype=np.float64)
    xs = np.arange(width, dtype=np.float64)
    profile_y = np.exp(-0.5 * ((ys - height / 2) / sigma) ** 2)

    def value(integration_time: float) -> np.ndarray:
        cx = width / 2 + travel * position()
        profile_x = np.exp(-0.5 * ((xs - cx) / sigma) ** 2)
        return amplitude * np.outer(profile_y, profile_x)

    return value


def build_model(
    model: str, spec: Mapping[str, Any], motor: Motor | None, shape: tuple[int, ...]
) -> ValueModel:
    """The value model named `model`, following `motor` (position 0 when there is none)."""
    position: PositionOf = motor.position if motor is not None else (lambda: 0.0)
    if model == "timer":
        return _timer(position, spec)
    if model == "peak":
        return _peak(position, spec)
    if model == "wave":
        if len(shape) != 1:
            raise ValueError(f"model 'wave' needs a 1D shape, got {list(shape)}")
        return _wave(position, spec, shape[0])
    if model == "spot":
        if len(shape) != 2:
            raise ValueError(f"model 'spot' needs a 2D shape, got {list(shape)}")
        return _spot(position, spec, (shape[0], shape[1]))
    raise ValueError(f"unknown model {model!r} (known: timer, peak, wave, spot)")


DEFAULT_MODEL = {Role.TIMER: "timer", Role.COUNTER: "peak", Role.SPECTRUM: "wave", Role.IMAGE: "spot"}
