"""How much subscribed clients slow a scan: 1 vs N client processes on one Door.

Run by hand: `python benchmarks/bench_clients.py [--clients 20] [--points 1000]
[--integration-time 0]`. Each client is its own process with its own DeviceProxy
subscribed to Output (as GUIs and shells on other hosts would be); the scan is timed
from RunMacro to its final MacroStatus by the benchmark's own client, medians of 3.
On one 2-core machine the client processes compete with the server for the CPUs, so
this is an upper bound of the slowdown a beamline (clients on other hosts) would see;
`--nice 19` lets the server go first, closer to clients running elsewhere.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import ascan, tango_system  # noqa: E402

CLIENT = """
import sys, threading, tango
door = tango.DeviceProxy(sys.argv[1])
rows, done = [0], threading.Event()
def on_output(event):
    if not event.err and event.attr_value is not None:
        rows[0] += sum(1 for line in (event.attr_value.value or []) if " ended at " in line)
        if rows[0] >= int(sys.argv[2]):
            done.set()
door.subscribe_event("Output", tango.EventType.CHANGE_EVENT, on_output)
print("ready", flush=True)
done.wait(600)
"""


def timed_scan(door: str, command: str) -> float:
    from macroserver.tango.client import DoorClient

    with DoorClient(door) as client:
        started = time.monotonic()
        outcome = client.run(command, timeout=600)
        assert outcome.ok, outcome
        return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--integration-time", type=float, default=0.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nice", type=int, default=0,
                        help="niceness of the client processes (19: as if on other hosts)")
    args = parser.parse_args()
    command = ascan(args.points, args.integration_time)
    with tempfile.TemporaryDirectory() as tmp, tango_system(Path(tmp)) as (door, _):
        timed_scan(door, command)  # warm-up
        alone = [timed_scan(door, command) for _ in range(args.runs)]
        clients = [subprocess.Popen(["nice", "-n", str(args.nice), sys.executable, "-c", CLIENT,
                                     door, str(args.runs)],
                                    stdout=subprocess.PIPE, text=True,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
                   for _ in range(args.clients)]
        try:
            for client in clients:
                assert client.stdout is not None and client.stdout.readline().strip() == "ready"
            crowded = [timed_scan(door, command) for _ in range(args.runs)]
        finally:
            for client in clients:
                client.kill()
                client.wait(10)
    one, many = statistics.median(alone), statistics.median(crowded)
    print(f"ascan, {args.points} points, integration time {args.integration_time:g} s, "
          f"medians of {args.runs}")
    print(f"{'subscribers':<14}{'seconds':>10}{'points/s':>12}")
    print(f"{'1':<14}{one:>10.3f}{args.points / one:>12.0f}")
    print(f"{1 + args.clients:<14}{many:>10.3f}{args.points / many:>12.0f}")
    print(f"slowdown: {100 * (many / one - 1):+.0f}% (target: at most +20%)")


if __name__ == "__main__":
    main()
