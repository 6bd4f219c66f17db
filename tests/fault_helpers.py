"""Helpers for the fault tests: checks of SPEC/NeXus/EDF files, Door client processes
and the table rows and durations of a scan's Output lines.

The MacroServer they run against (started, killed and restarted) and the Door event
collector are in tango_helpers.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

import h5py
import numpy as np


def table_rows(lines: Iterable[str]) -> list[list[str]]:
    """The table rows among Output lines (first cell an integer point number), split
    in cells."""
    return [cells for cells in map(str.split, lines) if cells and cells[0].isdigit()]


def data_rows(lines: Iterable[str]) -> list[int]:
    """Point numbers of the table rows among Output lines."""
    return [int(cells[0]) for cells in table_rows(lines)]


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
# "ready" once its subscription receives events (the door's ProbeEvents), and
# after `scans` scans ended prints the point numbers of each scan's table rows as JSON.
# Bounded: it gives up when no event came for `idle` seconds (a client at low priority on
# a loaded machine may take long over its backlog, but it keeps receiving).
CLIENT_SCRIPT = """
import json, os, sys, threading, time
import tango
from macroserver.tango.event_probe import wait_subscriptions_live
door, scans, idle = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
os.nice(int(sys.argv[4]))
proxy = tango.DeviceProxy(door)
lock = threading.Condition()
runs, current, first, last = [], [], [True], [time.monotonic()]
def on_event(event):
    if first[0]:
        first[0] = False
        return
    with lock:
        last[0] = time.monotonic()
        if event.err:
            return
        for line in event.attr_value.value or []:
            cells = line.split()
            if cells and cells[0].isdigit():
                current.append(int(cells[0]))
            elif line.startswith("Scan #") and " ended at " in line:
                runs.append(list(current))
                current.clear()
                lock.notify_all()
proxy.subscribe_event("Output", tango.EventType.CHANGE_EVENT, on_event)
wait_subscriptions_live(proxy)
print("ready", flush=True)
with lock:
    last[0] = time.monotonic()
    while len(runs) < scans and time.monotonic() - last[0] < idle:
        lock.wait(0.5)
print(json.dumps(runs), flush=True)
"""


def start_clients(door: str, count: int, scans: int, idle: float = 60.0, nice: int = 0
                  ) -> list[subprocess.Popen]:
    """`count` client processes, returned once each one receives the door's events.

    `nice` lowers their priority: clients normally run on other hosts; on one small test
    machine they would otherwise take the CPU the server needs, measuring the machine.
    """
    processes = [subprocess.Popen([sys.executable, "-c", CLIENT_SCRIPT, door, str(scans),
                                   str(idle), str(nice)],
                                  stdout=subprocess.PIPE, text=True)
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
