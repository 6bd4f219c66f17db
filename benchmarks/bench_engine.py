"""Scan engine benchmark (run by hand): points per second and memory of long scans.

    .venv/bin/python benchmarks/bench_engine.py [--profile]

In-process `ascan` with integration time 0 on simulated elements: one instant motor and
a measurement group of a timer and three counters (4 scalar channels). The Output
recorder formats every row and sends it to a listener that discards it (NullListener).
Peak RSS is measured in a child process per scan length (VmHWM), so that
1,000 and 100,000 points can be compared: memory must stay flat.
Target: >= 5,000 points/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    SCALAR_GROUP,
    ascan,
    current_rss,
    make_core,
    peak_rss,
    scan_env,
)
from _common import run_scan as run_command  # noqa: E402

from macroserver.streams import ConsoleListener, NullListener  # noqa: E402

TARGET = 5000.0


def make_server(folder: Path):
    """A core on the benchmark elements; Output recorder only (no JSON, no files)."""
    return make_core(folder, env=scan_env(None, SCALAR_GROUP, json=False))


def run_scan(server, points: int, listener=None) -> float:
    """Seconds for one `ascan` of `points` points, start to end (recorders included)."""
    return run_command(server, ascan(points), listener)


def child(points: int) -> None:
    """Run one scan and print the peak RSS (KiB) before and after it, as JSON."""
    with tempfile.TemporaryDirectory() as folder:
        server = make_server(Path(folder))
        run_scan(server, 10)  # warm-up: imports, threads, first env writes
        before = peak_rss()
        now_before = current_rss()
        took = run_scan(server, points)
        after = peak_rss()
        now_after = current_rss()
    print(json.dumps({"points": points, "seconds": took, "rss_before": before,
                      "rss_after": after, "now_before": now_before, "now_after": now_after}))


def measure_memory(points: int) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", str(points)],
                            capture_output=True, text=True, check=True, timeout=900)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true",
                        help="profile a 10,000-point scan with cProfile")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (best is shown)")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    with tempfile.TemporaryDirectory() as folder:
        server = make_server(Path(folder))
        run_scan(server, 10)
        if args.profile:
            import cProfile
            import pstats

            from macroserver.engine.control import MacroControl

            # the macro runs in this thread (cProfile sees one thread; recorder workers
            # are not in the profile)
            cls, values, line = server.parse(ascan(10_000))
            context = server.new_context(NullListener(), MacroControl(), "bench", line)
            profile = cProfile.Profile()
            profile.enable()
            cls(context).run(*values)
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
            pstats.Stats(profile).sort_stats("tottime").print_stats(20)
            return
        print("In-process ascan, integration time 0, 4 scalar channels, Output recorder")
        print(f"{'listener':>22}  {'points':>8}  {'best s':>8}  {'points/s':>10}  {'target':>8}")
        with open(os.devnull, "w") as null:
            listeners = {"NullListener": NullListener(),
                         "Console -> /dev/null": ConsoleListener(null, null)}
            for label, listener in listeners.items():
                for points in (1_000, 10_000):
                    best = min(run_scan(server, points, listener) for _ in range(args.repeat))
                    rate = points / best
                    verdict = "ok" if rate >= TARGET else "BELOW"
                    print(f"{label:>22}  {points:>8}  {best:>8.3f}  {rate:>10.0f}  "
                          f"{verdict:>8}")

    print()
    print("Peak RSS of a child process (KiB), after a 10-point warm-up scan")
    print(f"{'points':>8}  {'seconds':>8}  {'peak before':>11}  {'peak after':>10}  "
          f"{'growth':>7}  {'RSS now before':>14}  {'RSS now after':>13}")
    results = [measure_memory(points) for points in (1_000, 100_000)]
    for r in results:
        print(f"{r['points']:>8}  {r['seconds']:>8.2f}  {r['rss_before']:>11}  "
              f"{r['rss_after']:>10}  {r['rss_after'] - r['rss_before']:>7}  "
              f"{r['now_before']:>14}  {r['now_after']:>13}")
    small, large = results
    extra = large["rss_after"] - small["rss_after"]
    print(f"100,000 vs 1,000 points: {extra:+} KiB peak RSS "
          f"({'flat' if abs(extra) < 8 * 1024 else 'NOT flat'}: limit 8 MiB)")


if __name__ == "__main__":
    main()
