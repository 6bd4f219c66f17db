"""Helpers for the fault tests: a MacroServer through Tango that can be killed and
restarted, a collecting Door subscription, and checks of SPEC/NeXus/EDF files.

The server is registered with `server_description` + `apply_dsconfig` and started with
the conftest `DeviceServers` factory (its own PID, loopback). `wrapper` lets a test set
resource limits in the server process before it execs `macroserver serve`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable

import h5py
import numpy as np
import tango

from macroserver.tango.database import apply_dsconfig
from macroserver.tango.stack import server_description

SERVE = [sys.executable, "-m", "macroserver.cli.admin", "serve"]

# Sets a file-size limit in the server process, with SIGXFSZ ignored so that a write
# beyond it fails with EFBIG (an OSError, like ENOSPC on a full disk), then execs serve.
RLIMIT_WRAPPER = (
    "import os, resource, signal, sys\n"
    "limit = int(os.environ['FAULT_FSIZE_LIMIT'])\n"
    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'macroserver.cli.admin', 'serve',"
    " *sys.argv[1:]])\n"
)


def demo_config(folder: Path) -> Path:
    """The packaged demo beamline (theta, value, wave, 251x251 beam), no relative roots."""
    text = resources.files("macroserver").joinpath("data", "demo.toml").read_text()
    text = text.replace('data_roots = ["data"]', "data_roots = []")
    path = folder / "demo.toml"
    path.write_text(text)
    return path


@dataclass
class Server:
    """One MacroServer instance: how to (re)start, kill and reach it."""

    servers: Any  # conftest DeviceServers
    tango_host: str
    instance: str
    folder: Path
    config: Path
    recorder_path: list[Path] = field(default_factory=list)
    wrapper_env: dict[str, str] | None = None
    process: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def env_path(self) -> Path:
        return self.folder / "env" / "environment.json"

    @property
    def door(self) -> str:
        return f"tango://{self.tango_host}/door/{self.instance}/1"

    @property
    def ms(self) -> str:
        return f"tango://{self.tango_host}/macroserver/{self.instance}/1"

    def register(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        properties = {
            "Config": [str(self.config)],
            "DataRoots": [str(self.data_dir)],
            "EnvironmentDb": [str(self.env_path)],
        }
        if self.recorder_path:
            properties["RecorderPath"] = [str(p) for p in self.recorder_path]
        apply_dsconfig(server_description(self.instance, properties), self.tango_host)

    def start(self) -> None:
        args = SERVE if self.wrapper_env is None else [sys.executable, "-c", RLIMIT_WRAPPER]
        self.process = self.servers(args, "MacroServer", self.instance,
                                    env=self.wrapper_env, timeout=60)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)

    def proxy(self, which: str = "door") -> tango.DeviceProxy:
        proxy = tango.DeviceProxy(self.door if which == "door" else self.ms)
        proxy.set_timeout_millis(10000)
        return proxy

    def environment(self) -> dict[str, Any]:
        return json.loads(self.proxy("ms").read_attribute("Environment").value[1])

    def set_env(self, changes: dict[str, Any], remove: Iterable[str] = ()) -> None:
        payload = json.dumps({"change": changes, "del": list(remove)}).encode()
        self.proxy("ms").write_attribute("Environment", ("utf8_json", payload))


def start_server(servers: Any, tango_host: str, instance: str, folder: Path,
                 config: Path | None = None, **kwargs: Any) -> Server:
    folder.mkdir(parents=True, exist_ok=True)
    server = Server(servers, tango_host, instance, folder, config or demo_config(folder),
                    **kwargs)
    server.register()
    server.start()
    return server


class DoorEvents:
    """Change events of a Door (streams and MacroStatus) with arrival times, in order."""

    def __init__(self, door: str, attrs: Iterable[str] = ("Output", "Error", "Warning",
                                                           "MacroStatus")) -> None:
        self.proxy = tango.DeviceProxy(door)
        self.proxy.set_timeout_millis(10000)
        self.cond = threading.Condition()
        self.events: list[tuple[str, Any, float]] = []
        self._first = {a.lower() for a in attrs}
        self._ids = [self.proxy.subscribe_event(a, tango.EventType.CHANGE_EVENT, self._on)
                     for a in attrs]

    def _on(self, event: tango.EventData) -> None:
        now = time.monotonic()
        attr = event.attr_name.rsplit("/", 1)[-1].lower()
        with self.cond:
            if attr in self._first:
                self._first.discard(attr)
                return
            if not event.err:
                self.events.append((attr, event.attr_value.value, now))
                self.cond.notify_all()

    def lines(self, attr: str) -> list[tuple[str, float]]:
        with self.cond:
            return [(line, t) for a, v, t in self.events if a == attr.lower() for line in v or []]

    def statuses(self) -> list[dict[str, Any]]:
        with self.cond:
            values = [v for a, v, _ in self.events if a == "macrostatus" and v[1]]
        return [s for v in values for s in json.loads(v[1])]

    def clear(self) -> None:
        with self.cond:
            self.events.clear()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"not met within {timeout} s; last events "
                                       f"{self.events[-10:]}")
                self.cond.wait(min(left, 0.2))

    def wait_end(self, macro_id: str, timeout: float = 60.0) -> dict[str, Any]:
        final = ("finish", "stop", "abort", "exception")

        def ended() -> list[dict[str, Any]]:
            return [s for s in self.statuses() if s["id"] == macro_id and s["state"] in final]

        self.wait_for(lambda: bool(ended()), timeout)
        return ended()[0]

    def close(self) -> None:
        for event_id in self._ids:
            try:
                self.proxy.unsubscribe_event(event_id)
            except tango.DevFailed:
                pass


def data_rows(lines: Iterable[str]) -> list[int]:
    """Point numbers of the table rows among Output lines (first cell an integer)."""
    rows = []
    for line in lines:
        cells = line.split()
        if cells and cells[0].isdigit():
            rows.append(int(cells[0]))
    return rows


# -- files --------------------------------------------------------------------------------


def spec_text_is_clean(path: Path) -> str:
    """The file's text after checking it has no partial line; returns it."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), f"{path} ends with a partial line: {data[-80:]!r}"
    return data.decode("ascii")


