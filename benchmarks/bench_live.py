"""How late each client sees a point: from the moment it was taken to its arrival.

Run by hand: `python benchmarks/bench_live.py [--quick]` (about 2 minutes; starts its own
Tango database and `macroserver serve` on free loopback ports, in a temporary folder).

One real server, every file recorder on (`ScanFile` SPEC + NeXus: the `.dat` with an EDF
file per frame, the NeXus master with the scan's own file), `JsonRecorder True`. Each
scan is run by `mspock -c` and watched at the same time by:

- a plain PyTango client (this process): RecordData and Output change events;
- our `DoorClient` (`tango/client.py`), in a process of its own: its record callbacks
  (RecordData) and its Output stream;
- mspock's printed table rows (its stdout, read as they come);
- the web view's event stream: `macroserver web` in its own process, its `/events`
  read by another process (the `point` messages).

The moment a point was taken is the record packet's `taken` (docs/json-packets.md), the
server's `time.time()` when the point's values were read; every process runs on this
host, so the clocks agree. An Output row is matched to its point by the point number in
its first cell. Cases: scalar group (timer + 3 counters) and image group (plus a 256-value
spectrum and a 251 x 251 frame), integration time 0, 1 ms and 100 ms. Goals (issue 21):
median < 5 ms, p99 < 20 ms, every point received (coalesced packets hold every point).

Then the start of a scan right after another: RunMacro's return to the first point's
RecordData event, after an image scan with files and after a scalar one (goal < 20 ms),
and how long the RunMacro call itself took; `--starts N` starts per kind (median, p90,
max), `--starts-only` measures only these. Before all this, the server's first macro
(the same two figures, once).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    IMAGE_GROUP,
    SCALAR_GROUP,
    ascan,
    percentile,
    scan_env,
    tango_system,
)

FILES = ["live.dat", "live.h5"]
CASES = [(SCALAR_GROUP, 0.0, 1000), (SCALAR_GROUP, 0.001, 500), (SCALAR_GROUP, 0.1, 40),
         (IMAGE_GROUP, 0.0, 200), (IMAGE_GROUP, 0.001, 200), (IMAGE_GROUP, 0.1, 40)]
QUICK_CASES = [(SCALAR_GROUP, 0.0, 500), (SCALAR_GROUP, 0.001, 200), (SCALAR_GROUP, 0.1, 20),
               (IMAGE_GROUP, 0.0, 100), (IMAGE_GROUP, 0.001, 100), (IMAGE_GROUP, 0.1, 20)]
STARTS = 5  # back-to-back scan starts measured per kind (--starts)
GOAL_MEDIAN_MS = 5.0
GOAL_P99_MS = 20.0


class Arrivals:
    """Receive times by point number, per stream, and the `taken` of every point."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.taken: dict[int, float] = {}
            self.received: dict[str, dict[int, float]] = {}
            self.events = 0
            self.first_point: float | None = None

    def packet(self, packet: dict[str, Any], now: float, stream: str = "RecordData") -> None:
        kind, data = packet.get("type"), packet.get("data") or {}
        if kind == "record_data":
            rows = [(data.get("point_nb"), packet.get("taken"))]
        elif kind == "record_block":
            rows = list(zip(data.get("point_nb") or [], packet.get("taken") or []))
        else:
            return
        with self.lock:
            self.events += 1
            if self.first_point is None:
                self.first_point = now
            got = self.received.setdefault(stream, {})
            for point_nb, taken in rows:
                if isinstance(point_nb, int) and isinstance(taken, float):
                    self.taken[point_nb] = taken
                    got.setdefault(point_nb, now)

    def row_lines(self, lines: list[str], now: float, stream: str = "Output") -> None:
        with self.lock:
            got = self.received.setdefault(stream, {})
            for line in lines:
                cells = line.split(None, 1)
                if cells and cells[0].isdigit():
                    got.setdefault(int(cells[0]), now)

    def delays(self, taken: dict[int, float] | None = None) -> dict[str, list[float]]:
        """Milliseconds from taken to received, per stream."""
        taken = self.taken if taken is None else taken
        with self.lock:
            return {stream: [1000.0 * (t - taken[i]) for i, t in got.items() if i in taken]
                    for stream, got in self.received.items()}


