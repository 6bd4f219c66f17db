"""Helpers shared by the benchmarks (bench_*.py and campaign.py).

Element configurations, an in-process server and scan runner, a real Tango system on
loopback (embedded database + `macroserver serve`, both stopped at the end), the
receive-time bookkeeping of Output/RecordData events, RSS readings, and the plain
h5py/fabio loops that are the physical floor of the file recorders.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

#: Simulated elements: an instant motor, a timer and three counters (scalar group), plus
#: the demo's 1D `wave` (256) and 2D `beam` (251x251) channels (image group), and two
#: self-saving detectors (64x64 and 2048x2048 uint16 frames saved in their own files).
CONFIG_TOML = """
data_roots = []
[motors.m1]
position = 0.0
limits = [-1000000000.0, 1000000000.0]
[channels.timer]
kind = "timer"
[channels.ct1]
kind = "counter"
motor = "m1"
[channels.ct2]
kind = "counter"
motor = "m1"
center = 3.0
[channels.ct3]
kind = "counter"
motor = "m1"
width = 50.0
[channels.wave]
kind = "spectrum"
model = "wave"
motor = "m1"
shape = [256]
[channels.beam]
kind = "image"
model = "spot"
motor = "m1"
shape = [251, 251]
[channels.det64]
kind = "selfsaving"
width = 64
height = 64
frames_per_file = 1000
[channels.det2048]
kind = "selfsaving"
width = 2048
height = 2048
frames_per_file = 1000
[measurement_groups.mg_scalar]
timer = "timer"
channels = ["timer", "ct1", "ct2", "ct3"]
[measurement_groups.mg_image]
timer = "timer"
channels = ["timer", "ct1", "ct2", "ct3", "wave", "beam"]
[measurement_groups.mg_det64]
timer = "timer"
channels = ["timer", "ct1", "ct2", "ct3", "det64"]
[measurement_groups.mg_det2048]
timer = "timer"
channels = ["timer", "ct1", "ct2", "ct3", "det2048"]
"""
SCALAR_GROUP = "mg_scalar"
IMAGE_GROUP = "mg_image"
DETECTOR_GROUPS = {"64x64": "mg_det64", "2048x2048": "mg_det2048"}
IMAGE_SHAPE = (251, 251)
SPECTRUM_LENGTH = 256


def write_config(folder: Path, text: str = CONFIG_TOML) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "elements.toml"
    path.write_text(text)
    return path


def scan_env(folder: Path | None, group: str, *, files: Sequence[str] = (),
             json: bool = True) -> dict[str, Any]:
    """Environment for one benchmark case: group, JSON recorder, and ScanFile (or none)."""
    env: dict[str, Any] = {"ActiveMntGrp": group, "JsonRecorder": json}
    if folder is not None:  # also without files: a self-saving detector saves there
        env["ScanDir"] = str(folder)
        if files:
            env["ScanFile"] = list(files)
    return env


def ascan(points: int, integration_time: float = 0.0, motor: str = "m1") -> str:
    return f"ascan {motor} 0 {points - 1} {points - 1} {integration_time}"


# -- in-process -----------------------------------------------------------------------

def make_core(folder: Path, config_text: str = CONFIG_TOML, env: dict[str, Any] | None = None):
    """A MacroServerCore on the benchmark elements, its environment file in `folder`."""
    from macroserver.config import load_config
    from macroserver.engine.core import MacroServerCore
    from macroserver.env import Environment

    core = MacroServerCore(load_config(str(write_config(folder, config_text))),
                           Environment(folder / "environment.json"), extra_data_roots=[folder])
    if env:
        core.env.update(env)
    return core


def run_scan(core, command: str, listener=None) -> float:
    """Seconds for one macro run in this process, start to end (recorders included)."""
    from macroserver.engine.runner import MacroRunner
    from macroserver.streams import NullListener

    runner = MacroRunner(core, listener or NullListener())
    started = time.perf_counter()
    outcome = runner.run(command)
    took = time.perf_counter() - started
    core.sidecars.wait(60)  # the catalogue sidecar is written behind the scan: not timed
    if outcome.state != "finish":
        raise SystemExit(f"{command!r} failed: {outcome.error}")
    return took


def best_of(action: Callable[[int], object], repeat: int = 3) -> float:
    """Best wall time of `repeat` runs (a busy 2-core machine); `action` gets the run number."""
    best = math.inf
    for run in range(repeat):
        started = time.perf_counter()
        action(run)
        best = min(best, time.perf_counter() - started)
    return best


# -- memory ---------------------------------------------------------------------------

def current_rss() -> int:
    """Resident set size now (KiB), from /proc (0 where there is none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss() -> int:
    """Peak resident set size of this process so far, or since `reset_peak_rss` (KiB)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak_rss() -> bool:
    """Start the peak RSS afresh (Linux: "5" into /proc/self/clear_refs); False if not."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def release_free_memory() -> None:
    """Give freed heap back to the OS (glibc keeps it otherwise), as a long-lived
    server would after a scan; no-op where malloc_trim does not exist."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def process_cpu(pid: int | None = None) -> float:
    """CPU seconds (user + system, all threads) of process `pid` (this one by default)."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- Tango ----------------------------------------------------------------------------

@contextlib.contextmanager
def tango_system(folder: Path, instance: str = "bench",
                 config_text: str = CONFIG_TOML) -> Iterator[tuple[str, Any]]:
    """An embedded database and `macroserver serve <instance>` on free loopback ports.

    Yields (door device name as a full tango:// URL, server process); both processes
    are stopped (by their own PIDs) when the block ends.
    """
    from macroserver.tango.database import (
        EmbeddedDatabase,
        apply_dsconfig,
        start_device_server,
        stop_process,
    )
    from macroserver.tango.stack import doors_of, server_description

    config = write_config(folder, config_text)
    database = EmbeddedDatabase(None, folder / "db")
    database.start(timeout=60)
    process = None
    try:
        description = server_description(instance, {
            "Config": [str(config)], "DataRoots": [str(folder)],
            "EnvironmentDb": [str(folder / f"env-{instance}.json")]})
        apply_dsconfig(description, database.tango_host)
        process = start_device_server(
            [sys.executable, "-m", "macroserver.cli.admin", "serve"], instance,
            database.tango_host, server="MacroServer", timeout=60,
            log_path=folder / f"{instance}-server.log")
        yield f"tango://{database.tango_host}/{doors_of(description)[0]}", process
    finally:
        if process is not None:
            stop_process(process)
        database.stop()


class Timing:
    """Receive times of data rows (by point number) and `dt` of record packets, to get
    the delay from measurement to client: `dt` is Point.timestamp - t0 (ScanHistory's
    `startts`); both ends run on this host, so wall clocks agree."""

    def __init__(self) -> None:
        self.reset()
        self.lock = threading.Lock()

    def reset(self) -> None:
        self.row_received: dict[int, float] = {}
        self.dt: dict[int, float] = {}
        self.records = 0

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
        return sorted(1000.0 * (self.row_received[i] - (t0 + dt)) for i, dt in self.dt.items()
                      if i in self.row_received)

    def wait_records(self, points: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.records < points and time.monotonic() < deadline:
            time.sleep(0.01)

    def wait_rows(self, points: int, timeout: float = 10.0) -> None:
        """The last events may trail the final status a little."""
        deadline = time.monotonic() + timeout
        while len(self.row_received) < points and time.monotonic() < deadline:
            time.sleep(0.01)

    def listener(self):
        """An in-process listener feeding this Timing (Output lines, JSON packets)."""
        import json

        from macroserver.streams import Level, NullListener

        timing = self

        class Listener(NullListener):
            def message(self, level: Level, text: str) -> None:
                if level is Level.OUTPUT:
                    timing.output(text.split("\n"))

            def record_data(self, codec: str, payload: bytes) -> None:
                timing.packet(json.loads(payload))

        return Listener()

    def attach(self, client) -> None:
        """Feed this Timing from a DoorClient's Output and RecordData events."""
        client.on_stream(lambda stream, lines: stream == "Output" and self.output(lines))
        client.on_record(self.packet)


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[int(fraction * (len(ordered) - 1))]


# -- the physical floor -----------------------------------------------------------------

def fsync(path: Path) -> None:
    """The recorders fsync their files at the end; the plain loops get the same durability."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def plain_h5py(path: Path, frames: Sequence[np.ndarray], chunks: tuple[int, ...],
               filters: dict[str, Any] | None = None) -> None:
    """What a hand-written loop does: grow by one frame, write it; same chunks/filters."""
    import h5py

    shape = frames[0].shape
    with h5py.File(path, "w", libver="latest") as f:
        ds = f.create_dataset("frames", shape=(0, *shape), maxshape=(None, *shape),
                              dtype=frames[0].dtype, chunks=chunks, **(filters or {}))
        for i, frame in enumerate(frames):
            ds.resize(i + 1, axis=0)
            ds[i] = frame
    fsync(path)


def plain_fabio(folder: Path, frames: Sequence[np.ndarray],
                headers: Sequence[dict[str, Any]] | None = None) -> None:
    """One EDF file per frame with fabio, as the SPEC recorder's EDF writer produces."""
    import fabio.edfimage

    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        header = headers[i] if headers else {"scan_number": "1", "point_nb": str(i)}
        fabio.edfimage.EdfImage(data=frame, header=header).write(str(folder / f"f_{i:05d}.edf"))
