"""`macroserver demo`: the whole system in one command.

Starts its own embedded database on a free loopback port (so a Tango system that
TANGO_HOST names is left alone unless asked), registers and starts the server, runs
`ascan theta 0 0.5 5 1` through a Door client printing Output events as they arrive,
shows the files written under ./data, then stops everything it started.
"""

from __future__ import annotations

import sys
from pathlib import Path

from macroserver.statedir import instance_state_dir
from macroserver.tango.client import DoorClient
from macroserver.tango.database import free_port
from macroserver.tango.stack import bring_up

DEMO_COMMAND = "ascan theta 0 0.5 5 1"
DEMO_FILES = ["demo.h5", "demo.dat"]


def _print_stream(stream: str, lines: list[str]) -> None:
    if stream == "Debug":
        return
    out = sys.stderr if stream in ("Warning", "Error") else sys.stdout
    prefix = f"{stream}: " if stream in ("Warning", "Error") else ""
    for line in lines:
        print(prefix + line, file=out, flush=True)


# The demo's own state folder under --dir: not "demo", which `macroserver up` (instance
# demo) uses, so the demo's ScanDir and scan numbers never become those of `up`.
DEMO_STATE = "demo-command"


def run_demo(workdir: Path, use_tango_host: bool, state_root: Path) -> int:
    data = (workdir / "data").resolve()
    data.mkdir(exist_ok=True)
    own_state = instance_state_dir(DEMO_STATE, state_root)
    properties = {"Config": ["demo"], "DataRoots": [str(data)]}
    print(f"Starting the demo system (state folder {own_state})...", flush=True)
    stack = bring_up("demo", free_port(), own_state, properties,
                     use_tango_host=use_tango_host)
    try:
        print(f"TANGO_HOST={stack.tango_host}, door {stack.doors[0]}", flush=True)
        with DoorClient(f"tango://{stack.tango_host}/{stack.doors[0]}") as door:
            door.set_environment({"ScanDir": str(data), "ScanFile": DEMO_FILES})
            door.on_stream(_print_stream)
            print(f"Running: {DEMO_COMMAND}", flush=True)
            outcome = door.run(DEMO_COMMAND, timeout=300)
            print(f"Macro ended: {outcome.state}", flush=True)
            written = [data / name for name in DEMO_FILES if (data / name).exists()]
            for path in written:
                print(f"Data written: {path}")
            edf = sorted(data.glob("*_edf"))
            for folder in edf:
                print(f"Images written: {folder}/ ({len(list(folder.iterdir()))} EDF files)")
        return 0 if outcome.ok else 1
    finally:
        stack.stop()
        print("Demo system stopped.", flush=True)
