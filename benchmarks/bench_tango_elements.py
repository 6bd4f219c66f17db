"""Dead time per point of a step scan whose motor and counters are Tango devices.

Run by hand: `python benchmarks/bench_tango_elements.py [--points N] [--profile] [--only KIND]`
(starts an embedded Tango database and the device servers on free loopback ports).

The scan engine runs in this process (as in the MacroServer); its elements are, side by
side:

- *in-process*: the simulated elements (an instant motor, a timer and 3 counters);
- *our Pool-like devices*: the same simulated elements served by `macroserver serve` in
  another process (`motor/<instance>/m1`, `expchan/<instance>/timer`, `ct1..3`: the
  devices Sardana's clients see) and used here as `type = "tango"` elements (timer:
  IntegrationTime + `Start`, counters read `Value`);
- *a plain Tango pair*: `tests/devices/sim_motor.py` and `tests/devices/sim_detector.py`
  (three detector devices) in two device-server processes: the motor's `Position`, the
  timer `Elapsed` with `Start(seconds)`, the counters each detector's `Counts`.

One motor, a timer and three counters; `ascan m1 0 <N-1> <N-1> <t>` with an instant motor
(SimMotor Velocity 1e9) at integration time 0 and 10 ms, then with a motor that moves
(100 units/s: 10 ms per step of 1) at integration 0, where what counts is how soon the
end of each move is seen (our devices tell it in the reply of a WaitAndReport that waits
on the move itself; the plain SimMotor is polled, elements/move_timing.py). Output only
(no files, no JSON): what each point costs beyond motion and integration. Goal (issue
21): under 2 ms per point through Tango. `--profile` prints cProfile of the scan thread
for our Pool-like devices.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    CONFIG_TOML,
    ascan,
    make_core,
    process_cpu,
    tango_system,
)

DEVICES = Path(__file__).resolve().parent.parent / "tests" / "devices"
INSTANCE = "bench"
GROUP = "mg_scalar"  # the benchmarks' scalar group: m1, timer, ct1..3
VELOCITY = 100.0  # units/s of the moving rows' motor: 10 ms per step
MOVING_POINTS = 50  # points of a moving row (each run also moves back to 0 first)


def tango_config(motor: str, timer: str, counters: list[str], stop: bool) -> str:
    """The same motor, timer and counters as `type = "tango"` elements (the group GROUP)."""
    lines = ["data_roots = []", "[motors.m1]", 'type = "tango"', f'device = "{motor}"',
             "[channels.timer]", 'type = "tango"', 'kind = "timer"', f'attribute = "{timer}"',
             'start_command = "Start"', *(['stop_command = "Stop"'] if stop else [])]
    for n, counter in enumerate(counters, 1):
        lines += [f"[channels.ct{n}]", 'type = "tango"', f'attribute = "{counter}"']
    lines += [f"[measurement_groups.{GROUP}]", 'timer = "timer"',
              'channels = ["timer", "ct1", "ct2", "ct3"]']
    return "\n".join(lines) + "\n"


POOL_LIKE = tango_config(f"motor/{INSTANCE}/m1", f"expchan/{INSTANCE}/timer/Value",
                         [f"expchan/{INSTANCE}/ct{n}/Value" for n in (1, 2, 3)], stop=False)
PLAIN = tango_config("bench/motor/1", "bench/det/1/Elapsed",
                     [f"bench/det/{n}/Counts" for n in (1, 2, 3)], stop=True)
IN_PROCESS_MOVING = CONFIG_TOML.replace("[motors.m1]\n", f"[motors.m1]\nvelocity = {VELOCITY}\n")
PLAIN_MOVING = PLAIN.replace("bench/motor/1", "bench/motor/2")


def start_plain_pair(folder: Path, tango_host: str) -> list:
    """SimMotor and SimDetector (3 devices) as two device-server processes."""
    from macroserver.tango.database import apply_dsconfig, start_device_server

    processes = []
    for script, server, devices in (
            ("sim_motor.py", "SimMotor",
             {"SimMotor": {"bench/motor/1": {"properties": {"Velocity": ["1e9"]}},
                           "bench/motor/2": {"properties": {"Velocity": [str(VELOCITY)]}}}}),
            ("sim_detector.py", "SimDetector",
             {"SimDetector": {f"bench/det/{n}": {} for n in (1, 2, 3)}})):
        apply_dsconfig({"servers": {server: {INSTANCE: devices}}}, tango_host)
        processes.append(start_device_server(
            [sys.executable, str(DEVICES / script)], INSTANCE, tango_host, server=server,
            timeout=60, log_path=folder / f"{server}.log"))
    return processes


def per_point(folder: Path, config: str, points: int, integration: float,
              profile: bool = False, velocity: float = 0.0) -> tuple[float, float]:
    """(ms per point beyond motion and integration, CPU ms per point of this process),
    best of 3 runs; with a `velocity`, the motion is each run's distance at it (the
    way back to 0 from where the last run ended, then N-1 steps of 1)."""
    from macroserver.engine.runner import MacroRunner
    from macroserver.streams import NullListener

    core = make_core(folder, config, env={"ActiveMntGrp": GROUP, "JsonRecorder": False})
    runner_command = ascan(points, integration)
    MacroRunner(core, NullListener()).run(ascan(3, integration))  # proxies made, warm
    beyond, cpu = [], []
    for _ in range(3):
        start = core.pool.motors["m1"].position()
        motion = (abs(start) + points - 1) / velocity if velocity else 0.0
        before, began = process_cpu(), time.perf_counter()
        outcome = MacroRunner(core, NullListener()).run(runner_command)
        beyond.append((time.perf_counter() - began - motion) / points - integration)
        cpu.append(process_cpu() - before)
        if outcome.state != "finish":
            raise SystemExit(f"{runner_command}: {outcome.error}")

    if profile:  # the scan's element calls, made from this thread (cProfile sees one)
        motor, channels = core.pool.motors["m1"], list(core.pool.channels.values())
        profiler = cProfile.Profile()
        profiler.enable()
        for point in range(points):
            motor.start_move(float(point))
            motor.wait_move(10)
            motor.position()
            for channel in channels:
                channel.start(integration)
            for channel in channels:
                channel.wait(10)
                channel.read()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    return 1000.0 * min(beyond), 1000.0 * min(cpu) / points


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile one scan on our Pool-like devices (calls from this thread)")
    parser.add_argument("--only", choices=("in-process", "pool-like", "plain"),
                        help="measure these elements alone (a quicker run, for comparisons)")
    args = parser.parse_args()
    import tango

    from macroserver.tango.database import stop_process

    def chosen(elements: tuple) -> list:
        return [e for e in elements if args.only is None or args.only in e[0].lower()]

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-tango-elements-") as tmp:
        folder = Path(tmp)
        with tango_system(folder / "tango", instance=INSTANCE) as (door, _server):
            tango_host = door.split("//", 1)[1].split("/", 1)[0]
            os.environ["TANGO_HOST"] = tango_host
            pair = start_plain_pair(folder, tango_host)
            try:
                for integration in (0.0, 0.01):
                    for name, config in chosen((("in-process simulated", CONFIG_TOML),
                                                ("our Pool-like devices", POOL_LIKE),
                                                ("plain Tango motor + detector", PLAIN))):
                        overhead, cpu = per_point(folder / f"{len(rows)}", config,
                                                  args.points, integration,
                                                  args.profile and config is POOL_LIKE
                                                  and integration == 0)
                        rows.append((name, "instant", integration, overhead, cpu))
                pool_motor = tango.DeviceProxy(f"motor/{INSTANCE}/m1")
                pool_motor.write_attribute("Velocity", VELOCITY)
                for name, config in chosen((("in-process simulated", IN_PROCESS_MOVING),
                                            ("our Pool-like devices", POOL_LIKE),
                                            ("plain Tango motor + detector", PLAIN_MOVING))):
                    overhead, cpu = per_point(folder / f"{len(rows)}", config,
                                              MOVING_POINTS, 0.0, velocity=VELOCITY)
                    rows.append((name, f"{1000 / VELOCITY:g} ms", 0.0, overhead, cpu))
                pool_motor.write_attribute("Velocity", 0.0)
            finally:
                for process in pair:
                    stop_process(process)
    print(f"ascan of {args.points} points ({MOVING_POINTS} with a moving motor), 1 motor + "
          f"timer + 3 counters, Output only; best of 3; {time.strftime('%Y-%m-%d %H:%M')}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'elements':<32}{'step':>8}{'integration':>12}{'ms/point beyond':>18}"
          f"{'CPU ms/point':>14}")
    for name, step, integration, overhead, cpu in rows:
        print(f"{name:<32}{step:>8}{integration:>11g}s{overhead:>18.2f}{cpu:>14.2f}")
    print("goal through Tango: < 2 ms per point beyond motion and integration")
    return 0


if __name__ == "__main__":
    sys.exit(main())
