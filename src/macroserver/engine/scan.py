"""The step-scan engine: move, count, record, point after point.

A scan macro describes *where* to go (`ScanPlan`: motors and a stream of positions);
this module does the rest the same way for every scan: checks limits before anything
moves, picks recorders, allocates the ScanID, describes the columns once, then streams
points to the `RecorderManager` and always ends it with an explicit status. Nothing of
the scan is kept in memory beyond the current point.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import getpass
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
    TypeVar,
    overload,
)

from macroserver.datafiles import DataPathError, DataRoots, OutsideDataRoots
from macroserver.elements.base import MeasurementGroup, Motor
from macroserver.engine import detectors as frames
from macroserver.engine.control import MacroInterrupted
from macroserver.engine.forecast import MotorPath, ScanForecast
from macroserver.engine.hooks import (
    NO_PLACE,
    POST_ACQ,
    POST_MOVE,
    POST_SCAN,
    POST_STEP,
    PRE_ACQ,
    PRE_MOVE,
    PRE_SCAN,
    HookAction,
    run_hooks,
)
from macroserver.engine.preflight import (
    DryRunStop,
    MotionPlan,
    forecast,
    learn,
    motion_settings,
    move_time,
    refuse,
)
from macroserver.engine.scanmeta import publish_sidecar, scan_metadata
from macroserver.engine.settling import Settling, longest, settling_of_moves, settling_time
from macroserver.engine.snapshot import read_snapshot
from macroserver.errors import EnvError, MacroServerError, ParamError
from macroserver.filelocks import DataFileLocks
from macroserver.recorders.base import ensure_parent
from macroserver.recorders.manager import RecorderManager
from macroserver.recorders.registry import Selection
from macroserver.records import (
    Column,
    EndStatus,
    Grid,
    Point,
    Role,
    ScanEnd,
    ScanInfo,
    ScanMetadata,
    SnapshotValue,
    Written,
)
from macroserver.scanstats import ScanSeries
from macroserver.streams import Level

if TYPE_CHECKING:
    from macroserver.engine.macro import Macro

SCAN_HISTORY_LENGTH = 20
SIDECAR_WAIT = 30.0  # s a scan waits for the sidecars of earlier scans (checksums)
PROGRESS_INTERVAL = 0.2


@dataclass
class ScanPlan:
    """Where a scan goes: motors, one position tuple per point, and how long to count.

    For the forecast (positions are a stream, read once): `ends` holds each motor's
    (first, last) position, `ranges` its (low, high), and `moves` the motion between
    points as (how many times, distance of each motor)."""

    motors: Sequence[Motor]
    positions: Iterable[tuple[float | None, ...]]  # None: that motor stays (plan.step)
    npoints: int
    integration_time: float
    ranges: Sequence[tuple[float, float]] = ()
    scan_shape: tuple[int, ...] = ()
    latency: float = 0.0
    after_point: Callable[[], None] | None = field(default=None, repr=False)
    ends: Sequence[tuple[float, float]] = ()
    moves: Sequence[tuple[int, tuple[float, ...]]] = ()
    #: columns the plan fills itself, from `step.extra` (Sardana's extrainfo)
    extra_columns: tuple[Column, ...] = ()
    #: set: what changes from one point to the next (Sardana's step dictionaries); the
    #: `positions` generator updates it before yielding each point (a position None:
    #: that motor does not move)
    step: "PlanStep | None" = field(default=None, repr=False)

    def motion_plan(self) -> MotionPlan:
        """Paths, limits to check and the time spent moving (motors move together: each
        step takes as long as its slowest motor) and settling after each move (the
        longest settling time of the motors that moved), from where the motors are now."""
        plan = MotionPlan(latency=max(0, self.npoints - 1) * self.latency)
        settings = [motion_settings(m) for m in self.motors]
        settles = [settling_time(m) for m in self.motors]
        ends = self.ends or self.ranges
        first_move, first_moved = 0.0, []
        for motor, (first, last), (low, high), how in zip(
                self.motors, ends, self.ranges, settings):
            plan.paths.append(MotorPath(motor.name, motor.unit, first, last, low, high,
                                        how.velocity if how else None))
            plan.positions += [(motor, "position", first), (motor, "position", last),
                               (motor, "position", low), (motor, "position", high)]
            distance = first - motor.position()
            first_move = max(first_move, move_time(how, distance))
            first_moved.append(distance != 0)
        plan.motion = first_move + sum(
            count * max((move_time(how, d) for how, d in zip(settings, distances)),
                        default=0.0)
            for count, distances in self.moves)
        plan.settling = longest(settles, first_moved) + settling_of_moves(settles, self.moves)
        return plan


#: The variables that choose the recorders and files of a scan.
FILE_VARIABLES = ("ScanDir", "ScanFile", "ScanRecorder")
SCAN_ENV = ("ActiveMntGrp", "ScanDir", "ScanFile", "ScanID", "ScanRecorder", "JsonRecorder",
            "OutputCols", "PreScanSnapshot", "ScanUser")
"""The environment variables a scan reads (Sardana's GetMacroEnv lists them)."""

def active_measurement_group(macro: "Macro") -> MeasurementGroup:
    """The group named by `ActiveMntGrp` (the first one, and say so, when it is unset), with
    the channels enabled now: a macro keeps them even if the group is reconfigured. A
    stored name this configuration lacks is refused naming the environment file; a
    personal system (`scan_dir_fallback`) uses the first group instead, with a Warning."""
    name = macro.env.get("ActiveMntGrp")
    groups = macro.pool.measurement_groups
    if name is None:
        if not groups:
            raise EnvError("no measurement group is configured, so nothing can be counted")
        name = next(iter(groups))
        if not macro.context.dry_run:  # a dry run writes nothing
            macro.env.set("ActiveMntGrp", name)
        macro.info(f"ActiveMntGrp not defined. Using {name}")
    if not isinstance(name, str):
        raise EnvError(f"ActiveMntGrp must be the name of a measurement group, not {name!r}")
    if name not in groups:  # left by a session with another configuration
        problem = (f"ActiveMntGrp {name!r} is no measurement group of this configuration "
                   f"(it has: {', '.join(groups) or 'none'})")
        hint = macro.server.env.stored_hint("ActiveMntGrp")
        if not (macro.server.scan_dir_fallback and groups):
            raise EnvError(f"{problem}; {hint}")
        name = next(iter(groups))
        macro.warning(f"{problem}; this scan uses {name} ({hint})")
    return macro.pool.measurement_group(name).frozen()


def scan_columns(motors: Sequence[Motor], group: MeasurementGroup) -> tuple[Column, ...]:
    reference = motors[0].name if motors else "point_nb"
    columns = [Column("point_nb", "#Pt No", Role.POINT_NB, dtype="int64")]
    columns += [Column(m.name, m.name, Role.MOTOR, unit=m.unit) for m in motors]
    columns += [
        Column(c.name, c.label, c.kind, dtype=c.dtype, shape=tuple(c.shape),
               unit=c.unit, plot_axes=(reference,) if c.kind.scalar else ())
        for c in group.channels
    ]
    columns.append(Column("dt", "dt", Role.TIMESTAMP, unit="s", output=False))
    return tuple(columns)


def with_element_units(columns: tuple[Column, ...],
                       elements: Mapping[str, Mapping[str, Any]]) -> tuple[Column, ...]:
    """Columns whose element has no units get those of its element metadata."""
    return tuple(
        dataclasses.replace(c, unit=str(elements[c.name]["units"]))
        if not c.unit and elements.get(c.name, {}).get("units") else c
        for c in columns)


def _read_positions(macro: "Macro") -> tuple[SnapshotValue, ...]:
    values = []
    for motor in macro.pool.motors.values():
        try:
            values.append(SnapshotValue(motor.name, motor.name, motor.position(), motor.unit))
        except Exception as exc:
            macro.warning(f"cannot read {motor.name} for the pre-scan snapshot: {exc}")
    return tuple(values)


class Scan:
    """What every scan does around its points: recorders, ScanID, the description,
    an explicit end status, `ScanHistory`. Subclasses say which columns and how the
    points are taken (`columns`, `loop` or `points`)."""

    def __init__(self, macro: "Macro", motors: Sequence[Motor], npoints: int,
                 integration_time: float, scan_shape: tuple[int, ...] = ()) -> None:
        self.macro = macro
        self.motors = motors
        self.npoints = npoints
        self.integration_time = integration_time
        self.scan_shape = scan_shape
        self.grid: Grid | None = None
        self.control = macro.context.control
        self.listener = macro.context.listener
        self.points_done = 0
        #: how the scan ended, once it has
        self.end: ScanEnd | None = None
        #: the scalar columns, for the statistics and the door's last-scan records
        self.series: ScanSeries | None = None
        self.forecast: ScanForecast | None = None

    #: "step" or "continuous": the forecast's kind, and the key of the measured overhead
    kind = "step"

    def check(self) -> None:
        """Refuse, before anything moves, what cannot be done."""
        if self.npoints < 1:
            raise ParamError("a scan needs at least one point")

    def columns(self, group: MeasurementGroup) -> tuple[Column, ...]:
        return scan_columns(self.motors, group)

    def motion_plan(self, group: MeasurementGroup, env: Mapping[str, Any]) -> MotionPlan:
        """Where the motors go and how long moving takes (for the forecast)."""
        return MotionPlan()

    def loop(self, group: MeasurementGroup, manager: RecorderManager, t0: float) -> None:
        """Take the points and hand them to `manager`; `t0` is the scan's start time."""
        raise NotImplementedError

    def points(self, group: MeasurementGroup, manager: RecorderManager,
               t0: float) -> Iterator[float]:
        """`loop`, yielding the progress (percent) as it goes: a scan that can be stepped
        through point by point overrides this instead of `loop`."""
        self.loop(group, manager, t0)
        yield 100.0

    def run(self, restore: Callable[[], None] | None = None) -> ScanEnd:
        """Run the scan; re-raises stop/abort/errors after the recorders were ended.

        The forecast (`engine/preflight.py`) comes first: a dry run stops there
        (`DryRunStop`), a real scan is refused there when it names a refusal. The
        pre-scan hooks run before the scan is described (the snapshot sees what they
        did); after the end: `restore` (relative scans move back), then the post-scan
        hooks, on every ending, a stop waiting for them (Sardana's order)."""
        for _ in self.steps(restore):
            pass
        assert self.end is not None
        return self.end

    def steps(self, restore: Callable[[], None] | None = None) -> Iterator[float]:
        """`run`, one point at a time: yields the progress after each point (Sardana's
        `step_scan`). Closed early (the caller stopped iterating), the scan ends stopped
        or aborted when that was requested, else failed, with its files closed."""
        started = time.monotonic()
        macro = self.macro
        self.check()
        group = active_measurement_group(macro)
        server = macro.server
        env = macro.env.current()  # read only, no copy: recorders and plug-ins get it too
        if server.scan_dir_fallback:
            env = scan_dir_in_roots(env, server.data_roots, macro.warning)
        try:
            selection = server.recorders.select(
                env, server.data_roots, self.listener, server.config.file_policy,
                macro.context.door_name)
        except MacroServerError as exc:  # ScanDir, ScanFile, ScanRecorder stored unusable
            stored = [name for name in FILE_VARIABLES if name in env] or list(FILE_VARIABLES)
            exc.args = (f"{exc}; {server.env.stored_hint(*stored)}",)  # same type, reason
            raise
        self.forecast = forecast(self, group, selection, env)
        if macro.context.dry_run:
            raise DryRunStop(self.forecast)
        refuse(self.forecast)
        macro.context.expect(self.forecast.duration.total)
        macro.reserve(*self.motors, *group.channels)
        metadata = scan_metadata(server, env, self.listener)  # refused: required keys missing
        policy = server.config.file_policy
        paths = [path for path, _ in selection.files]
        if not server.sidecars.wait(SIDECAR_WAIT, paths):  # our files hashed first
            macro.warning(f"the catalogue sidecar of an earlier scan is not written after "
                          f"{SIDECAR_WAIT:g} s; this scan starts anyway")
        for path in paths:
            ensure_parent(path, policy)
        locks = DataFileLocks(paths, macro.context.door_name, policy)
        try:
            scan_id = self._next_scan_id()  # after the refusals: a refused scan takes none
            run_hooks(PRE_SCAN, macro.hooks_at(PRE_SCAN))
            post_scan = self.macro.hooks_at(POST_SCAN)
            closing = [restore] if restore is not None else []
            if post_scan:
                closing.append(lambda: run_hooks(POST_SCAN, post_scan))
            try:
                yield from self._record(group, selection, env, metadata, scan_id)
            except BaseException as exc:
                self.closing(closing, exc)
                raise
            elapsed = time.monotonic() - started  # the scan's own time, without closing
            self.closing(closing, None)
        finally:
            locks.release()
        learn(server.overheads, self, self.forecast,
              [cls.name for cls, _ in selection.chosen], elapsed)

    def _next_scan_id(self) -> int:
        """The scan's number, written to the environment file before anything moves (the
        pre-scan hooks) or any data file is made, unsynced (a killed server keeps it; it
        is synced before the first data file); refused when the file cannot be written."""
        try:
            return self.macro.env.next_scan_id(sync=False)
        except EnvError as exc:
            exc.args = (f"{exc}; the scan was not started (nothing moved, no file written)",)
            raise

    def closing(self, steps: Sequence[Callable[[], None]],
                failure: BaseException | None) -> None:
        """Run `steps` (moving back, post-scan or cleanup hooks) to their end, a stop
        request waiting for them. When the scan already failed (`failure`), a failing step
        is reported on the Error stream and the scan's own error is kept."""
        if not steps:
            return
        try:
            with self.control.stop_deferred():
                for step in steps:
                    step()
        except Exception as exc:
            if failure is None:
                raise
            self.macro.error(f"{exc} (after the scan ended: {failure})")

    def _record(self, group: MeasurementGroup, selection: Selection, env: Mapping[str, Any],
                metadata: ScanMetadata, scan_id: int) -> Iterator[float]:
        """Run the points through the recorders (`self.end` says how it ended)."""
        server = self.macro.server
        critical_names = env.get("CriticalRecorders") or ()
        if isinstance(critical_names, str):  # one name, as senv accepts it
            critical_names = (critical_names,)
        critical = frozenset(critical_names)
        manager = RecorderManager(selection, self.listener, critical,
                                  float(env.get("RecorderTimeout", 60.0)))
        info = self._describe(group, selection.files, metadata, scan_id)
        detectors = frames.self_saving(group.channels)
        if detectors:  # their frames are named with the ScanID: synced first
            self.macro.env.write_pending()
            info = self._arm(detectors, info, selection.files, env)
        for level, text in selection.hints:
            self.listener.message(level, text)
        for path, fmt in selection.files:
            self.macro.output(f"Operation will be saved in {path} ({fmt})")
        status, reason = EndStatus.DONE, ""
        channels = stats_channels(info) if self.motors else []
        self.series = ScanSeries([c.name for c in info.columns if not c.shape],
                                 [c.name for c in info.columns if c.dtype.startswith("int")])
        server.last_scans.keep(self.macro.context.door_name, self.series)
        if channels:
            self.macro.context.scan_stats = lambda: self._statistics(info, channels)
        try:
            info = manager.start(info, before_files=self.macro.env.write_pending)
        except BaseException:
            if info.linked:  # armed for a scan that does not run
                frames.disarm(detectors, info.linked[0].folder)
            raise
        try:
            yield from self.points(group, manager, info.start_time)
        except MacroInterrupted as exc:
            status, reason = exc.status, str(exc)
            raise
        except GeneratorExit:  # the caller stopped stepping through the scan
            status = self.control.requested() or EndStatus.FAILED
            reason = "the macro stopped stepping through the scan"
            raise
        except Exception as exc:
            status, reason = EndStatus.FAILED, f"{type(exc).__name__}: {exc}"
            raise
        finally:
            counts = frames.finish(detectors, self.macro.warning) if detectors else {}
            stats = self._end_statistics(info, channels)
            end = ScanEnd(status, time.time(), self.points_done, reason, frames=counts,
                          stats=stats)
            manager.end(end)
            files, listener = manager.files_written(), self.listener
            shared = [path for path, _ in selection.files]  # later scans may write them
            server.sidecars.submit(lambda release: publish_sidecar(
                server, info, end, files, listener, shared, release), holds=shared)
            self._remember(info, end, selection.files, manager.written())
            return_free_memory()
            self.end = end

    def _statistics(self, info: ScanInfo, channels: Sequence[str]) -> dict[str, Any]:
        """The `ScanStats` value of the points so far (Sardana's form)."""
        assert self.series is not None
        return {"Stats": self.series.statistics(info.ref_motors, channels),
                "Motors": list(info.ref_motors), "ScanID": info.scan_id}

    def _end_statistics(self, info: ScanInfo, channels: Sequence[str]) -> dict[str, Any]:
        """Compute the statistics once the points are in, keep them in `ScanStats` (for
        this door, as Sardana's scanstats does; into the file with ScanHistory, by
        `_remember`: one write of the environment, two fsyncs, per scan end); {} when there
        are none. Never fails the scan: a problem is a Warning."""
        self.macro.context.scan_stats = None
        if self.series is None or not len(self.series) or not channels:
            return {}
        try:
            stats = self._statistics(info, channels)
            self.macro.env.update({stats_variable(self.macro.context.door_name): stats},
                                  write=False)
            return stats
        except Exception as exc:
            self.listener.message(Level.WARNING, f"no scan statistics: {exc}")
            return {}

    def _arm(self, detectors: list, info: ScanInfo, files: list,
             env: Mapping[str, Any]) -> ScanInfo:
        """Arm the self-saving detectors in a new folder under ScanDir (refused outside
        the data roots); the scan description then says where their frames go."""
        server = self.macro.server
        scan_dir = info.scan_dir
        if scan_dir is None and env.get("ScanDir"):
            scan_dir = server.data_roots.resolve_dir(env["ScanDir"])
        stem = Path(files[0][0]).stem if files else "scan"
        folder = frames.frames_folder(scan_dir, stem, info.scan_id, server.data_roots,
                                      server.config.file_policy)
        try:
            linked = frames.arm(detectors, folder, self.npoints, server.data_roots)
        except BaseException:
            frames.disarm(detectors, folder)
            raise
        return dataclasses.replace(info, linked=linked)

    def _describe(self, group: MeasurementGroup, files: list,
                  metadata: ScanMetadata, scan_id: int) -> ScanInfo:
        macro, env = self.macro, self.macro.env
        motor_positions = _read_positions(macro)
        snapshot = read_snapshot(macro, metadata.elements)
        rank = env.get("DataCompressionRank", -1)
        return ScanInfo(
            scan_id=scan_id,
            title=macro.context.command,
            macro=macro.name,
            user=str(env.get("ScanUser") or getpass.getuser()),
            start_time=time.time(),
            columns=with_element_units(self.columns(group), metadata.elements),
            ref_motors=tuple(m.name for m in self.motors),
            npoints=self.npoints,
            integration_time=self.integration_time,
            estimated_time=self.forecast.duration.total if self.forecast else 0.0,
            scan_dir=files[0][0].parent if files else None,
            scan_files=tuple(str(path) for path, _ in files),
            motor_positions=motor_positions,
            snapshot=snapshot,
            compression_rank=rank if isinstance(rank, int) else -1,
            scan_shape=self.scan_shape or (self.npoints,),
            grid=self.grid,
            macro_id=macro.context.macro_id,
            metadata=metadata,
        )

    def _remember(self, info: ScanInfo, end: ScanEnd, files: list,
                  written: list[Written]) -> None:
        """Append the scan to `ScanHistory` (the last 20), as Sardana does, with where
        the recorders actually wrote it (`written`: file, NeXus entry, SPEC scan number)."""
        entry = {
            "serialno": info.scan_id, "title": info.title, "user": info.user,
            "startts": info.start_time,
            "endts": end.end_time, "endstatus": str(end.status), "points": end.points,
            "ScanDir": str(info.scan_dir) if info.scan_dir else None,
            "ScanFile": [path.name for path, _ in files],
            "channels": list(info.counters),
            "written": [w.to_dict() for w in written],
        }
        try:
            self.macro.env.modify("ScanHistory", lambda history: [
                *list(history or [])[-(SCAN_HISTORY_LENGTH - 1):], entry])
        except Exception as exc:
            self.listener.message(Level.WARNING, f"cannot update ScanHistory: {exc}")


class StepScan(Scan):
    """One run of a step scan on behalf of a macro."""

    def __init__(self, macro: "Macro", plan: ScanPlan) -> None:
        super().__init__(macro, plan.motors, plan.npoints, plan.integration_time,
                         plan.scan_shape)
        self.plan = plan

    def motion_plan(self, group: MeasurementGroup, env: Mapping[str, Any]) -> MotionPlan:
        return self.plan.motion_plan()

    def columns(self, group: MeasurementGroup) -> tuple[Column, ...]:
        columns = super().columns(group)
        return (*columns[:-1], *self.plan.extra_columns, columns[-1])

    def points(self, group: MeasurementGroup, manager: RecorderManager,
               t0: float) -> Iterator[float]:
        plan, control = self.plan, self.control
        motors = list(plan.motors)
        names = [m.name for m in motors]
        integration_time = plan.integration_time
        npoints = plan.npoints
        next_progress = 0.0
        monotonic, wall = time.monotonic, time.time
        series = self.series
        step = plan.step
        hooks = StepHooks.of(self.macro)
        moves = bool(motors)
        settling = Settling(motors)
        settles = settling.needed

        def stop_motors() -> None:
            for motor in motors:
                motor.stop()

        def motors_stopped(timeout: float) -> bool:
            return all(motor.wait_move(timeout) for motor in motors)

        for index, targets in enumerate(plan.positions):
            control.checkpoint()
            if step is not None:  # what the plan set for this point
                hooks, integration_time = step.hooks, step.integration_time
                moves = any(target is not None for target in targets)
            if moves:
                if hooks.pre_move:
                    run_hooks(PRE_MOVE, hooks.pre_move, f" at point {index}")
                for motor, target in zip(motors, targets):
                    if target is not None:
                        motor.start_move(target)
                control.wait_until(motors_stopped, stop_motors)
                if settles:  # the motors that moved settle before counting
                    pause = settling.after(targets)
                    if pause > 0:
                        control.sleep(pause)
                if hooks.post_move:
                    run_hooks(POST_MOVE, hooks.post_move, f" at point {index}")
            if hooks.pre_acq:
                run_hooks(PRE_ACQ, hooks.pre_acq, f" at point {index}")
            group.start(integration_time)
            values: dict[str, Any] = {"point_nb": index}
            try:
                for name, motor in zip(names, motors):  # at rest: read while it counts,
                    values[name] = motor.position()  # a round trip hidden (dead time)
                control.wait_until(group.wait, group.stop)
            except MacroInterrupted:
                raise  # wait_until stopped the count
            except Exception:
                stop_count_after_failure(group)
                raise
            values.update(group.read())
            if hooks.post_acq:
                run_hooks(POST_ACQ, hooks.post_acq, f" at point {index}")
            if step is not None:
                values.update(step.extra)
            now = wall()
            values["dt"] = now - t0
            manager.record(Point(index, values, now))
            if series is not None:
                series.add(values)
            self.points_done = index + 1
            manager.check()
            if hooks.post_step:
                run_hooks(POST_STEP, hooks.post_step, f" at point {index}")
            if plan.after_point is not None:
                plan.after_point()
            if plan.latency > 0 and index + 1 < npoints:
                control.sleep(plan.latency)
            done = min(100.0, 100.0 * (index + 1) / npoints)  # a plan may give more
            if monotonic() >= next_progress:
                next_progress = monotonic() + PROGRESS_INTERVAL
                self.macro.progress(done)
            yield done
        manager.settle()
        self.macro.progress(100.0)


def stop_count_after_failure(group: MeasurementGroup) -> None:
    """Stop a count that a failure (a motor's position unreadable, a channel's wait
    failing) cut short, so no channel counts on after its scan ended. The failure is
    what the user is told: a stop that fails too is not raised over it."""
    with contextlib.suppress(Exception):
        group.stop()


def stats_channels(info: ScanInfo) -> list[str]:
    """The channels the statistics are of: the scalar counters (the timer when there
    is no counter), in the measurement group's order."""
    for role in (Role.COUNTER, Role.TIMER):
        names = [c.name for c in info.columns if c.role is role and not c.shape]
        if names:
            return names
    return []


def stats_variable(door: str) -> str:
    """`ScanStats` in this door's scope (`door/x/1.ScanStats`, as Sardana writes it);
    plain `ScanStats` for a door that is no Tango device (`macroserver run`)."""
    return f"{door}.ScanStats" if door.count("/") == 2 else "ScanStats"


@dataclass
class PlanStep:
    """What a plan may change at each point: the integration time, the hooks of the
    per-point places and the values of its extra columns."""

    integration_time: float
    hooks: "StepHooks" = field(default_factory=lambda: StepHooks())
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepHooks:
    """The hooks of a step scan's per-point places (empty tuples: nothing to run)."""

    pre_move: tuple[HookAction, ...] = ()
    post_move: tuple[HookAction, ...] = ()
    pre_acq: tuple[HookAction, ...] = ()
    post_acq: tuple[HookAction, ...] = ()
    post_step: tuple[HookAction, ...] = ()

    @classmethod
    def of(cls, macro: "Macro") -> "StepHooks":
        """The macro's hooks; those attached without places run after acquisition."""
        return cls(tuple(macro.hooks_at(PRE_MOVE)), tuple(macro.hooks_at(POST_MOVE)),
                   tuple(macro.hooks_at(PRE_ACQ)),
                   tuple(macro.hooks_at(POST_ACQ) + macro.hooks_at(NO_PLACE)),
                   tuple(macro.hooks_at(POST_STEP)))


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, loaded at the first scan end (None elsewhere than glibc)."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def return_free_memory() -> None:
    """Give the heap freed by a scan back to the system (glibc keeps it otherwise: after
    a 500-frame 251x251 image scan the server stayed ~65 MiB larger). A few ms."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def linear(start: float, final: float, intervals: int, index: int) -> float:
    """Position `index` of `intervals` equal steps from start to final (exact at both ends)."""
    if index == intervals:
        return final
    return start + (final - start) * index / intervals


T = TypeVar("T")


class Computed(Sequence[T]):
    """A sequence whose items are computed when asked (`item`), so that a plan of 10^6
    rows or positions costs nothing until it is read. Subclasses give `__len__`."""

    def item(self, index: int) -> T:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self.item(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.item(index)


class LinearPositions(Computed[float]):
    """`linear` at every index of `intervals` steps from start to final (the first
    `count` of them: all intervals + 1 by default)."""

    def __init__(self, start: float, final: float, intervals: int,
                 count: int | None = None) -> None:
        self.start, self.final, self.intervals = start, final, intervals
        self.length = intervals + 1 if count is None else count

    def __len__(self) -> int:
        return self.length

    def item(self, index: int) -> float:
        return linear(self.start, self.final, self.intervals, index)


def scan_dir_in_roots(env: Mapping[str, Any], data_roots: DataRoots,
                      warn: Callable[[str], None]) -> Mapping[str, Any]:
    """`env` with a ScanDir left outside the data roots replaced by the first root.

    The environment outlives a folder change (`macroserver run` in another folder, the
    demo then `macroserver up` elsewhere): a ScanDir of the old folder must not stop
    every scan there. The stored value is left as it is; the Warning says what was done."""
    scan_dir = env.get("ScanDir")
    if not isinstance(scan_dir, str) or not scan_dir or not data_roots.roots:
        return env
    try:
        data_roots.resolve_dir(scan_dir)
    except OutsideDataRoots as exc:
        root = data_roots.roots[0]
        warn(f"{exc}; this scan writes into {root} instead (senv ScanDir to choose a folder)")
        return {**env, "ScanDir": str(root)}
    except DataPathError:
        pass  # malformed: the recorders' selection refuses it with its message
    return env


MAX_INTERVALS = 100_000_000


def check_intervals(intervals: int, name: str = "nr_interv") -> None:
    if intervals < 1:
        raise ParamError(f"parameter {name} must be at least 1, not {intervals}")
    if intervals > MAX_INTERVALS:
        raise ParamError(f"parameter {name} must be at most {MAX_INTERVALS}, not {intervals}")


MAX_TIME = 86400.0  # one day, as RecorderTimeout: beyond it a scan never ends in practice


def check_time(integration_time: float, name: str = "integ_time") -> None:
    if integration_time < 0 or not math.isfinite(integration_time):
        raise ParamError(
            f"parameter {name} must be a finite time of 0 or more seconds, not {integration_time}")
    if integration_time > MAX_TIME:
        raise ParamError(f"parameter {name} must be at most {MAX_TIME:g} s (one day), "
                         f"not {integration_time:g}")
