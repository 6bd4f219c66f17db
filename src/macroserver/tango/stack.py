"""Bringing a whole system up: a Tango database (the facility's or our embedded one),
the server registered in it (dsconfig JSON from the package), and the device server.

`macroserver up` and `macroserver demo` use this; each stops only what it started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tango

from macroserver.errors import MacroServerError
from macroserver.logs import DEFAULT_LEVEL
from macroserver.statedir import ENVIRONMENT_FILE, metadata_file
from macroserver.tango.database import (
    EmbeddedDatabase,
    apply_dsconfig,
    database_answers,
    start_device_server,
    stop_process,
)
from macroserver.tango.detectors import start_simulated_detectors
from macroserver.tango.register import SERVER, customise, packaged_description


class AlreadyRunning(MacroServerError):
    """`up` of an instance whose devices already answer (nothing was changed)."""

    reason = "AlreadyRunning"


def server_description(instance: str, properties: dict[str, list[str]]) -> dict[str, Any]:
    """The packaged dsconfig description, renamed to `instance`, with extra properties."""
    return customise(packaged_description(), instance, properties)


def _answering(description: dict[str, Any], tango_host: str) -> list[str]:
    """Devices of the description that answer at `tango_host` now."""
    (instance,) = description["servers"][SERVER].values()
    answering = []
    for devices in instance.values():
        for device in devices:
            try:
                tango.DeviceProxy(f"tango://{tango_host}/{device}").ping()
                answering.append(device)
            except tango.DevFailed:
                pass
    return answering


def doors_of(description: dict[str, Any]) -> list[str]:
    (instance,) = description["servers"][SERVER].values()
    return sorted(instance.get("Door", {}))


@dataclass
class Stack:
    """What `bring_up` started (and will stop) and how to reach it."""

    tango_host: str
    doors: list[str]
    database: EmbeddedDatabase | None = None
    processes: list[subprocess.Popen] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_process(process)
        self.processes.clear()
        if self.database is not None:
            self.database.stop()
            self.database = None


def _database(port: int, db_dir: Path, use_tango_host: bool, notes: list[str]
              ) -> tuple[str, EmbeddedDatabase | None]:
    current = os.environ.get("TANGO_HOST")
    if use_tango_host and current and database_answers(current, 3.0):
        notes.append(f"using the Tango database at TANGO_HOST={current}")
        return current, None
    host = f"127.0.0.1:{port}"
    if port and database_answers(host, 0.5):
        notes.append(f"a Tango database already answers on {host}; using it")
        return host, None
    database = EmbeddedDatabase(port or None, db_dir)  # port 0: any free port
    database.start(timeout=30)
    notes.append(f"started an embedded Tango database on {database.tango_host} "
                 f"({database.workdir})")
    return database.tango_host, database


def keep_state_in(description: dict[str, Any], state_dir: Path) -> dict[str, Any]:
    """`description` with every piece of the instance's state in `state_dir`: the
    MacroServer's environment (unless its properties name one) and each MetadataManager's
    metadata (unless it names a file). Changed in place and returned."""
    (classes,) = description["servers"][SERVER].values()
    for body in classes.get("MacroServer", {}).values():
        body.setdefault("properties", {}).setdefault(
            "EnvironmentDb", [str(state_dir / ENVIRONMENT_FILE)])
    for device, body in classes.get("MetadataManager", {}).items():
        body.setdefault("properties", {}).setdefault(
            "StateFile", [str(metadata_file(state_dir, device))])
    return description


def bring_up(
    instance: str,
    port: int,
    state_dir: Path,
    properties: dict[str, list[str]],
    use_tango_host: bool = True,
    log_level: str = DEFAULT_LEVEL,
    db_dir: Path | None = None,
) -> Stack:
    """Database, registration and device server, the instance's whole state (environment,
    metadata, logs, the simulated detectors' logs) in `state_dir`, the server logging at
    `log_level` to `macroserver-<instance>.log` there; an embedded database keeps its
    file in `db_dir` (default `state_dir/db`).

    A second `up` of a running instance fails (AlreadyRunning, a MacroServerError that
    `macroserver up` prints as one line) before it touches anything; an embedded
    database already answering on `port` is reused.
    """
    notes: list[str] = []
    tango_host, database = _database(port, db_dir or state_dir / "db", use_tango_host, notes)
    stack = Stack(tango_host, [], database, notes=notes)
    try:
        description = keep_state_in(server_description(instance, properties), state_dir)
        # checked before registering: re-registering would change the properties a
        # running server was started with (and uses at its next restart)
        running = _answering(description, tango_host)
        if running:
            raise AlreadyRunning(
                f"{SERVER}/{instance} is already running on {tango_host} "
                f"({', '.join(running)} answer); nothing was changed. Use it with "
                f"TANGO_HOST={tango_host}, or stop the 'macroserver up' that started it first")
        apply_dsconfig(description, tango_host)
        stack.doors = doors_of(description)
        config = properties.get("Config", ["demo"])[0]
        stack.processes += start_simulated_detectors(config, instance, tango_host, state_dir)
        env = {"TANGO_HOST": tango_host}
        stack.processes.append(start_device_server(
            [sys.executable, "-m", "macroserver.cli.admin", "serve", "--log-level", log_level],
            instance, tango_host,
            env, server=SERVER, timeout=60, log_path=state_dir / f"{instance}-server.log"))
    except BaseException:
        stack.stop()
        raise
    return stack
