"""A 1,001-point `ascan` (integration time 0) run from Sardana's own BaseDoor, JsonRecorder on.

    .venv/bin/python benchmarks/bench_sardana_door.py [--points N]

Starts an embedded database and `macroserver serve` on free loopback ports; the client
is Sardana 3.7.1's Python API (`registerExtensions()`, `taurus.Device(door)`,
`runMacro(..., synch=True)`) in a child process with HOME in a temporary folder, so it
decodes every record packet and waits for the door's State events as spock does.
Sardana itself does 17-23 points/s on this machine for the same scan (reference notes);
the target is 500. campaign.py prints the same row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SCALAR_GROUP, scan_env, tango_system  # noqa: E402

TARGET_SARDANA_DOOR = 500.0

CLIENT = textwrap.dedent("""
    import json, os, sys, time
    from sardana.taurus.core.tango.sardana import registerExtensions
    registerExtensions()
    import taurus
    door = taurus.Device(sys.argv[1])
    ms = door.macro_server
    deadline = time.monotonic() + 60
    while "ascan" not in ms.getMacroStrList() and time.monotonic() < deadline:
        time.sleep(0.05)
    door.runMacro("ascan m1 0 1 1 0", synch=True)  # warm-up
    started = time.perf_counter()
    door.runMacro(sys.argv[2], synch=True)
    seconds = time.perf_counter() - started
    macro = door.getLastRunningMacro()
    print("RESULT " + json.dumps({"seconds": seconds, "state": macro.state,
                                  "step": macro.step}), flush=True)
    os._exit(0)
""")


def through_sardana_door(folder: Path, points: int) -> dict:
    """Seconds for one `points`-point ascan run by Sardana's BaseDoor (synchronous)."""
    with tango_system(folder, instance="sardanadoor") as (door, _process):
        import tango

        server = tango.DeviceProxy(door.rsplit("/", 3)[0] + "/" +
                                   tango.DeviceProxy(door).read_attribute("MacroServer").value)
        server.SetEnvironment(json.dumps(scan_env(folder, SCALAR_GROUP, json=True)))
        with tempfile.TemporaryDirectory(prefix="sardana-home-") as home:
            env = dict(os.environ, HOME=home, PYTHONPATH="")
            done = subprocess.run(
                [sys.executable, "-c", CLIENT, door, f"ascan m1 0 1 {points - 1} 0"],
                env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise SystemExit(f"Sardana client failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    if result["state"] != "finish":
        raise SystemExit(f"the scan ended {result['state']}, not finish")
    return {"points": points, **result}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1001)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sardana-") as folder:
        r = through_sardana_door(Path(folder), args.points)
    rate = r["points"] / r["seconds"]
    verdict = "PASS" if rate >= TARGET_SARDANA_DOOR else "FAIL"
    print(f"ascan from Sardana's BaseDoor, JsonRecorder on ({r['points']:,} pts)  "
          f"{rate:9,.0f} points/s  (target >= {TARGET_SARDANA_DOOR:,.0f})  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
