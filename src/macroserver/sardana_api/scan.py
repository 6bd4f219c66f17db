"""`sardana.macroserver.scan`: custom scans, as Sardana's documentation teaches them, on
our scan engine.

A macro builds `SScan(self, generator, moveables, env, constraints, extrainfodesc)` in
`prepare()` and steps through `self._gScan.step_scan()` in `run()`. The generator yields
Sardana's step dictionaries: `positions` (one per moveable; None or NaN: that one does
not move), `integ_time`, `point_id`, the hook lists `pre-move-hooks`, `post-move-hooks`,
`pre-acq-hooks`, `post-acq-hooks`, `post-step-hooks`, `check_func` (Sardana does not call
it either) and `extrainfo` (the values of the `extrainfodesc` columns). The points go
through our StepScan: the same recorders, files, JSON packets, ScanID and ScanHistory
as `ascan`, its pre-scan and post-scan hooks, its speed. A `CTScan` (a waypoint
generator of `start_positions`/`positions`, the macro's `nb_points`/`nr_interv`,
`integ_time`, `latency_time`) runs on our ContinuousScan, one row per waypoint; `CScan`
and `CSScan` (Sardana's "as many points as fit") count one point per `integ_time` of the
motion. `HScan` runs as a step scan (the count waits for the motion).
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Iterator, Sequence

from macroserver.macros import (
    Column,
    ContinuousScan,
    CtRow,
    MacroServerError,
    Motor,
    PlanStep,
    Role,
    ScanPlan,
    StepHooks,
    StepScan,
    plan_motion,
)

STEP_HOOKS = ("pre-move-hooks", "post-move-hooks", "pre-acq-hooks", "post-acq-hooks",
              "post-step-hooks")


class ScanException(MacroServerError):
    """A scan that cannot be set up or run (Sardana's name)."""

    reason = "ScanException"


ScanSetupError = ScanException


class MoveableDesc:
    """A moveable of a scan with where it may go (`min_value`/`max_value`, checked before
    anything moves) and whether it is the reference (the plot's x axis)."""

    def __init__(self, moveable: Any = None, is_reference: bool = False,
                 min_value: float | None = None, max_value: float | None = None,
                 name: str | None = None) -> None:
        self.moveable = moveable
        self.is_reference = is_reference
        self.min_value = min_value
        self.max_value = max_value
        self.name = name or getattr(moveable, "name", None) or str(moveable)

    def __repr__(self) -> str:
        return f"MoveableDesc({self.name!r}, is_reference={self.is_reference})"


class ColumnDesc:
    """An extra column a scan fills from its steps' `extrainfo` (Sardana's ColumnDesc;
    `label`, `dtype`, `shape` are used, other keywords kept as attributes)."""

    def __init__(self, name: str, label: str | None = None, dtype: str = "float64",
                 shape: Sequence[int] = (), **kwargs: Any) -> None:
        self.name = name
        self.label = label or name
        self.dtype = str(dtype)
        self.shape = tuple(int(n) for n in shape or ())
        for key, value in kwargs.items():
            setattr(self, key, value)

    def column(self) -> Column:
        role = {0: Role.COUNTER, 1: Role.SPECTRUM}.get(len(self.shape), Role.IMAGE)
        return Column(self.name, self.label, role, dtype=self.dtype, shape=self.shape)


def _motor(macro: Any, moveable: Any) -> Motor:
    """Our motor behind a Sardana moveable (an adapter, one of ours, or a name)."""
    inner = getattr(moveable, "_inner", moveable)
    if isinstance(inner, str):
        return macro.pool.motor(inner)
    if not isinstance(inner, Motor):
        raise ScanException(f"{moveable!r} is not a motor this server knows")
    return inner


def _position(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


class GScan:
    """What every scan shares: the macro, its generator, its moveables (the first is the
    reference unless one says it is), its extra columns."""

    def __init__(self, macro: Any, generator: Callable[..., Any] | None = None,
                 moveables: Sequence[Any] = (), env: dict[str, Any] | None = None,
                 constraints: Sequence[Any] = (), extrainfodesc: Sequence[Any] = ()) -> None:
        self.macro = macro
        self._generator = generator
        given = [m if isinstance(m, MoveableDesc) else MoveableDesc(moveable=m)
                 for m in moveables]
        if given and not any(m.is_reference for m in given):
            given[0].is_reference = True
        #: the reference first (the plot's axis); `_order` maps the generator's order
        self._order = sorted(range(len(given)), key=lambda i: not given[i].is_reference)
        self.moveables = [given[i] for i in self._order]
        self.motors = [_motor(macro, m.moveable) for m in self.moveables]
        self.env = dict(env or {})
        self.constraints = list(constraints)
        self.extra_columns = tuple(
            d.column() if isinstance(d, ColumnDesc) else ColumnDesc(**d).column()
            for d in extrainfodesc)
        self.data: Any = None
        self.deterministic_scan = False

    def generator(self, estimate: bool = False) -> Iterator[dict[str, Any]]:
        if self._generator is None:
            raise ScanException(f"{type(self).__name__} of {self.macro.name} has no generator")
        accepts = "estimate" in inspect.signature(self._generator).parameters
        return self._generator(estimate=True) if accepts and estimate else self._generator()

    def nb_points(self) -> int:
        """The macro's `nb_points`, else as many steps as the generator gives."""
        count = getattr(self.macro, "nb_points", None)
        if isinstance(count, int) and count > 0:
            return count
        return sum(1 for _ in self.generator(estimate=True))

    def step_scan(self) -> Iterator[float]:
        """Run the scan, yielding the progress after each point."""
        raise NotImplementedError

    def scan(self) -> None:
        for _ in self.step_scan():
            pass


class SScan(GScan):
    """A step scan driven by step dictionaries."""

    def _plan(self) -> ScanPlan:
        macro = self.macro
        integ_time = float(getattr(macro, "integ_time", 0.0) or 0.0)
        step = PlanStep(integ_time)
        known = all(m.min_value is not None and m.max_value is not None
                    for m in self.moveables)
        ranges = [(float(m.min_value), float(m.max_value))  # type: ignore[arg-type]
                  for m in self.moveables] if known else []

        def positions() -> Iterator[tuple[float | None, ...]]:
            for data in self.generator():
                step.integration_time = float(data.get("integ_time", integ_time))
                step.hooks = StepHooks(*(tuple(data.get(key) or ()) for key in STEP_HOOKS))
                step.extra = dict(data.get("extrainfo") or {})
                targets = list(data.get("positions", ()))
                if len(targets) != len(self.motors):
                    raise ScanException(f"step {data.get('point_id')!r} of {macro.name} has "
                                        f"{len(targets)} positions for {len(self.motors)} "
                                        "moveables")
                yield tuple(_position(targets[i]) for i in self._order)

        return ScanPlan(self.motors, positions(), self.nb_points(), integ_time,
                        ranges=ranges,
                        extra_columns=self.extra_columns, step=step)

    def step_scan(self) -> Iterator[float]:
        yield from StepScan(self.macro, self._plan()).steps()


class HScan(SScan):
    """Sardana's hybrid scan; here a step scan (each count waits for the motion)."""


class CScan(GScan):
    """A continuous scan: the waypoint generator yields `start_positions` (optional: from
    the previous waypoint's end) and `positions` (where the motion ends). Run as Sardana's
    software-synchronised CSScan: as many points as the motion at the motors' velocity
    leaves room for, one per `integ_time` (of the period generator, else the macro's)."""

    def __init__(self, macro: Any, generator: Callable[..., Any] | None = None,
                 moveables: Sequence[Any] = (), env: dict[str, Any] | None = None,
                 constraints: Sequence[Any] = (), extrainfodesc: Sequence[Any] = (),
                 waypointGenerator: Callable[..., Any] | None = None,  # noqa: N803
                 periodGenerator: Callable[..., Any] | None = None) -> None:  # noqa: N803
        super().__init__(macro, generator or waypointGenerator, moveables, env, constraints,
                         extrainfodesc)
        self._period = periodGenerator

    def _segments(self) -> Iterator[tuple[list[float], list[float]]]:
        last: list[float] | None = None
        for data in self.generator():
            ends = [float(p) for p in data["positions"]]
            starts = data.get("start_positions")
            starts = [float(p) for p in starts] if starts is not None else last
            last = ends
            if starts is not None:
                yield [starts[i] for i in self._order], [ends[i] for i in self._order]

    def _rows(self) -> list[CtRow]:
        integ = float(next(iter(self._period()))["integ_time"]) if self._period else \
            float(self.macro.integ_time)
        rows = []
        for starts, ends in self._segments():
            duration = max((abs(e - s) / (getattr(m, "velocity", 0.0) or 1.0)
                            for m, s, e in zip(self.motors, starts, ends)), default=0.0)
            intervals = max(1, int(duration / integ) if integ > 0 else 1)
            rows.append(CtRow(plan_motion(self.motors, starts, ends, intervals, integ, 0.0)))
        return rows

    def step_scan(self) -> Iterator[float]:
        rows = self._rows()
        if not rows:
            raise ScanException(f"{self.macro.name}: the waypoints give no motion")
        yield from ContinuousScan(self.macro, rows, self.motors,
                                  overshoot_correction=False).steps()


class CSScan(CScan):
    """Sardana's software-synchronised continuous scan (`waypointGenerator`,
    `periodGenerator`), as CScan runs it."""

    def __init__(self, macro: Any, waypointGenerator: Callable[..., Any] | None = None,  # noqa: N803
                 periodGenerator: Callable[..., Any] | None = None,  # noqa: N803
                 moveables: Sequence[Any] = (), env: dict[str, Any] | None = None,
                 constraints: Sequence[Any] = (), extrainfodesc: Sequence[Any] = ()) -> None:
        super().__init__(macro, None, moveables, env, constraints, extrainfodesc,
                         waypointGenerator=waypointGenerator, periodGenerator=periodGenerator)


class CTScan(CScan):
    """Hardware-timed continuous scan: `nr_interv` intervals per waypoint (the macro's
    `nr_interv` or `nb_points` - 1, `integ_time`, `latency_time`), the channels triggered
    along the motion."""

    def _rows(self) -> list[CtRow]:
        macro = self.macro
        intervals = int(getattr(macro, "nr_interv", getattr(macro, "nb_points", 2) - 1))
        integ = float(macro.integ_time)
        latency = float(getattr(macro, "latency_time", 0.0) or 0.0)
        return [CtRow(plan_motion(self.motors, starts, ends, intervals, integ, latency))
                for starts, ends in self._segments()]


class TScan(GScan):
    """Sardana's time scan: use our `timescan` (execMacro('timescan', ...))."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise ScanException("TScan is not available to custom scans here: run the timescan "
                            "macro (self.execMacro('timescan', nr_interv, integ_time))")


__all__ = ["MoveableDesc", "ColumnDesc", "GScan", "SScan", "CScan", "CSScan", "CTScan",
           "HScan", "TScan", "ScanException", "ScanSetupError"]
