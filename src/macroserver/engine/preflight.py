"""The pre-flight of a scan: its forecast, computed before anything moves.

One computation serves three readers: the dry run (SimulateMacro, `simulate`,
`--dry-run`, `MacroRunner.dry_run`) replies with it, a real scan refuses to start when
it names a refusal, and the scan's header and MacroStatus carry its duration. A scan
says where its motors go (`MotionPlan`, from `Scan.motion_plan`); this module adds the
limits, the files and the space they need, the channels' rates and the duration with
the per-point overhead measured on this server (`engine/overheads.py`).

Refused: more points than the configured maximum, files that do not fit the free space
with the configured margin, positions outside a motor's limits, a continuous scan whose
channels cannot keep its rate (the refusal names the smallest latency_time that works).
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from macroserver.config import ScanLimits
from macroserver.elements.base import (
    Channel,
    ElementError,
    MeasurementGroup,
    MotionSettings,
    Motor,
)
from macroserver.elements.calibration import CalibratedMotor, Calibration
from macroserver.engine import detectors as frames
from macroserver.engine.forecast import (
    Duration,
    FileForecast,
    HookForecast,
    LimitCrossing,
    MotorPath,
    RateCheck,
    ScanForecast,
    size,
)
from macroserver.engine.hooks import NO_PLACE, hook_name
from macroserver.engine.overheads import (
    DEFAULT_PER_POINT,
    OverheadStore,
    overhead_key,
    software_cycle_key,
)
from macroserver.errors import MacroServerError, ParamError
from macroserver.recorders.registry import Selection
from macroserver.records import Column

if TYPE_CHECKING:
    from macroserver.engine.scan import Scan


class ScanRefused(ParamError):
    """The pre-flight found what the scan cannot do; nothing was moved."""

    reason = "ScanRefused"


class DryRunStop(BaseException):
    """Ends a macro run as a dry run at its first scan, carrying that scan's forecast:
    nothing after it runs (a BaseException, so a macro's `except Exception` lets it by)."""

    def __init__(self, forecast: ScanForecast) -> None:
        super().__init__(forecast.command)
        self.forecast = forecast


@dataclass
class MotionPlan:
    """What a scan tells of its motion: each motor's path, the positions to check against
    the limits (motor, what, where), and the seconds spent moving, settling after moves
    and waiting."""

    paths: list[MotorPath] = field(default_factory=list)
    positions: list[tuple[Motor, str, float]] = field(default_factory=list)
    motion: float = 0.0
    settling: float = 0.0
    latency: float = 0.0
    #: continuous scans: time between triggers, and whether this thread triggers them
    period: float = 0.0
    software_timing: bool = False


def move_time(settings: MotionSettings | None, distance: float) -> float:
    """Seconds for a move of `distance` with a trapezoid profile (a triangle when too
    short to reach the velocity): what our simulated motors do, and most controllers."""
    distance = abs(distance)
    if settings is None or not settings.velocity or distance == 0:
        return 0.0
    velocity, ramp = settings.velocity, settings.acceleration
    if distance >= velocity * ramp:
        return distance / velocity + ramp
    return 2.0 * math.sqrt(distance * ramp / velocity)


def motion_settings(motor: Motor) -> MotionSettings | None:
    """The velocity and acceleration a step move uses (None: unknown, taken as instant).
    A motor that cannot tell (a Tango motor without Velocity/Acceleration attributes)
    still step-scans, its moves not counted in the forecast; a continuous scan refuses
    it where it sets the scan velocity (motion_profile)."""
    read = getattr(motor, "motion_settings", None)
    if read is not None:
        try:
            return read()
        except (MacroServerError, ElementError):
            return None
    velocity = getattr(motor, "velocity", None)
    return MotionSettings(velocity, getattr(motor, "acceleration", 0.0)) if velocity else None


def calibration(motor: Motor) -> Calibration:
    """The motor's dial/user calibration (a motor without one: dial = user)."""
    if isinstance(motor, CalibratedMotor):
        return motor.calibration()
    return Calibration(user_limits=motor.limits())


def crossings(positions: Sequence[tuple[Motor, str, float]]) -> tuple[LimitCrossing, ...]:
    """Every position outside its motor's limits (each once), in user and dial units."""
    found = []
    seen = set()
    for motor, what, where in positions:
        low, high = motor.limits()
        if not low <= where <= high and (motor.name, what, where) not in seen:
            seen.add((motor.name, what, where))
            cal = calibration(motor)
            dial_limits = cal.dial_limits if isinstance(motor, CalibratedMotor) else (low, high)
            found.append(LimitCrossing(motor.name, what, where, cal.dial(where), (low, high),
                                       dial_limits))
    return tuple(found)


def _too_many(npoints: int, limits: ScanLimits) -> str:
    return (f"the scan would take {npoints:,} points, above the maximum of "
            f"{limits.max_points:,} (scans.max_points in the server configuration)")


def free_space(path: Path) -> tuple[int, int] | None:
    """(device, free bytes) of the file system `path` would be on (its nearest existing
    folder); None when it cannot be asked."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return os.stat(folder).st_dev, shutil.disk_usage(folder).free
    except OSError:
        return None


def file_forecasts(selection: Selection, columns: Sequence[Column],
                   npoints: int) -> tuple[FileForecast, ...]:
    """The files the selected recorders would write, with their estimated bytes."""
    files = []
    for cls, context in selection.chosen:
        if context.path is None:
            continue
        space = free_space(context.path)
        files.append(FileForecast(str(context.path), cls.format_name or cls.name,
                                  cls.estimate_bytes(columns, npoints),
                                  None if space is None else space[1]))
    return tuple(files)


def frame_forecasts(group: MeasurementGroup, scan_dir: Path | None,
                    npoints: int) -> tuple[FileForecast, ...]:
    """The frames self-saving detectors would write under ScanDir (one per point)."""
    if scan_dir is None:
        return ()
    found = []
    for detector in frames.self_saving(group.channels):
        shape = tuple(detector.frame_shape)
        size_of = np.dtype(detector.frame_dtype).itemsize * math.prod(shape)
        folder = scan_dir / f"{detector.name} frames"
        space = free_space(folder / "frame")
        found.append(FileForecast(str(folder), "detector frames", npoints * size_of,
                                  None if space is None else space[1]))
    return tuple(found)


def space_refusals(files: Sequence[FileForecast], limits: ScanLimits,
                   npoints: int) -> list[str]:
    """Files that together do not fit their file system's free space with the margin."""
    by_device: dict[Any, list[FileForecast]] = {}
    for f in files:
        space = free_space(Path(f.path))
        if space is not None:
            by_device.setdefault(space[0], []).append(f)
    refusals = []
    for group in by_device.values():
        needed = sum(f.bytes for f in group)
        free = group[0].free_bytes or 0
        if needed * (1.0 + limits.space_margin) > free:
            names = ", ".join(Path(f.path).name for f in group)
            refusals.append(
                f"{npoints:,} points would write ~{size(needed)} ({needed:,} bytes) to "
                f"{names} in {Path(group[0].path).parent}, where {size(free)} ({free:,} "
                f"bytes) are free (a margin of {limits.space_margin:.0%} is kept)")
    return refusals


def min_latency(channel: Channel, integration_time: float) -> float:
    """The least time `channel` needs between the end of one acquisition of
    `integration_time` and the next start (readout, dead time), as it declares it
    (`min_latency(integration_time)`, optional); 0 when it says nothing."""
    read = getattr(channel, "min_latency", None)
    return max(0.0, float(read(integration_time))) if read is not None else 0.0


def rate_checks(group: MeasurementGroup, plan: MotionPlan, integration_time: float,
                cycle: float | None) -> tuple[RateCheck, ...]:
    """Can each channel keep one point every `plan.period`? With software timing this
    thread also needs the time it was measured to take per point beyond the integration
    (`cycle`: triggering and reading the group, Tango calls included)."""
    latency = plan.period - integration_time
    needs = [(c.name, min_latency(c, integration_time)) for c in group.channels]
    whys = [f"channel {name} needs {need:g} s between acquisitions" for name, need in needs]
    if plan.software_timing and cycle is not None:
        needs.append((group.name, cycle))
        whys.append(f"software timing needs {cycle:.2g} s per point beyond integ_time to "
                    f"trigger and read {group.name} (measured on this server)")
    checks = []
    for (name, need), why in zip(needs, whys):
        short = max(0.0, round(need - latency, 9))  # 0.011 - 0.001 is not quite 0.01
        if short > 0:
            why += (f": one point every {plan.period:g} s (integ_time {integration_time:g} + "
                    f"latency_time {latency:g}) is too fast; give latency_time "
                    f"{_at_least(need)} or more")
        checks.append(RateCheck(name, plan.period, short, why))
    return tuple(checks)


def _at_least(seconds: float) -> str:
    """`seconds` rounded up to 2 significant digits (what to type)."""
    if seconds <= 0:
        return "0"
    scale = 10 ** (math.floor(math.log10(seconds)) - 1)
    return f"{math.ceil(round(seconds / scale, 6)) * scale:.2g}"


def forecast(scan: "Scan", group: MeasurementGroup, selection: Selection,
             env: Mapping[str, Any]) -> ScanForecast:
    """The whole forecast of `scan` with `group` and the recorders of `selection`."""
    macro = scan.macro
    server = macro.server
    limits = server.config.scans
    npoints, integ = scan.npoints, scan.integration_time
    refusals = [] if npoints <= limits.max_points else [_too_many(npoints, limits)]
    plan = MotionPlan() if refusals else scan.motion_plan(group, env)  # 10^12 points:
    # refused without planning each row
    found = crossings(plan.positions)
    refusals += [c.text for c in found]
    files = file_forecasts(selection, scan.columns(group), npoints)
    scan_dir = Path(files[0].path).parent if files else None
    files += frame_forecasts(group, scan_dir, npoints)
    refusals += space_refusals(files, limits, npoints)
    key = overhead_key(scan.kind, group.name, (cls.name for cls, _ in selection.chosen))
    measured = server.overheads.get(key)
    per_point = DEFAULT_PER_POINT if measured is None else measured
    cycle = server.overheads.get(software_cycle_key(group.name))
    rates = rate_checks(group, plan, integ, cycle) if plan.period > 0 else ()
    slow = [r for r in rates if not r.keeps_up]
    if slow:  # the one that needs the longest latency says what to give
        refusals.append(max(slow, key=lambda r: r.needed_latency).reason)
    duration = Duration(motion=plan.motion, settling=plan.settling,
                        integration=npoints * integ, latency=plan.latency,
                        overhead=npoints * per_point, overhead_per_point=per_point,
                        overhead_measured=measured is not None)
    hooks = tuple(HookForecast(place, hook_name(hook))
                  for place in (*macro.hook_places, NO_PLACE) for hook in macro.hooks_at(place))
    return ScanForecast(
        command=macro.context.command, macro=macro.name, kind=scan.kind, points=npoints,
        integration_time=integ, group=group.name, paths=tuple(plan.paths), limits=found,
        files=files, duration=duration, rates=rates, hooks=hooks, refusals=tuple(refusals))


def learn(store: OverheadStore, scan: "Scan", forecast: ScanForecast, recorders: Sequence[str],
          elapsed: float) -> None:
    """Keep the per-point overhead this scan measured (it ended done)."""
    points = forecast.points
    if points < 2:
        return
    d = forecast.duration
    beyond = elapsed - d.motion - d.settling - d.integration - d.latency
    store.update(overhead_key(scan.kind, forecast.group, recorders), beyond / points)


def refuse(forecast: ScanForecast) -> None:
    """Raise when the forecast names a refusal (nothing was moved)."""
    if forecast.refused:
        raise ScanRefused("; ".join(forecast.refusals) + "; nothing was moved")


__all__ = ["DryRunStop", "MotionPlan", "ScanRefused", "calibration", "forecast", "learn",
           "move_time", "motion_settings", "refuse"]
