"""The continuous-scan engine: motors cruise at constant velocity, channels are
triggered along the way, points travel to the recorders in blocks.

A scan is one or more rows (`CtRow`: one for `ascanct`, one per slow-motor step for
`meshct`). For each row the engine moves the motors to their ramp starts at their own
velocity, sets the scan velocity and acceleration, starts them together and triggers
a point every `integ_time + latency_time` seconds from the moment they pass start_pos.

Two timings (docs/continuous-scans.md):

- *triggered*: every channel is a `TriggeredChannel` (armed with the whole schedule,
  it acquires by itself, as hardware-timed channels do: the simulated channels, or
  Tango channels counting on a trigger/gate device). A `PositionCapture` motor tells
  where it was at each trigger; any other moving motor is read at least every 50 ms and
  its position interpolated at the triggers. Nothing per point runs here.
- *software*: this thread triggers each point itself (`start`/`wait`/`read` the group)
  and reads every moving motor's position right after the trigger.

A pause takes effect between rows (the motion of a row cannot wait). Either way each
point holds the motor position at its trigger (measured), the planned
position (`<motor>_planned`), the trigger time and `dt` (end of counting), both in
seconds from the scan start. Velocity and acceleration are restored after every row,
also after stop, abort or an error; a stop decelerates the motors. A motor stepped
between rows (meshct's slow one) waits its settling time after its step
(`engine/settling.py`); the motors driven through the ramps count while they move, so
they have none to wait.

Hooks (Sardana's places): per row pre-move (before the ramp start), pre-configuration
and post-configuration (around the scan velocity), pre-acq and pre-start (before the
motion starts), post-acq (every point acquired), post-move (at rest); once at the end
pre-cleanup and post-cleanup.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from macroserver.elements.base import (
    MeasurementGroup,
    Motor,
    PositionCapture,
    TriggeredChannel,
)
from macroserver.engine.forecast import MotorPath
from macroserver.engine.hooks import (
    CONTINUOUS_SCAN_PLACES,
    NO_PLACE,
    POST_ACQ,
    POST_CLEANUP,
    POST_CONFIGURATION,
    POST_MOVE,
    PRE_ACQ,
    PRE_CLEANUP,
    PRE_CONFIGURATION,
    PRE_MOVE,
    PRE_START,
    HookAction,
    run_hooks,
)
from macroserver.engine.motion_profile import MotionProfile, MotorProfile
from macroserver.engine.overheads import software_cycle_key
from macroserver.engine.preflight import MotionPlan, motion_settings, move_time
from macroserver.engine.scan import PROGRESS_INTERVAL, Scan, scan_columns
from macroserver.engine.settling import Settling, settling_time
from macroserver.errors import MacroServerError
from macroserver.recorders.manager import RecorderManager
from macroserver.records import Column, PointBlock, Role

if TYPE_CHECKING:
    from macroserver.engine.macro import Macro

#: Values of the `CtTiming` environment variable: pick per scan, or force software timing
#: (`triggered` asks for triggered timing and warns when the channels cannot do it).
CT_TIMINGS = ("auto", "software", "triggered")
#: Points are handed to the recorders at least this often (seconds of scan time).
BLOCK_SECONDS = 0.05
#: Poll interval for values still missing after the last trigger's window.
LAST_POLL = 0.002
#: Largest block, and the bytes one block of array channels may take.
MAX_BLOCK_POINTS = 10_000
MAX_BLOCK_BYTES = 8 << 20
#: A triggered channel may lag this long behind the triggers before the scan fails.
CHANNEL_GRACE = 2.0
#: Software timing gives up when a trigger is this late (or one period, if longer). Each
#: point keeps the positions read at its own trigger, so a late point is still true; a
#: stall of a busy machine (0.1 s seen at load 7) is caught up rather than losing the scan.
SOFTWARE_SLACK = 0.5
#: Longest wait for motors to reach a ramp start or come to rest.
MOTION_TIMEOUT = 300.0


class ContinuousScanError(MacroServerError):
    """A continuous scan could not go on (a motor stalled, a channel fell behind)."""

    reason = "ContinuousScanError"


@dataclass(frozen=True)
class CtRow:
    """One continuous motion: its profile and the motors stepped before it (meshct)."""

    profile: MotionProfile
    stepped: tuple[tuple[Motor, float], ...] = ()


def planned_column(motor: str) -> str:
    return f"{motor}_planned"


class ContinuousScan(Scan):
    """One run of a continuous scan on behalf of a macro."""

    def __init__(self, macro: "Macro", rows: Sequence[CtRow], motors: Sequence[Motor],
                 scan_shape: tuple[int, ...] = (), overshoot_correction: bool = True) -> None:
        first = rows[0].profile  # every row has as many points (len: rows may be lazy)
        super().__init__(macro, motors, len(rows) * first.npoints, first.integ_time,
                         scan_shape)
        self.rows = rows
        self.overshoot_correction = overshoot_correction
        self.timing = ""  # "software" or "triggered", chosen by the forecast
        self._t0 = 0.0  # monotonic time of the scan start
        self._hooks: dict[str, list[HookAction]] = {}
        self._settling = Settling(())

    def columns(self, group: MeasurementGroup) -> tuple[Column, ...]:
        base = list(scan_columns(self.motors, group))
        extra = [Column(planned_column(m.name), planned_column(m.name), Role.PLANNED,
                        unit=m.unit, output=False) for m in self.motors]
        extra.append(Column("trigger_time", "trigger_time", Role.TIMESTAMP, unit="s",
                            output=False))
        return tuple(base[:-1] + extra + base[-1:])

    @property
    def kind(self) -> str:  # type: ignore[override]
        """The overheads of the two timings differ: each is measured on its own."""
        return f"continuous, {self.timing} timing" if self.timing else "continuous"

    def motion_plan(self, group: MeasurementGroup, env: Mapping[str, Any]) -> MotionPlan:
        """Every row: the moves to its ramp starts at the motors' own velocities, the
        ramps and the cruise at the scan velocity; the overshoot correction last."""
        self.timing = self._choose_timing(group, env, warn=False)
        first = self.rows[0].profile
        plan = MotionPlan(period=first.period, software_timing=self.timing == "software")
        where = {m.name: m.position() for m in self.motors}
        settings = {m.name: motion_settings(m) for m in self.motors}
        settles = {m.name: settling_time(m) for m in self.motors}
        reached: dict[str, list[float]] = {}
        checks: dict[tuple[str, str, float], tuple[Motor, str, float]] = {}
        velocity: dict[str, float] = {}

        def go(motor: Motor, target: float, what: str) -> float:
            took = move_time(settings[motor.name], target - where[motor.name])
            where[motor.name] = target
            reached.setdefault(motor.name, []).append(target)
            checks.setdefault((motor.name, what, target), (motor, what, target))
            return took

        for row in self.rows:
            profile = row.profile
            plan.settling += max((settles[m.name] for m, target in row.stepped
                                  if target != where[m.name]), default=0.0)
            reach = max([go(m, target, "position") for m, target in row.stepped]
                        + [go(p.motor, p.pre_start, "the ramp start") for p in profile.motors])
            for part in profile.motors:
                go(part.motor, part.start, "the start position")
                go(part.motor, part.final, "the final position")
                go(part.motor, part.post_final, "the ramp end")
                velocity[part.motor.name] = part.velocity
            plan.motion += reach + 2.0 * profile.acceleration
            plan.latency += (profile.npoints - 1) * profile.latency_time
        if self.overshoot_correction:
            plan.motion += max((move_time(settings[p.motor.name], p.final - p.post_final)
                                for p in self.rows[-1].profile.motors), default=0.0)
        ends = {p.motor.name: (p.start, p.final) for p in first.motors}
        ends.update({m.name: (t, self.rows[-1].stepped[i][1])
                     for i, (m, t) in enumerate(self.rows[0].stepped)})
        last = {p.motor.name: p.final for p in self.rows[-1].profile.motors}
        for motor in self.motors:
            start, final = ends[motor.name]
            final = last.get(motor.name, final)
            seen = reached[motor.name]
            plan.paths.append(MotorPath(motor.name, motor.unit, start, final, min(seen),
                                        max(seen), velocity.get(motor.name)))
        plan.positions = list(checks.values())
        return plan

    def loop(self, group: MeasurementGroup, manager: RecorderManager, t0: float) -> None:
        self._t0 = time.monotonic() - (time.time() - t0)
        self.timing = self._choose_timing(group, self.macro.env.current())
        self.macro.debug(f"continuous scan with {self.timing} timing")
        macro = self.macro
        self._hooks = {place: macro.hooks_at(place) for place in CONTINUOUS_SCAN_PLACES}
        self._hooks[POST_ACQ] += macro.hooks_at(NO_PLACE)
        self._settling = Settling([m for m, _ in self.rows[0].stepped])
        cleanup = [functools.partial(self._run_hooks, place, "")
                   for place in (PRE_CLEANUP, POST_CLEANUP) if self._hooks[place]]
        try:
            offset = 0
            for row in self.rows:
                self.control.checkpoint()
                self._run_row(row, offset, group, manager)
                offset += row.profile.npoints
            manager.settle()
            self.macro.progress(100.0)
            if self.overshoot_correction:
                self._correct_overshoot()
        except BaseException as exc:
            self.closing(cleanup, exc)
            raise
        self.closing(cleanup, None)

    def _run_hooks(self, place: str, where: str) -> None:
        hooks = self._hooks.get(place)
        if hooks:
            run_hooks(place, hooks, where)

    def _choose_timing(self, group: MeasurementGroup, env: Mapping[str, Any],
                       warn: bool = True) -> str:
        wanted = env.get("CtTiming", "auto")
        capable = all(isinstance(c, TriggeredChannel) for c in group.channels)
        if wanted == "software" or not capable:
            if wanted == "triggered" and warn:
                self.macro.warning("CtTiming is 'triggered' but not every channel can be "
                                   "armed with a trigger schedule; using software timing")
            return "software"
        return "triggered"

    # -- one row ------------------------------------------------------------------------

    def _run_row(self, row: CtRow, offset: int, group: MeasurementGroup,
                 manager: RecorderManager) -> None:
        profile = row.profile
        parts = [p for p in profile.motors if p.moves]
        where = f" in the row from point {offset}"
        self._run_hooks(PRE_MOVE, where)
        for motor, target in row.stepped:
            motor.start_move(target)
        for part in profile.motors:
            part.motor.start_move(part.pre_start)
        self._wait_motors([m for m, _ in row.stepped] + [p.motor for p in profile.motors])
        if self._settling.needed:  # a stepped motor (meshct's slow one) settles
            pause = self._settling.after([target for _, target in row.stepped])
            if pause > 0:
                self.control.sleep(pause)
        rows_block = _RowBlock(self, row, offset, group, self.timing == "triggered")
        try:
            self._run_hooks(PRE_CONFIGURATION, where)
            for part in parts:
                part.motor.set_motion_settings(profile.scan_settings(part))
            self._run_hooks(POST_CONFIGURATION, where)
            self._run_hooks(PRE_ACQ, where)
            self._run_hooks(PRE_START, where)
            rows_block.sample()  # at rest: the interpolation's start
            go = time.monotonic()
            for part in parts:
                part.motor.start_move(part.post_final)
            starts = go + profile.acceleration + np.arange(profile.npoints) * profile.period
            if self.timing == "triggered":
                self._triggered(rows_block, starts, group, manager, parts)
            else:
                self._software(rows_block, starts, group, manager, parts)
            self._run_hooks(POST_ACQ, where)
            self._wait_motors([p.motor for p in parts])
            self._run_hooks(POST_MOVE, where)
        except BaseException:
            for part in parts:
                part.motor.stop()  # decelerates
            group.stop()
            try:  # record what was acquired; the first error is the scan's reason
                more = self.timing == "triggered"
                while more:  # a block at a time (bounded memory)
                    more = rows_block.collect(group)
                    rows_block.sample()
                    self._emit(rows_block, manager, len(rows_block))
                self._emit(rows_block, manager, len(rows_block))
            except Exception as exc:
                self.macro.error(f"points acquired before the scan ended could not all be "
                                 f"recorded: {type(exc).__name__}: {exc}")
            finally:
                self._wait_motors([p.motor for p in parts], abortable=False)
            raise
        finally:
            for part in parts:
                part.motor.set_motion_settings(part.original)

    def _triggered(self, block: "_RowBlock", starts: np.ndarray, group: MeasurementGroup,
                   manager: RecorderManager, parts: list[MotorProfile]) -> None:
        integ = block.profile.integ_time
        channels = group.channels
        block.starts = starts
        for channel in channels:
            channel.arm(starts, integ)  # type: ignore[attr-defined]
        block.sample()
        control, npoints = self.control, len(starts)
        ends = starts + integ
        backlog = False
        while block.emitted < npoints:
            control.check_interrupt()  # a pause waits for the row's end
            if not backlog:
                control.sleep(min(BLOCK_SECONDS, max(ends[-1] - time.monotonic(), LAST_POLL)))
            backlog = block.collect(group)
            block.sample()
            now = time.monotonic()
            self._emit(block, manager, len(block))
            if backlog:  # values wait in the channels for the recorders, not for them
                continue
            due = int(np.searchsorted(ends, now - CHANNEL_GRACE, "right"))
            slowest = min(channels, key=lambda c: block.delivered(c.name))
            if block.delivered(slowest.name) < due:
                raise ContinuousScanError(
                    f"channel {slowest.name} fell behind the triggers: "
                    f"{block.delivered(slowest.name)} of {due} values more than "
                    f"{CHANNEL_GRACE:g} s after their trigger; {block.offset + block.emitted} "
                    "points were recorded")
            self._check_stall(parts, ends[-1], now, block)

    def _software(self, block: "_RowBlock", starts: np.ndarray, group: MeasurementGroup,
                  manager: RecorderManager, parts: list[MotorProfile]) -> None:
        profile = block.profile
        integ, period = profile.integ_time, profile.period
        control = self.control
        monotonic = time.monotonic
        motors = [p.motor for p in parts]
        last_emit = monotonic()
        busy, taken = 0.0, 0  # seconds spent triggering and reading, points taken
        before = last_emit  # when the point being taken began (to time the last one)
        try:
            for index, due in enumerate(starts):
                control.check_interrupt()  # a pause waits for the row's end
                now = monotonic()
                if now < due:
                    control.sleep(due - now)
                elif now > due + max(period, SOFTWARE_SLACK):
                    last = now - before if taken else 0.0  # the previous point's cycle
                    raise ContinuousScanError(behind_message(
                        block.offset + index, now - due, busy, taken, last, integ, period))
                before = monotonic()
                positions = [m.position() for m in motors]
                triggered = 0.5 * (before + monotonic())  # when the positions were read
                group.start(integ)
                control.wait_until(group.wait, group.stop)
                block.add(triggered, positions, group.read())
                if (monotonic() - last_emit >= BLOCK_SECONDS
                        or index + 1 - block.emitted >= block.max_points):
                    last_emit = monotonic()
                    self._emit(block, manager, len(block))
                    self._check_stall(parts, starts[-1] + integ, last_emit, block)
                busy += monotonic() - before
                taken += 1
            self._emit(block, manager, len(block))
        finally:
            if taken:  # the next pre-flight knows the latency this group needs
                self.macro.server.overheads.update(software_cycle_key(group.name),
                                                   busy / taken - integ)

    def _emit(self, block: "_RowBlock", manager: RecorderManager, upto: int) -> None:
        step = block.max_points
        while block.emitted < upto:
            end = min(upto, block.emitted + step)
            built = block.build(block.emitted, end, self._t0)
            manager.record_block(built)
            if self.series is not None:
                self.series.add_columns(built.columns, len(built))
            block.discard(end)
            block.emitted = end
            self.points_done = block.offset + end
            manager.check()
            if time.monotonic() >= block.next_progress:
                block.next_progress = time.monotonic() + PROGRESS_INTERVAL
                self.macro.progress(100.0 * self.points_done / self.npoints)

    def _check_stall(self, parts: list[MotorProfile], cruise_end: float, now: float,
                     block: "_RowBlock") -> None:
        if now >= cruise_end:
            return
        for part in parts:  # a motor at rest before the cruise's planned end has stalled
            if part.motor.wait_move(0.0) and time.monotonic() < cruise_end:
                raise ContinuousScanError(
                    f"motor {part.motor.name} stopped at {part.motor.position():g} "
                    f"{part.motor.unit} while the scan needed it moving towards "
                    f"{part.post_final:g} (stalled, or stopped from outside); "
                    f"{block.offset + block.emitted} points were recorded")

    # -- motion -------------------------------------------------------------------------

    def _wait_motors(self, motors: Sequence[Motor], abortable: bool = True) -> None:
        deadline = time.monotonic() + MOTION_TIMEOUT

        def stopped(timeout: float) -> bool:
            if time.monotonic() > deadline:
                raise ContinuousScanError(
                    f"motors {', '.join(m.name for m in motors)} did not come to rest "
                    f"within {MOTION_TIMEOUT:g} s")
            return all(m.wait_move(timeout) for m in motors)

        def stop_all() -> None:
            for motor in motors:
                motor.stop()

        if abortable:
            self.control.wait_until(stopped, stop_all)
        else:
            while not stopped(0.05):
                pass

    def _correct_overshoot(self) -> None:
        """Back to final_pos at the motors' own velocity (Sardana's overshoot correction)."""
        parts = [p for p in self.rows[-1].profile.motors if p.moves]
        for part in parts:
            part.motor.start_move(part.final)
        self._wait_motors([p.motor for p in parts])


def behind_message(point: int, late: float, busy: float, taken: int, last: float,
                   integ: float, period: float) -> str:
    """Why software timing fell behind, from what was measured: a rate too high for
    integ_time + latency_time (latency_time can fix it), or a stall (it cannot).

    `point` was due `late` s ago; `taken` points took `busy` s to trigger, read and
    record, the last of them (point - 1) `last` s; integ + latency_time is `period`."""
    head = f"software timing fell behind: point {point} was due {late:.3g} s ago"
    if not taken:
        return (f"{head}, before any point was taken: the scan reached its first trigger "
                f"late (integ_time + latency_time is {period:g} s)")
    mean = busy / taken
    if taken > 1 and last - period >= late / 2:  # mostly the last point's doing
        earlier = (busy - last) / (taken - 1)
        others = (f"the {taken - 1} points before took {earlier:.3g} s each on average")
        advice = (f"; they too need latency_time {earlier - integ:.2g} or more"
                  if earlier > period else ", within it: a longer latency_time would not help")
        return (f"{head}: point {point - 1} stalled, taking {last:.3g} s to trigger, read "
                f"and record where integ_time + latency_time is {period:g} s ({others}"
                f"{advice}); look at what held that point (motors, channels, recorders, "
                "the machine's load)")
    if mean > period:
        return (f"{head}; each point takes {mean:.3g} s to trigger, read and record "
                f"(measured on {taken} points), more than integ_time + latency_time "
                f"({period:g} s): give latency_time {max(0.0, mean - integ):.2g} or more")
    return (f"{head}; the {taken} points took {mean:.3g} s each on average (the last "
            f"{last:.3g} s), within integ_time + latency_time ({period:g} s): a stall "
            f"before point {point - 1} put the scan behind; a longer latency_time would "
            "not help")


class _RowBlock:
    """The points of one row not yet handed to the recorders, column by column."""

    def __init__(self, scan: ContinuousScan, row: CtRow, offset: int,
                 group: MeasurementGroup, triggered: bool) -> None:
        self.triggered = triggered
        self.profile = row.profile
        self.offset = offset
        self.emitted = 0
        self.next_progress = 0.0
        self.group = group
        self.moving = [p for p in row.profile.motors if p.moves]
        self.fixed = {p.motor.name: p.motor.position() for p in row.profile.motors
                      if not p.moves}
        self.fixed.update({m.name: m.position() for m, _ in row.stepped})
        self.stepped = {m.name: target for m, target in row.stepped}
        self.scan_motors = [m.name for m in scan.motors]
        self.parts = {p.motor.name: p for p in row.profile.motors}
        # what was measured from point `base` of the row on (earlier points were handed
        # to the recorders and dropped: a long row of images must not stay in memory)
        self.base = 0
        self.triggers: list[float] = []
        self.positions: list[list[float]] = [[] for _ in self.moving]
        self.values: dict[str, list[Any]] = {c.name: [] for c in group.channels}
        self.starts = np.empty(0)
        # triggered timing, motors without PositionCapture: readbacks with their instants
        self.traced = [p for p in self.moving
                       if triggered and not isinstance(p.motor, PositionCapture)]
        self.trace_t: list[float] = []
        self.trace_x: list[list[float]] = [[] for _ in self.traced]
        arrays = sum(8 * int(np.prod(c.shape)) for c in group.channels if c.shape)
        self.max_points = max(1, min(MAX_BLOCK_POINTS, MAX_BLOCK_BYTES // max(1, arrays)))

    def __len__(self) -> int:
        """Points complete so far (every channel has its value)."""
        done = len(self.starts) if self.triggered else self.base + len(self.triggers)
        if self.traced:  # interpolated, never extrapolated, positions
            done = int(np.searchsorted(self.starts, self.trace_t[-1], "right"))
        return min([done, *(self.delivered(name) for name in self.values)])

    def delivered(self, channel: str) -> int:
        """Values of `channel` received so far in this row."""
        return self.base + len(self.values[channel])

    def discard(self, end: int) -> None:
        """Drop what was measured before point `end` (handed to the recorders)."""
        drop = end - self.base
        del self.triggers[:drop]
        for column in (*self.positions, *self.values.values()):
            del column[:drop]
        self.base = end

    def sample(self) -> None:
        """Read the traced motors, stamped with the middle of the reading."""
        if not self.traced:
            return
        before = time.monotonic()
        positions = [p.motor.position() for p in self.traced]
        self.trace_t.append(0.5 * (before + time.monotonic()))
        for column, position in zip(self.trace_x, positions):
            column.append(position)

    def add(self, triggered: float, positions: list[float], values: dict[str, Any]) -> None:
        """One software-timed point."""
        self.triggers.append(triggered)
        for column, position in zip(self.positions, positions):
            column.append(position)
        for name, value in values.items():
            self.values[name].append(value)

    def collect(self, group: MeasurementGroup) -> bool:
        """Read the triggered channels' buffers, up to a block's worth of values waiting
        here per channel; True if a channel may hold more (it gave all that was asked).
        Triggers are those of the schedule."""
        more = False
        for channel in group.channels:
            values = self.values[channel.name]
            limit = self.max_points - len(values)
            if limit > 0:
                new = channel.read_buffer(limit)  # type: ignore[attr-defined]
                values.extend(new)
                more = more or len(new) == limit
        return more

    def build(self, first: int, end: int, t0: float) -> PointBlock:
        profile = self.profile
        integ = profile.integ_time
        if self.triggered:  # the schedule, and where each motor was at its instants
            triggers = self.starts[first:end]
            measured = {p.motor.name: p.motor.positions_at(triggers)  # type: ignore[attr-defined]
                        for p in self.moving if p not in self.traced}
            measured.update({p.motor.name: np.interp(triggers, self.trace_t, column)
                             for p, column in zip(self.traced, self.trace_x)})
        else:  # software timing: measured trigger instants and readbacks
            local = slice(first - self.base, end - self.base)
            triggers = np.asarray(self.triggers[local])
            measured = {p.motor.name: np.asarray(col[local])
                        for p, col in zip(self.moving, self.positions)}
        indices = np.arange(first, end)
        columns: dict[str, Any] = {"point_nb": indices + self.offset}
        for name in self.scan_motors:
            if name in measured:
                columns[name] = measured[name]
            else:
                columns[name] = np.full(end - first, self.fixed.get(name, np.nan))
        for name, values in self.values.items():
            chunk = values[first - self.base:end - self.base]
            columns[name] = chunk if chunk and isinstance(chunk[0], np.ndarray) else \
                np.asarray(chunk, dtype=np.float64)
        for name in self.scan_motors:
            part = self.parts.get(name)
            if part is not None:
                columns[planned_column(name)] = _planned(part, indices, profile.intervals)
            else:
                columns[planned_column(name)] = np.full(
                    end - first, self.stepped.get(name, self.fixed.get(name, np.nan)))
        trigger_time = triggers - t0
        columns["trigger_time"] = trigger_time
        columns["dt"] = trigger_time + integ
        wall = time.time() - time.monotonic() + t0  # wall clock at monotonic t0
        return PointBlock(self.offset + first, columns, wall + columns["dt"])


def _planned(part: MotorProfile, indices: np.ndarray, intervals: int) -> np.ndarray:
    planned = part.start + (part.final - part.start) * indices / intervals
    return np.where(indices == intervals, part.final, planned)