# -- watcher processes (`--watch doorclient|web`) ---------------------------------------

def watch_door_client(door: str) -> None:
    from macroserver.tango.client import DoorClient

    arrivals = Arrivals()
    client = DoorClient(door)
    client.on_record(lambda packet: arrivals.packet(packet, time.time()))
    client.on_stream(lambda stream, lines: stream == "Output"
                     and arrivals.row_lines(lines, time.time()))
    with client:
        serve_dumps(arrivals)


def watch_web(url: str) -> None:
    arrivals = Arrivals()
    host, port = url.split("//", 1)[1].rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=None)
    connection.request("GET", "/events")
    response = connection.getresponse()

    def read() -> None:
        for raw in response:
            if not raw.startswith(b"data: "):
                continue
            now = time.time()
            message = json.loads(raw[6:])
            if message.get("kind") == "points":  # the points of one packet
                points = zip(message["rows"], message["taken"])
            elif message.get("kind") == "point":  # one message per point, before 2026-12-08
                points = zip([message["row"]], [message.get("taken")])
            else:
                continue
            with arrivals.lock:
                got = arrivals.received.setdefault("stream", {})
                for row, taken in points:
                    if isinstance(taken, float):
                        arrivals.taken[row.get("point_nb")] = taken
                        got.setdefault(row.get("point_nb"), now)

    threading.Thread(target=read, daemon=True).start()
    serve_dumps(arrivals)


def serve_dumps(arrivals: Arrivals) -> None:
    """Say ready; on each `dump` line of stdin, print the delays so far as JSON and
    start afresh; end with stdin."""
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "dump":
            print(json.dumps({"delays": arrivals.delays(),
                              "counts": {k: len(v) for k, v in arrivals.received.items()}}),
                  flush=True)
            arrivals.reset()


