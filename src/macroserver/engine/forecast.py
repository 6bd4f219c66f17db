"""What a scan will do, told before anything moves: the plain data of a forecast.

A `ScanForecast` is what the dry run replies (SimulateMacro, `simulate`, `macroserver run
--dry-run`, `MacroRunner.dry_run`) and what a real scan checks before it starts
(`engine/preflight.py` computes it). Plain values only, so that it turns into JSON and
text without knowing where it goes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from macroserver.formatting import hms


@dataclass(frozen=True)
class MotorPath:
    """Where one motor goes: first and last point, the extremes it reaches (ramps of a
    continuous scan included) and the velocity it moves at (None: at once)."""

    motor: str
    unit: str
    first: float
    last: float
    low: float
    high: float
    velocity: float | None = None


@dataclass(frozen=True)
class LimitCrossing:
    """A position the scan would take outside a motor's limits, in user and dial units."""

    motor: str
    what: str  # "position", "the ramp end", ...
    position: float
    dial: float
    limits: tuple[float, float]
    dial_limits: tuple[float, float]

    @property
    def text(self) -> str:
        """The refusal; dial units added when they differ from user units (a calibrated
        motor with an offset or sign -1)."""
        low, high = self.limits
        text = (f"motor {self.motor}: {self.what} {self.position:g} is outside its limits "
                f"[{low:g}, {high:g}]")
        if self.dial != self.position:
            dlow, dhigh = self.dial_limits
            text += f" (dial {self.dial:g}, dial limits [{dlow:g}, {dhigh:g}])"
        return text


@dataclass(frozen=True)
class FileForecast:
    """A file the scan would write, its estimated size and the free space where it goes."""

    path: str
    format: str
    bytes: int
    free_bytes: int | None  # None: the folder's file system could not be asked


@dataclass(frozen=True)
class Duration:
    """The estimated duration, split by cause (seconds)."""

    motion: float = 0.0
    settling: float = 0.0  # waits after moves for the motors to settle
    integration: float = 0.0
    latency: float = 0.0  # waits the user asked for between points (latency_time)
    overhead: float = 0.0  # per point beyond those, as measured on this server
    overhead_per_point: float = 0.0
    overhead_measured: bool = False  # False: no scan of this kind measured it yet

    @property
    def total(self) -> float:
        return self.motion + self.settling + self.integration + self.latency + self.overhead


@dataclass(frozen=True)
class RateCheck:
    """Whether a channel keeps the rate of a continuous scan: the period asked for and
    the shortest latency_time it can work with."""

    channel: str
    period: float
    needed_latency: float
    reason: str

    @property
    def keeps_up(self) -> bool:
        return self.needed_latency <= 0.0


@dataclass(frozen=True)
class HookForecast:
    """A hook that would run, at which place (run each time the place is reached)."""

    place: str
    hook: str


@dataclass(frozen=True)
class ScanForecast:
    """Everything a scan would do, known before it starts."""

    command: str
    macro: str
    kind: str  # "step" or "continuous"
    points: int
    integration_time: float
    group: str = ""
    paths: tuple[MotorPath, ...] = ()
    limits: tuple[LimitCrossing, ...] = ()
    files: tuple[FileForecast, ...] = ()
    duration: Duration = field(default_factory=Duration)
    rates: tuple[RateCheck, ...] = ()
    hooks: tuple[HookForecast, ...] = ()
    refusals: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: what `--dry-run --json` prints and SimulateMacro replies."""
        document = asdict(self)
        document["duration_s"] = self.duration.total
        document["duration"]["total"] = self.duration.total
        document["limits"] = [{**asdict(c), "text": c.text} for c in self.limits]
        document["refused"] = "; ".join(self.refusals) or None
        return _finite(document)

    def lines(self) -> list[str]:
        """The forecast as a person reads it."""
        d = self.duration
        out = [f"{self.command}: {self.points} point(s), {self.kind} scan"
               + (f", measurement group {self.group}" if self.group else "")]
        out.append(f"  duration ~{clock(d.total)} (motion {clock(d.motion)}, settling "
                   f"{clock(d.settling)}, integration {clock(d.integration)}, latency "
                   f"{clock(d.latency)}, overhead "
                   f"{clock(d.overhead)}: {1e3 * d.overhead_per_point:.2g} ms per point, "
                   f"{'measured on this server' if d.overhead_measured else 'not measured yet'})")
        for p in self.paths:
            speed = f" at {p.velocity:g} {p.unit}/s" if p.velocity else ""
            out.append(f"  {p.motor}: {p.first:g} -> {p.last:g} {p.unit}, reaching "
                       f"[{p.low:g}, {p.high:g}]{speed}")
        for f in self.files:
            free = "unknown" if f.free_bytes is None else size(f.free_bytes)
            out.append(f"  {f.path} ({f.format}): ~{size(f.bytes)}, {free} free there")
        out += [f"  hook at {h.place}: {h.hook}" for h in self.hooks]
        out += [f"  REFUSED: {text}" for text in self.refusals]  # limits and rates too
        return out


def clock(seconds: float) -> str:
    """h:mm:ss, with tenths below a minute (a 0.4 s scan is not "0:00:00")."""
    if not math.isfinite(seconds):
        return "forever"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return hms(seconds)


def size(count: float) -> str:
    """Bytes for people (binary units)."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    value, unit = float(count), 0
    while abs(value) >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{int(value)} B" if unit == 0 else f"{value:.1f} {units[unit]}"


def _finite(value: Any) -> Any:
    """Infinite limits become None (strict JSON has no inf)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
