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
import threading
import time
from pathlib import Path

CONFIG = """
data_roots = []
[motors.m1]
position = 0.0
limits = [-100000.0, 100000.0]
[channels.timer]
kind = "timer"
[channels.ct1]
kind = "counter"
[channels.ct2]
kind = "counter"
[channels.ct3]
kind = "counter"
[measurement_groups.mg1]
timer = "timer"
channels = ["timer", "ct1", "ct2", "ct3"]
"""

ENV = {"JsonRecorder": True, "ActiveMntGrp": "mg1"}  # no ScanFile: no file recorders


class Timing:
    """Receive times of data rows (by point number) and dt of record packets."""

    def __init__(self) -> None:
        self.row_received: dict[int, float] = {}
        self.dt: dict[int, float] = {}
        self.records = 0
        self.lock = threading.Lock()

    def output(self, lines: list[str]) -> None:
        now = time.time()
        for line in lines:
            cells = line.split(None, 1)
            if cells and cells[0].isdigit():
                with self.lock:
                    self.row_received.setdefault(int(cells[0]), now)

    def packet(self, packet: dict) -> None:
        if packet.get("type") == "record_data":
            data = packet["data"]
            with self.lock:
                self.records += 1
                self.dt[data["point_nb"]] = data["dt"]

    def delays_ms(self, t0: float) -> list[float]:
        return [1000.0 * (self.row_received[i] - (t0 + dt)) for i, dt in self.dt.items()
                if i in self.row_received]


INTEGRATION_TIME = 0.0


def command(points: int) -> str:
    return f"ascan m1 0 {points - 1} {points - 1} {INTEGRATION_TIME}"


def run_in_process(folder: Path, points: int) -> dict:
    import json

    from macroserver.config import load_config
    from macroserver.core import MacroServerCore
    from macroserver.env import Environment
    from macroserver.macros.runner import MacroRunner
    from macroserver.streams import Level, NullListener

    timing = Timing()

    class Listener(NullListener):
        def message(self, level: Level, text: str) -> None:
            if level is Level.OUTPUT:
                timing.output(text.split("\n"))

        def record_data(self, codec: str, payload: bytes) -> None:
            timing.packet(json.loads(payload))

    config = folder / "elements.toml"
    config.write_text(CONFIG)
    core = MacroServerCore(load_config(str(config)), Environment(folder / "env-local.json"),
                           extra_data_roots=[folder])
    core.set_env(ENV)
    runner = MacroRunner(core, Listener())
    started = time.perf_counter()
    outcome = runner.run(command(points))
    elapsed = time.perf_counter() - started
    assert outcome.state == "finish", outcome
    t0 = core.env.get("ScanHistory")[-1]["startts"]
    return {"elapsed": elapsed, "timing": timing, "t0": t0}


def run_tango(folder: Path, points: int) -> dict:
    from macroserver.tango.client import DoorClient
    from macroserver.tango.database import (
        EmbeddedDatabase,
        apply_dsconfig,
        start_device_server,
        stop_process,
    )
    from macroserver.tango.stack import server_description

    config = folder / "elements.toml"
    config.write_text(CONFIG)
    database = EmbeddedDatabase(None, folder / "db")
    database.start(timeout=60)
    process = None
    try:
        description = server_description("bench", {
            "Config": [str(config)], "DataRoots": [str(folder)],
            "EnvironmentDb": [str(folder / "env-tango.json")]})
        apply_dsconfig(description, database.tango_host)
        process = start_device_server(
            [sys.executable, "-m", "macroserver.cli.admin", "serve"], "bench",
            database.tango_host, server="MacroServer", timeout=60,
            log_path=folder / "server.log")
        timing = Timing()
        client = DoorClient(f"tango://{database.tango_host}/door/bench/1", timeout_ms=30000)
        client.on_stream(lambda stream, lines: stream == "Output" and timing.output(lines))
        client.on_record(timing.packet)
        with client:
            client.set_environment(ENV)
            assert client.run("ascan m1 0 1 2 0", timeout=60).ok  # warm-up
            timing.__init__()
            started = time.perf_counter()
            outcome = client.run(command(points), timeout=600)
            elapsed = time.perf_counter() - started
            assert outcome.ok, outcome
            deadline = time.monotonic() + 10  # the last events may trail the status
            while len(timing.row_received) < points and time.monotonic() < deadline:
                time.sleep(0.01)
            t0 = client.environment()["ScanHistory"][-1]["startts"]
        return {"elapsed": elapsed, "timing": timing, "t0": t0}
    finally:
        if process is not None:
            stop_process(process)
        database.stop()


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
        delays = sorted(timing.delays_ms(result["t0"]))
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