class Watcher:
    """A watcher process, asked for its numbers between scans."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=env)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise SystemExit(f"watcher {args} did not start")

    def dump(self) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("dump\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- the driver -------------------------------------------------------------------------

def subscribe_plain(door: str, arrivals: Arrivals) -> tuple[Any, list[int]]:
    """A plain PyTango client: RecordData (JSON decoded) and Output change events."""
    import tango

    from macroserver.wire import lines_from_wire

    proxy = tango.DeviceProxy(door)

    def on_record(event: Any) -> None:
        now = time.time()
        if not event.err and event.attr_value is not None and event.attr_value.value:
            payload = event.attr_value.value[1]
            if payload:
                arrivals.packet(json.loads(payload), now)

    def on_output(event: Any) -> None:
        now = time.time()
        if not event.err and event.attr_value is not None and event.attr_value.value:
            arrivals.row_lines(lines_from_wire(event.attr_value.value), now)

    ids = [proxy.subscribe_event("RecordData", tango.EventType.CHANGE_EVENT, on_record),
           proxy.subscribe_event("Output", tango.EventType.CHANGE_EVENT, on_output)]
    return proxy, ids


def run_mspock(door: str, command: str, env: dict[str, str],
               on_lines: Callable[[list[str], float], None]) -> None:
    """`mspock -c <command>`; its stdout lines timed as they come."""
    process = subprocess.Popen(
        [sys.executable, "-m", "macroserver.cli.mspock", "--door", door, "--no-color",
         "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**env, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    for line in process.stdout:
        on_lines([line], time.time())
    if process.wait() != 0:
        raise SystemExit(f"mspock -c {command!r} failed")


def wait_for(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_ready(proxy: Any, timeout: float = 120.0) -> None:
    import tango

    if not wait_for(lambda: proxy.state() in (tango.DevState.ON, tango.DevState.ALARM),
                    timeout):
        raise SystemExit(f"door still {proxy.state()} after {timeout} s")


def stats(values: list[float]) -> str:
    if not values:
        return f"{'-':>9}{'-':>9}"
    return f"{percentile(values, 0.5):>9.2f}{percentile(values, 0.99):>9.2f}"


def verdict(delays: list[float], got: int, expected: int) -> str:
    """`met`, or what of the goal (issue 21.3) this row misses."""
    missed = [what for what, failed in (
        ("points", got < expected),
        ("median", not delays or percentile(delays, 0.5) >= GOAL_MEDIAN_MS),
        ("p99", not delays or percentile(delays, 0.99) >= GOAL_P99_MS)) if failed]
    return "met" if not missed else "MISSED " + "+".join(missed)


def measure_first_start(proxy: Any, arrivals: Arrivals, folder: Path, client: Any
                        ) -> tuple[float, float]:
    """The server's first macro (a scalar scan with files): RunMacro's own duration and
    its return -> first RecordData point event (ms)."""
    from macroserver.wire import lines_to_wire

    client.set_environment(scan_env(folder, SCALAR_GROUP, files=FILES))
    arrivals.reset()
    called = time.time()
    proxy.RunMacro(lines_to_wire([ascan(5)]))
    returned = time.time()
    wait_for(lambda: arrivals.first_point is not None, 30)
    wait_ready(proxy)
    first = arrivals.first_point
    return 1000.0 * (returned - called), math.nan if first is None else 1000.0 * (
        first - returned)


def measure_starts(proxy: Any, arrivals: Arrivals, folder: Path, client: Any,
                   before_group: str, rounds: int, files: list[str] = FILES,
                   calls: list[float] | None = None) -> list[float]:
    """RunMacro's return -> first RecordData point event, for a scalar scan (integration
    time 0, writing `files`) started the moment a `before_group` scan with files ended;
    the RunMacro calls' own durations are added to `calls`."""
    from macroserver.wire import lines_to_wire

    starts = []
    calls = [] if calls is None else calls
    for _ in range(rounds):
        client.set_environment(scan_env(folder, before_group, files=FILES))
        proxy.RunMacro(lines_to_wire([ascan(50 if before_group == IMAGE_GROUP else 200)]))
        wait_ready(proxy)
        client.set_environment(scan_env(folder, SCALAR_GROUP, files=files))
        if not files and "ScanFile" in client.environment():
            client.set_environment({}, remove=["ScanFile"])
        arrivals.reset()
        command = lines_to_wire([ascan(5)])
        called = time.time()
        proxy.RunMacro(command)
        returned = time.time()
        calls.append(1000.0 * (returned - called))
        wait_for(lambda: arrivals.first_point is not None, 10)
        wait_ready(proxy)
        if arrivals.first_point is not None:
            starts.append(1000.0 * (arrivals.first_point - returned))
    return starts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer points")
    parser.add_argument("--no-coalescing", action="store_true",
                        help="JsonRecordBlocks False: one event per point, as Sardana sends")
    parser.add_argument("--starts", type=int, default=STARTS, metavar="N",
                        help=f"scan starts measured per kind (default {STARTS})")
    parser.add_argument("--starts-only", action="store_true",
                        help="measure only the scan starts, not the live points")
    parser.add_argument("--watch", choices=("doorclient", "web"), help=argparse.SUPPRESS)
    parser.add_argument("target", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.watch == "doorclient":
        watch_door_client(args.target)
        return 0
    if args.watch == "web":
        watch_web(args.target)
        return 0

    from macroserver.tango.client import DoorClient
    from macroserver.tango.database import free_port, stop_process

    cases = [] if args.starts_only else QUICK_CASES if args.quick else CASES
    load_at_start = os.getloadavg()[0]
    results: list[tuple[str, str, int, int, list[float], int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        folder = Path(tmp) / "tango"
        with tango_system(folder) as (door, _server):
            host = door.split("//", 1)[1].split("/", 1)[0]
            env = {**os.environ, "TANGO_HOST": host,
                   "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            port = free_port()
            web = subprocess.Popen(
                [sys.executable, "-m", "macroserver.cli.admin", "web", "--port", str(port)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            watchers: list[Watcher] = []
            arrivals = Arrivals()
            proxy, ids = subscribe_plain(door, arrivals)
            try:
                client = DoorClient(door, timeout_ms=30000)
                if not wait_for(lambda: _answers(port), 60):
                    raise SystemExit("macroserver web did not start")
                watchers = [Watcher(["--watch", "doorclient", door], env),
                            Watcher(["--watch", "web", f"http://127.0.0.1:{port}"], env)]
                blocks = {"JsonRecordBlocks": not args.no_coalescing}
                client.set_environment(blocks)
                first_call, first_start = measure_first_start(proxy, arrivals, folder, client)
                for group, integration, points in cases:
                    client.set_environment(scan_env(folder, group, files=FILES))
                    for watcher in watchers:
                        watcher.dump()
                    arrivals.reset()
                    mspock = Arrivals()
                    run_mspock(door, ascan(points, integration), env,
                               lambda lines, now: mspock.row_lines(lines, now, "table"))
                    wait_for(lambda: len(arrivals.received.get("Output", {})) >= points, 10)
                    events = arrivals.events
                    taken = dict(arrivals.taken)
                    label = f"{'scalar' if group == SCALAR_GROUP else 'image'}, {integration:g} s"
                    found = arrivals.delays()
                    rows = [("plain PyTango", "RecordData", found.get("RecordData", [])),
                            ("plain PyTango", "Output", found.get("Output", [])),
                            ("mspock", "table row", mspock.delays(taken).get("table", []))]
                    dumps = [w.dump() for w in watchers]
                    rows += [("DoorClient", "on_record", dumps[0]["delays"].get("RecordData", [])),
                             ("DoorClient", "Output", dumps[0]["delays"].get("Output", [])),
                             ("web /events", "points", dumps[1]["delays"].get("stream", []))]
                    for who, stream, delays in rows:
                        results.append((label, f"{who} {stream}", len(delays), points, delays,
                                        events if who == "plain PyTango"
                                        and stream == "RecordData" else 0))
                calls: list[float] = []
                after_image = measure_starts(proxy, arrivals, folder, client, IMAGE_GROUP,
                                             args.starts, calls=calls)
                after_scalar = measure_starts(proxy, arrivals, folder, client, SCALAR_GROUP,
                                              args.starts, calls=calls)
                no_files = measure_starts(proxy, arrivals, folder, client, IMAGE_GROUP,
                                          args.starts, files=[], calls=calls)
            finally:
                for watcher in watchers:
                    watcher.stop()
                for event_id in ids:
                    proxy.unsubscribe_event(event_id)
                stop_process(web)
    if results:
        print_live(results, args.no_coalescing)
    print(f"load average {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    for label, starts in (("after an image scan with files", after_image),
                          ("after a scalar scan with files", after_scalar),
                          ("the next scan writing no file, after an image scan", no_files)):
        print(f"RunMacro return -> first point event, {label}: {spread(starts)}")
    print(f"goal < 20 ms; the RunMacro call itself (not counted above): {spread(calls)}")
    print(f"the server's first macro (a scalar scan with files): RunMacro {first_call:.1f} ms, "
          f"its return -> first point event {first_start:.1f} ms")
    return 0


def print_live(results: list[tuple[str, str, int, int, list[float], int]],
               no_coalescing: bool) -> None:
    """The table of the live points' delays, with the goal's verdict per row."""
    print("delay from a point's measurement to its arrival at the client; ascan, all file "
          "recorders (SPEC+EDF, NeXus) + JSON on"
          + (", JsonRecordBlocks False (no coalescing)" if no_coalescing else ""))
    print(f"{'case':<18}{'client, stream':<30}{'points':>12}{'events':>8}{'median ms':>10}"
          f"{'p99 ms':>9}  goal")
    missed = []
    for label, who, got, expected, delays, events in results:
        shown = str(events) if events else ""
        judged = verdict(delays, got, expected)
        print(f"{label:<18}{who:<30}{f'{got}/{expected}':>12}{shown:>8}{stats(delays)}  {judged}")
        if judged != "met":
            missed.append(f"{label} {who}")
    print(f"goal: median < {GOAL_MEDIAN_MS:g} ms, p99 < {GOAL_P99_MS:g} ms, every point; met in "
          f"{len(results) - len(missed)} of {len(results)} rows"
          + (f"; missed: {'; '.join(missed)}" if missed else ""))


def spread(values: list[float]) -> str:
    """Median, p90 and max of `values` (ms), and how many."""
    if not values:
        return "none measured"
    return (f"median {percentile(values, 0.5):.1f} ms, p90 {percentile(values, 0.9):.1f} ms, "
            f"max {max(values):.1f} ms ({len(values)})")


def _answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/api/state")
        return connection.getresponse().status == 200
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
