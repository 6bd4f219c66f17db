"""Dead time per point of a step scan whose motor and counters are Tango devices.

Run by hand: `python benchmarks/bench_tango_elements.py [--points N] [--profile]`
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
(SimMotor Velocity 1e9) at integration time 0 and 10 ms, Output only (no files, no JSON):
what each point costs beyond motion and integration. Goal (issue 21): under 2 ms per point
through Tango. `--profile` prints cProfile of the scan thread for the plain pair.
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
    best_of,
    make_core,
    process_cpu,
    tango_system,
)

DEVICES = Path(__file__).resolve().parent.parent / "tests" / "devices"
INSTANCE = "bench"
GROUP = "mg_scalar"  # the benchmarks' scalar group: m1, timer, ct1..3


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


def start_plain_pair(folder: Path, tango_host: str) -> list:
    """SimMotor and SimDetector (3 devices) as two device-server processes."""
    from macroserver.tango.database import apply_dsconfig, start_device_server

    processes = []
    for script, server, devices in (
            ("sim_motor.py", "SimMotor",
             {"SimMotor": {"bench/motor/1": {"properties": {"Velocity": ["1e9"]}}}}),
            ("sim_detector.py", "SimDetector",
             {"SimDetector": {f"bench/det/{n}": {} for n in (1, 2, 3)}})):
        apply_dsconfig({"servers": {server: {INSTANCE: devices}}}, tango_host)
        processes.append(start_device_server(
            [sys.executable, str(DEVICES / script)], INSTANCE, tango_host, server=server,
            timeout=60, log_path=folder / f"{server}.log"))
    return processes


def per_point(folder: Path, config: str, points: int, integration: float,
              profile: bool = False) -> tuple[float, float]:
    """(ms per point beyond the integration time, CPU ms per point of this process),
    best of 3 runs."""
    from macroserver.engine.runner import MacroRunner
    from macroserver.streams import NullListener

    core = make_core(folder, config, env={"ActiveMntGrp": GROUP, "JsonRecorder": False})
    runner_command = ascan(points, integration)
    MacroRunner(core, NullListener()).run(ascan(3, integration))  # proxies made, warm
    cpu = []

    def run(_: int) -> None:
        before = process_cpu()
        outcome = MacroRunner(core, NullListener()).run(runner_command)
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
    best = best_of(run)
    return 1000.0 * (best / points - integration), 1000.0 * min(cpu) / points


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile one scan on our Pool-like devices (calls from this thread)")
    args = parser.parse_args()
    from macroserver.tango.database import stop_process

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-tango-elements-") as tmp:
        folder = Path(tmp)
        with tango_system(folder / "tango", instance=INSTANCE) as (door, _server):
            tango_host = door.split("//", 1)[1].split("/", 1)[0]
            os.environ["TANGO_HOST"] = tango_host
            pair = start_plain_pair(folder, tango_host)
            try:
                for integration in (0.0, 0.01):
                    for name, config in (("in-process simulated", CONFIG_TOML),
                                         ("our Pool-like devices", POOL_LIKE),
                                         ("plain Tango motor + detector", PLAIN)):
                        overhead, cpu = per_point(folder / f"{len(rows)}", config,
                                                  args.points, integration,
                                                  args.profile and config is POOL_LIKE
                                                  and integration == 0)
                        rows.append((name, integration, overhead, cpu))
            finally:
                for process in pair:
                    stop_process(process)
    print(f"ascan of {args.points} points, 1 motor + timer + 3 counters, Output only; "
          f"best of 3; {time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.1f}")
    print(f"{'elements':<32}{'integration':>12}{'ms/point beyond':>18}{'CPU ms/point':>14}")
    for name, integration, overhead, cpu in rows:
        print(f"{name:<32}{integration:>11g}s{overhead:>18.2f}{cpu:>14.2f}")
    print("goal through Tango: < 2 ms per point beyond motion and integration")
    return 0


if __name__ == "__main__":
    sys.exit(main())
