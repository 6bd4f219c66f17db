"""Signal models of simulated channels: smooth functions of one motor's position.

Each model is chosen by name in the configuration (`model = "peak"`) and gives two
callables bound to the motor it follows: `f(integration_time) -> value` at the motor's
position now (step scans), and the values integrated over trigger windows (continuous
scans, from the motor's positions during each window).
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from macroserver.elements.base import Motor, PositionCapture
from macroserver.elements.sim import ValueModel, WindowModel
from macroserver.records import Role

PositionOf = Callable[[], float]
#: Where in its window a channel samples the motor to integrate: both ends and between.
WINDOW_SAMPLES = np.linspace(0.0, 1.0, 5)


def _timer(spec: Mapping[str, Any]) -> Callable[[Any, float], Any]:
    def at(x: Any, integration_time: float) -> Any:
        if isinstance(x, np.ndarray):
            return np.full(x.shape, float(integration_time))
        return float(integration_time)

    return at


def _peak(spec: Mapping[str, Any]) -> Callable[[Any, float], Any]:
    """A Lorentzian peak with gaussian noise (the demo's `value`: 11.8 at 0, slowly falling)."""
    amplitude = float(spec.get("amplitude", 11.8))
    center = float(spec.get("center", 0.0))
    width = float(spec.get("width", 5.0))
    noise = float(spec.get("noise", 0.01))
    gauss = random.gauss
    normal = np.random.default_rng().normal

    def at(x: Any, integration_time: float) -> Any:
        u = (x - center) / width
        if isinstance(x, np.ndarray):
            return amplitude / (1.0 + u * u) + normal(0.0, noise, x.shape)
        return amplitude / (1.0 + u * u) + gauss(0.0, noise)

    return at


def _wave(spec: Mapping[str, Any], size: int) -> Callable[[float, float], np.ndarray]:
    """A damped sine whose frequency follows the motor, so each spectrum differs."""
    channels = np.arange(size, dtype=np.float64) / size
    envelope = np.exp(-2.0 * channels)
    amplitude = float(spec.get("amplitude", 100.0))

    def at(x: float, integration_time: float) -> np.ndarray:
        frequency = 4.0 + 2.0 * x
        return amplitude * envelope * (1.0 + np.sin(2.0 * math.pi * frequency * channels))

    return at


def _spot(spec: Mapping[str, Any], shape: tuple[int, int]) -> Callable[[float, float], np.ndarray]:
    """A gaussian spot moving along x with the motor; an outer product keeps it cheap."""
    height, width = shape
    sigma = float(spec.get("sigma", 12.0))
    travel = float(spec.get("travel", 40.0))
    amplitude = float(spec.get("amplitude", 1000.0))
    ys = np.arange(height, dtype=np.float64)
    xs = np.arange(width, dtype=np.float64)
    profile_y = np.exp(-0.5 * ((ys - height / 2) / sigma) ** 2)

    def at(x: float, integration_time: float) -> np.ndarray:
        cx = width / 2 + travel * x
        profile_x = np.exp(-0.5 * ((xs - cx) / sigma) ** 2)
        return amplitude * np.outer(profile_y, profile_x)

    return at


def build_model(
    model: str, spec: Mapping[str, Any], motor: Motor | None, shape: tuple[int, ...]
) -> tuple[ValueModel, WindowModel]:
    """The value model named `model`, following `motor` (position 0 when there is none):
    once at the motor's position now, and integrated over trigger windows."""
    if model == "timer":
        at, scalar = _timer(spec), True
    elif model == "peak":
        at, scalar = _peak(spec), True
    elif model == "wave":
        if len(shape) != 1:
            raise ValueError(f"model 'wave' needs a 1D shape, got {list(shape)}")
        at, scalar = _wave(spec, shape[0]), False
    elif model == "spot":
        if len(shape) != 2:
            raise ValueError(f"model 'spot' needs a 2D shape, got {list(shape)}")
        at, scalar = _spot(spec, (shape[0], shape[1])), False
    else:
        raise ValueError(f"unknown model {model!r} (known: timer, peak, wave, spot)")
    position: PositionOf = motor.position if motor is not None else (lambda: 0.0)

    def live(integration_time: float) -> Any:
        return at(position(), integration_time)

    def windows(starts: np.ndarray, integration_time: float) -> Sequence[Any]:
        instants = starts[:, None] + integration_time * WINDOW_SAMPLES[None, :]
        if isinstance(motor, PositionCapture):
            positions = motor.positions_at(instants)
        else:
            positions = np.full(instants.shape, position())
        if scalar:  # the mean over the window: what a counter integrates
            return at(positions, integration_time).mean(axis=1)
        return [at(float(x), integration_time) for x in positions.mean(axis=1)]

    return live, windows


DEFAULT_MODEL = {Role.TIMER: "timer", Role.COUNTER: "peak", Role.SPECTRUM: "wave",
                 Role.IMAGE: "spot"}
