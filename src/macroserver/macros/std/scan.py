"""Step-scan macros with Sardana's names and semantics.

The number given is of intervals: points = intervals + 1, so `ascan theta 0 0.5 5 1`
counts 1 s at 0, 0.1, ..., 0.5. Relative scans (`dscan`, `d2scan`) return the motors to
where they started, also after stop, abort or an error.
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Callable, Iterator, Sequence

from macroserver.elements.base import Motor
from macroserver.engine.scan import (
    SCAN_ENV,
    ScanPlan,
    StepScan,
    check_intervals,
    check_time,
    linear,
)
from macroserver.errors import ParamError
from macroserver.macros import (
    BOOLEAN,
    FLOAT,
    INTEGER,
    MOTOR,
    STEP_SCAN_PLACES,
    TIME_SCAN_PLACES,
    Macro,
    Param,
    Repeat,
)

RETURN_TIMEOUT = 300.0


def motor_params(count: int) -> list[Param]:
    params: list[Param] = []
    for n in range(1, count + 1):
        suffix = str(n) if count > 1 else ""
        params += [
            Param(f"motor{suffix}", MOTOR, description=f"motor {n} to move"),
            Param(f"start_pos{suffix}", FLOAT, description=f"scan start position of motor {n}"),
            Param(f"final_pos{suffix}", FLOAT, description=f"scan final position of motor {n}"),
        ]
    return params


INTEG_TIME = Param("integ_time", FLOAT, description="integration time per point, in seconds")
TAIL = [
    Param("nr_interv", INTEGER, description="number of scan intervals (points = intervals + 1)"),
    INTEG_TIME,
]


MOTOR_RANGES = Repeat("motor_start_end_list", [
    Param("motor", MOTOR, description="Moveable to move"),
    Param("start", FLOAT, description="Starting position"),
    Param("end", FLOAT, description="Final position"),
], min=1, description="List of motor, start and end positions")


def motor_ranges(args: Sequence[Any]) -> tuple[list[Motor], list[float], list[float]]:
    """(motors, starts, finals) from `motor_params` values (motor, start, final, ...) or
    from one `MOTOR_RANGES` list; refused if a motor comes twice."""
    if len(args) == 1 and isinstance(args[0], list):
        args = [value for triple in args[0] for value in triple]
    triples = [args[i : i + 3] for i in range(0, len(args), 3)]
    motors = [t[0] for t in triples]
    distinct(motors)
    return motors, [float(t[1]) for t in triples], [float(t[2]) for t in triples]


def distinct(motors: Sequence[Motor]) -> None:
    names = [m.name for m in motors]
    for name in names:
        if names.count(name) > 1:
            raise ParamError(f"motor {name} is given more than once")


def linear_plan(
    motors: Sequence[Motor], starts: Sequence[float], finals: Sequence[float],
    intervals: int, integ_time: float,
) -> ScanPlan:
    """All motors move together in `intervals` equal steps from start to final."""
    check_intervals(intervals)
    check_time(integ_time)
    distinct(motors)

    def positions() -> Iterator[tuple[float, ...]]:
        for i in range(intervals + 1):
            yield tuple(linear(s, f, intervals, i) for s, f in zip(starts, finals))

    return ScanPlan(
        motors, positions(), intervals + 1, integ_time,
        ranges=[(min(s, f), max(s, f)) for s, f in zip(starts, finals)],
        ends=list(zip(starts, finals)),
        moves=[(intervals, tuple(abs(f - s) / intervals for s, f in zip(starts, finals)))])


def return_to(macro: Macro, motors: Sequence[Motor], positions: Sequence[float]) -> None:
    """Move back to `positions`, ignoring stop/abort requests (the scan already ended)."""
    macro.info("Returning to start positions...")
    for motor, position in zip(motors, positions):
        motor.start_move(position)
    deadline = time.monotonic() + RETURN_TIMEOUT
    while not all(m.wait_move(0.1) for m in motors):
        if time.monotonic() > deadline:
            raise TimeoutError("motors did not reach their start positions in time")


class _AbsoluteScan(Macro):
    uses_env = SCAN_ENV
    hook_places = STEP_SCAN_PLACES
    dry_runs = True

    def run(self, *args: Any) -> None:
        motors, starts, finals = motor_ranges(args[:-2])
        StepScan(self, linear_plan(motors, starts, finals, *args[-2:])).run()


class ascan(_AbsoluteScan):
    """Absolute scan of one motor: nr_interv + 1 points from start_pos to final_pos."""

    params = [*motor_params(1), *TAIL]


class a2scan(_AbsoluteScan):
    """Absolute scan of two motors moving together (the first is the plot axis)."""

    params = [*motor_params(2), *TAIL]


class a3scan(_AbsoluteScan):
    """Absolute scan of three motors moving together (the first is the plot axis)."""

    params = [*motor_params(3), *TAIL]


class a4scan(_AbsoluteScan):
    """Absolute scan of four motors moving together (the first is the plot axis)."""

    params = [*motor_params(4), *TAIL]


class amultiscan(_AbsoluteScan):
    """Absolute scan of any number of motors moving together:
    amultiscan [[theta 0 1] [chi 2 4]] 10 0.1."""

    params = [MOTOR_RANGES, *TAIL]


class ascanh(ascan):
    """ascan in Sardana's hybrid mode: here the same step scan (the motor is at rest
    while counting), so files and statistics are those of ascan."""


class _RelativeScan(Macro):
    uses_env = SCAN_ENV
    hook_places = STEP_SCAN_PLACES
    dry_runs = True

    def run(self, *args: Any) -> None:
        motors, starts, finals = motor_ranges(args[:-2])
        origins = [m.position() for m in motors]
        plan = linear_plan(motors, [o + s for o, s in zip(origins, starts)],
                           [o + f for o, f in zip(origins, finals)], *args[-2:])
        StepScan(self, plan).run(restore=lambda: return_to(self, motors, origins))


class dscan(_RelativeScan):
    """Scan of one motor relative to its current position; it returns there afterwards."""

    params = [*motor_params(1), *TAIL]


class d2scan(_RelativeScan):
    """Relative scan of two motors moving together; both return to where they started."""

    params = [*motor_params(2), *TAIL]


class d3scan(_RelativeScan):
    """Relative scan of three motors moving together; all return to where they started."""

    params = [*motor_params(3), *TAIL]


class d4scan(_RelativeScan):
    """Relative scan of four motors moving together; all return to where they started."""

    params = [*motor_params(4), *TAIL]


class dmultiscan(_RelativeScan):
    """Relative scan of any number of motors moving together; all return afterwards:
    dmultiscan [[theta -1 1] [chi -2 2]] 10 0.1."""

    params = [MOTOR_RANGES, *TAIL]


class mesh(Macro):
    """Grid scan: motor1 is the inner (fast) axis, motor2 the outer one.

    (nr_interv1 + 1) * (nr_interv2 + 1) points; with bidirectional the inner motor goes
    back and forth (snake) instead of returning to its start on every row.
    """

    uses_env = SCAN_ENV
    hook_places = STEP_SCAN_PLACES
    dry_runs = True

    params = [
        Param("motor1", MOTOR, description="inner (fast) motor"),
        Param("m1_start_pos", FLOAT, description="start position of motor1"),
        Param("m1_final_pos", FLOAT, description="final position of motor1"),
        Param("m1_nr_interv", INTEGER, description="intervals of motor1"),
        Param("motor2", MOTOR, description="outer (slow) motor"),
        Param("m2_start_pos", FLOAT, description="start position of motor2"),
        Param("m2_final_pos", FLOAT, description="final position of motor2"),
        Param("m2_nr_interv", INTEGER, description="intervals of motor2"),
        INTEG_TIME,
        Param("bidirectional", BOOLEAN, False, "snake: reverse the inner motor every row"),
    ]

    def run(self, m1: Motor, s1: float, f1: float, n1: int, m2: Motor, s2: float, f2: float,
            n2: int, integ_time: float, bidirectional: bool) -> None:
        self.grid(m1, s1, f1, n1, m2, s2, f2, n2, integ_time, bidirectional)

    def grid(self, m1: Motor, s1: float, f1: float, n1: int, m2: Motor, s2: float, f2: float,
             n2: int, integ_time: float, bidirectional: bool,
             restore: Callable[[], None] | None = None) -> None:
        check_intervals(n1, "m1_nr_interv")
        check_intervals(n2, "m2_nr_interv")
        check_time(integ_time)
        distinct([m1, m2])

        def positions() -> Iterator[tuple[float, float]]:
            for j in range(n2 + 1):
                outer = linear(s2, f2, n2, j)
                inner = range(n1, -1, -1) if bidirectional and j % 2 else range(n1 + 1)
                for i in inner:
                    yield linear(s1, f1, n1, i), outer

        reversed_last = bidirectional and n2 % 2 == 1
        plan = ScanPlan(
            [m1, m2], positions(), (n1 + 1) * (n2 + 1), integ_time,
            ranges=[(min(s1, f1), max(s1, f1)), (min(s2, f2), max(s2, f2))],
            scan_shape=(n1 + 1, n2 + 1),
            ends=[(s1, s1 if reversed_last else f1), (s2, f2)],
            moves=[(n1 * (n2 + 1), (abs(f1 - s1) / n1, 0.0)),  # along a row
                   (n2, (0.0 if bidirectional else abs(f1 - s1), abs(f2 - s2) / n2))])
        StepScan(self, plan).run(restore=restore)


class dmesh(mesh):
    """Grid scan relative to where motor1 and motor2 are; both return there afterwards."""

    def run(self, m1: Motor, s1: float, f1: float, n1: int, m2: Motor, s2: float, f2: float,
            n2: int, integ_time: float, bidirectional: bool) -> None:
        distinct([m1, m2])
        o1, o2 = m1.position(), m2.position()
        self.grid(m1, o1 + s1, o1 + f1, n1, m2, o2 + s2, o2 + f2, n2, integ_time,
                  bidirectional, restore=lambda: return_to(self, [m1, m2], [o1, o2]))


REGIONS = Repeat("regions", [
    Param("next_pos", FLOAT, description="next position"),
    Param("region_nr_intervals", INTEGER, description="Region number of intervals"),
], min=1, description="List of tuples: (next_pos, region_nr_intervals)")


class _RegionScan(Macro):
    """Motors driven together to the same positions, region after region: each region
    goes from where the last ended to next_pos in its own number of intervals."""

    uses_env = SCAN_ENV
    hook_places = STEP_SCAN_PLACES
    dry_runs = True
    motor_count = 1

    def run(self, *args: Any) -> None:
        motors = list(args[: self.motor_count])
        start, regions, integ_time = args[self.motor_count :]
        distinct(motors)
        check_time(integ_time)
        for _, intervals in regions:
            check_intervals(intervals, "region_nr_intervals")
        ends = [start, *(position for position, _ in regions)]

        def positions() -> Iterator[tuple[float, ...]]:
            yield (start,) * len(motors)
            for (low, high), (_, intervals) in zip(zip(ends, ends[1:]), regions):
                for i in range(1, intervals + 1):
                    yield (linear(low, high, intervals, i),) * len(motors)

        npoints = 1 + sum(intervals for _, intervals in regions)
        width = len(motors)
        StepScan(self, ScanPlan(
            motors, positions(), npoints, integ_time,
            ranges=[(min(ends), max(ends))] * width, ends=[(start, ends[-1])] * width,
            moves=[(intervals, (abs(high - low) / intervals,) * width)
                   for (low, high), (_, intervals) in zip(zip(ends, ends[1:]), regions)],
        )).run()


def region_params(count: int) -> list[Any]:
    motors = [Param(f"motor{n}" if count > 1 else "motor", MOTOR, description="Motor to move")
              for n in range(1, count + 1)]
    return [*motors, Param("start_pos", FLOAT, description="Start position"), REGIONS,
            Param("integ_time", FLOAT, description="Integration time")]


class rscan(_RegionScan):
    """Region scan of one motor: rscan theta 0 [[1 10] [3 4]] 0.1 scans 0..1 in 10
    intervals, then 1..3 in 4."""

    params = region_params(1)


class r2scan(_RegionScan):
    """Region scan of two motors driven to the same positions."""

    motor_count = 2
    params = region_params(2)


class r3scan(_RegionScan):
    """Region scan of three motors driven to the same positions."""

    motor_count = 3
    params = region_params(3)


class timescan(Macro):
    """Count nr_interv + 1 times without moving anything, latency_time apart."""

    uses_env = SCAN_ENV
    hook_places = TIME_SCAN_PLACES
    dry_runs = True

    params = [
        Param("nr_interv", INTEGER, description="number of intervals (points = intervals + 1)"),
        INTEG_TIME,
        Param("latency_time", FLOAT, 0.0, "extra wait between points, in seconds"),
    ]

    def run(self, intervals: int, integ_time: float, latency_time: float) -> None:
        check_intervals(intervals)
        check_time(integ_time)
        check_time(latency_time, "latency_time")
        plan = ScanPlan([], itertools.repeat((), intervals + 1), intervals + 1, integ_time,
                        latency=latency_time)
        StepScan(self, plan).run()
