"""Cost of the Tango layer: `ascan` of 1,000 points, integration time 0, through Tango
and in-process, in one run. Run by hand: `python benchmarks/bench_tango.py [--points N]`.

Elements: an instant simulated motor, a timer and 3 counters (scalars). Recorders: Output
and JSON (JsonRecorder True), no files. Through Tango, a DoorClient subscribed to Output
and RecordData (and MacroStatus, to know the end) receives everything.

Measured per run:
- points/s: points / (time from RunMacro (or runner.start) to the final status).
- delay: for each data row, the time its Output event reaches the client minus the time
  the point was measured. The measurement time is exact: the engine's `dt` column of the
  JSON record packet is `Point.timestamp - t0`, and t0 is ScanHistory's `startts` (the
  scan's start_time, a float); both processes run on this host, so wall clocks agree.
  In-process, the "client" is the runner's listener (the same Output message, no Tango).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    SCALAR_GROUP,
    Timing,
    ascan,
    make_core,
    scan_env,
    tango_system,
)

ENV = scan_env(None, SCALAR_GROUP)  # JSON on, no ScanFile: no file recorders
INTEGRATION_TIME = 0.0


def command(points: int) -> str:
    return ascan(points, INTEGRATION_TIME)


def run_in_process(folder: Path, points: int) -> dict:
    from macroserver.engine.runner import MacroRunner

    timing = Timing()
    core = make_core(folder / "local", env=ENV)
    runner = MacroRunner(core, timing.listener())
    started = time.perf_counter()
    outcome = runner.run(command(points))
    elapsed = time.perf_counter() - started
    assert outcome.state == "finish", outcome
    t0 = core.env.get("ScanHistory")[-1]["startts"]
    return {"elapsed": elapsed, "timing": timing, "t0": t0}


def run_tango(folder: Path, points: int) -> dict:
    from macroserver.tango.client import DoorClient

    with tango_system(folder / "tango") as (door, _process):
        timing = Timing()
        client = DoorClient(door, timeout_ms=30000)
        timing.attach(client)
        with client:
            client.set_environment(ENV)
            assert client.run(ascan(3), timeout=60).ok  # warm-up
            timing.reset()
            started = time.perf_counter()
            outcome = client.run(command(points), timeout=600)
            elapsed = time.perf_counter() - started
            assert outcome.ok, outcome
            timing.wait_rows(points)
            t0 = client.environment()["ScanHistory"][-1]["startts"]
        return {"elapsed": elapsed, "timing": timing, "t0": t0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--integration-time", type=float, default=0.0,
                        help="e.g. 0.001 to see the delay when the client keeps up")
    args = parser.parse_args()
    global INTEGRATION_TIME
    INTEGRATION_TIME = args.integration_time
    with tempfile.TemporaryDirectory(prefix="bench-tango-") as tmp:
        folder = Path(tmp)
        local = run_in_process(folder, args.points)
        remote = run_tango(folder, args.points)
    rows = []
    for name, result in (("in-process", local), ("through Tango", remote)):
        timing: Timing = result["timing"]
        delays = timing.delays_ms(result["t0"])
        rows.append((name, args.points / result["elapsed"], len(timing.row_received),
                     timing.records, statistics.median(delays) if delays else float("nan"),
                     delays[int(0.95 * (len(delays) - 1))] if delays else float("nan"),
                     max(delays) if delays else float("nan")))
    print(f"ascan, {args.points} points, integration time {INTEGRATION_TIME}, timer + 3 counters, "
          "Output + JSON recorders")
    print(f"{'run':<15}{'points/s':>10}{'rows':>7}{'records':>9}"
          f"{'median ms':>11}{'p95 ms':>9}{'max ms':>9}")
    for name, rate, nrows, nrec, median, p95, worst in rows:
        print(f"{name:<15}{rate:>10.0f}{nrows:>7}{nrec:>9}{median:>11.2f}{p95:>9.2f}"
              f"{worst:>9.2f}")
    print(f"Tango/in-process time ratio: {rows[0][1] / rows[1][1]:.2f}")
    print("targets through Tango: >= 1000 points/s, median delay < 5 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