def spec_scans(path: Path) -> dict[str, Any]:
    """silx's view of a SPEC file: {"<n>.<order>": (data rows, labels, closing line)}."""
    from silx.io.specfile import SpecFile

    scans = {}
    sf = SpecFile(str(path))
    try:
        for key in sf.keys():
            scan = sf[key]
            data = scan.data
            rows = 0 if data.size == 0 else data.shape[1] if data.ndim == 2 else 1
            closing = [h for h in scan.header if h.startswith("#C Acquisition ended")]
            scans[key] = (rows, list(scan.labels), closing[-1] if closing else "")
    finally:
        sf.close()
    return scans


def spec_last_scan_rows(text: str) -> list[list[str]]:
    """Data lines of the last `#S` block, split into tokens (raw text, no reader)."""
    block = text[text.rfind("\n#S ") + 1:]
    return [line.split() for line in block.splitlines()
            if line and not line.startswith("#") and not line.startswith("@A")
            and not line.startswith(" ")]


def nexus_points(path: Path, entry: str, swmr: bool = False) -> tuple[int, str]:
    """Rows of every measurement dataset of `entry` (all equal) and its end status."""
    kwargs = {"libver": "latest", "swmr": True} if swmr else {}
    with h5py.File(path, "r", **kwargs) as f:
        measurement = f[entry]["measurement"]
        lengths = {name: len(ds) for name, ds in measurement.items()}
        assert len(set(lengths.values())) == 1, f"{path}:{entry} datasets differ: {lengths}"
        status = f[entry]["notes/data"][()]
        status = status.decode() if isinstance(status, bytes) else str(status)
        point_nb = measurement["point_nb"][()]
        assert list(point_nb) == list(range(len(point_nb))), f"{path}:{entry} point_nb gaps"
        return next(iter(lengths.values())), status


def check_edf_folder(folder: Path, shape: tuple[int, int]) -> tuple[int, int]:
    """Every `.edf` complete with the full image; returns (.edf count, leftover temps)."""
    import fabio

    count = 0
    for path in sorted(folder.glob("*.edf")):
        image = fabio.open(str(path))
        assert image.data.shape == shape, f"{path}: {image.data.shape}"
        assert np.isfinite(image.data).all(), path
        count += 1
    temps = [p for p in folder.iterdir() if not p.name.endswith(".edf")]
    return count, len(temps)


# A Door client in its own process: subscribes to Output with its own DeviceProxy, says
# "ready", and after `scans` scans ended prints the point numbers of each scan's table
# rows as JSON. Bounded: it gives up after `timeout` seconds.
CLIENT_SCRIPT = """
import json, os, sys, threading, time
import tango
door, scans, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
os.nice(int(sys.argv[4]))
proxy = tango.DeviceProxy(door)
lock = threading.Condition()
runs, current, first = [], [], [True]
def on_event(event):
    if first[0]:
        first[0] = False
        return
    if event.err:
        return
    with lock:
        for line in event.attr_value.value or []:
            cells = line.split()
            if cells and cells[0].isdigit():
                current.append(int(cells[0]))
            elif line.startswith("Scan #") and " ended at " in line:
                runs.append(list(current))
                current.clear()
                lock.notify_all()
proxy.subscribe_event("Output", tango.EventType.CHANGE_EVENT, on_event)
print("ready", flush=True)
deadline = time.monotonic() + timeout
with lock:
    while len(runs) < scans and time.monotonic() < deadline:
        lock.wait(0.5)
print(json.dumps(runs), flush=True)
"""


def start_clients(door: str, count: int, scans: int, timeout: float = 120.0, nice: int = 0
                  ) -> list[subprocess.Popen]:
    """`count` client processes, returned once each one is subscribed.

    `nice` lowers their priority: clients normally run on other hosts; on one small test
    machine they would otherwise take the CPU the server needs, measuring the machine.
    """
    processes = [subprocess.Popen([sys.executable, "-c", CLIENT_SCRIPT, door, str(scans),
                                   str(timeout), str(nice)], stdout=subprocess.PIPE, text=True)
                 for _ in range(count)]
    try:
        for process in processes:
            line = process.stdout.readline()  # type: ignore[union-attr]
            assert line.strip() == "ready", f"client did not subscribe: {line!r}"
    except BaseException:
        for process in processes:
            process.kill()
            process.wait(timeout=10)
        raise
    return processes


def scan_seconds(lines: Iterable[str]) -> float:
    """The duration the server reports in "Scan #N ended at ..., taking H:MM:SS.ffffff"."""
    import re

    for line in lines:
        found = re.search(r"^Scan #\d+ ended at .*, taking (\d+):(\d+):(\d+(?:\.\d+)?)", line)
        if found:
            h, m, s = found.groups()
            return int(h) * 3600 + int(m) * 60 + float(s)
    raise AssertionError("no 'Scan #N ended ... taking' line")
