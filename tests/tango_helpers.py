"""Helpers for the tests of the MacroServer/Door devices against a real database.

- `write_config` writes a TOML element configuration with fast simulated motors and
  scalar channels (plus optional extra tables, e.g. Tango-backed elements).
- `start_macroserver` registers `MacroServer/<instance>` (the packaged dsconfig template
  renamed) and starts `macroserver serve <instance>` through the conftest factory.
- `Events` subscribes to change events of a device and keeps them in arrival order.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import tango

from macroserver.tango.database import apply_dsconfig
from macroserver.tango.stack import server_description

SERVE = [sys.executable, "-m", "macroserver.cli.admin", "serve"]

SIM_CONFIG = """\
data_roots = []

[motors.m1]
position = 0.0
limits = [-1000.0, 1000.0]
unit = "mm"

[motors.m2]
position = 0.0
limits = [-1000.0, 1000.0]

[motors.theta]
position = 0.0
limits = [-10.0, 10.0]
unit = "deg"

[channels.timer]
kind = "timer"
unit = "s"

[channels.ct1]
kind = "counter"
model = "peak"
motor = "m1"
amplitude = 100.0
center = 0.0
width = 5.0

[channels.ct2]
kind = "counter"

[channels.ct3]
kind = "counter"

[measurement_groups.mg1]
timer = "timer"
channels = ["timer", "ct1", "ct2", "ct3"]
"""


def write_config(folder: Path, extra: str = "", name: str = "elements.toml") -> Path:
    path = folder / name
    path.write_text(SIM_CONFIG + extra)
    return path


@dataclass
class MacroServerInstance:
    instance: str
    tango_host: str
    macro_server: str
    doors: list[str]
    data_dir: Path
    env_path: Path
    log_dir: Path

    def door_name(self, index: int = 0) -> str:
        return f"tango://{self.tango_host}/{self.doors[index]}"

    def ms_name(self) -> str:
        return f"tango://{self.tango_host}/{self.macro_server}"


def register_macroserver(tango_host: str, instance: str, config: str | Path, data_dir: Path,
                         env_path: Path) -> dict[str, Any]:
    description = server_description(instance, {
        "Config": [str(config)],
        "DataRoots": [str(data_dir)],
        "EnvironmentDb": [str(env_path)],
    })
    apply_dsconfig(description, tango_host)
    return description


def start_macroserver(servers: Any, tango_host: str, instance: str, folder: Path,
                      config: str | Path) -> MacroServerInstance:
    data_dir = folder / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env_path = folder / "env" / "environment.json"
    description = register_macroserver(tango_host, instance, config, data_dir, env_path)
    classes = description["servers"]["MacroServer"][instance]
    servers(SERVE, "MacroServer", instance, timeout=60)
    return MacroServerInstance(instance, tango_host, next(iter(classes["MacroServer"])),
                               sorted(classes["Door"]), data_dir, env_path, folder)


@dataclass
class Event:
    attr: str
    value: Any
    received: float  # time.time() at arrival
    error: bool = False


class Events:
    """Change events of some attributes of one device, in arrival order.

    The first event of every subscription (the current value) is dropped.
    """

    def __init__(self, device: str, attrs: Iterable[str]) -> None:
        self.proxy = tango.DeviceProxy(device)
        self.events: list[Event] = []
        self._cond = threading.Condition()
        self._first: set[str] = set()
        self._ids: list[int] = []
        for attr in attrs:
            self._first.add(attr.lower())
            self._ids.append(self.proxy.subscribe_event(
                attr, tango.EventType.CHANGE_EVENT, self._on_event))

    def _on_event(self, event: tango.EventData) -> None:
        now = time.time()
        attr = event.attr_name.rsplit("/", 1)[-1].lower()
        with self._cond:
            if attr in self._first:
                self._first.discard(attr)
                return
            if event.err:
                self.events.append(Event(attr, event.errors, now, True))
            else:
                self.events.append(Event(attr, event.attr_value.value, now))
            self._cond.notify_all()

    def of(self, attr: str) -> list[Any]:
        with self._cond:
            return [e.value for e in self.events if e.attr == attr.lower() and not e.error]

    def lines(self, attr: str = "Output") -> list[str]:
        return [line for value in self.of(attr) for line in (value or [])]

    def statuses(self) -> list[dict[str, Any]]:
        return [s for value in self.of("MacroStatus") if value[1]
                for s in json.loads(value[1])]

    def wait_for(self, predicate: Callable[["Events"], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"condition not met within {timeout} s; "
                                       f"events: {self.events[-20:]}")
                self._cond.wait(min(left, 0.2))

    def wait_status(self, state: str, timeout: float = 30.0) -> dict[str, Any]:
        self.wait_for(lambda ev: any(s["state"] == state for s in ev.statuses()), timeout)
        return next(s for s in self.statuses() if s["state"] == state)

    def close(self) -> None:
        for event_id in self._ids:
            try:
                self.proxy.unsubscribe_event(event_id)
            except tango.DevFailed:
                pass
        self._ids.clear()


def wait_state(proxy: tango.DeviceProxy, state: tango.DevState, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while proxy.state() != state:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{proxy.name()} still {proxy.state()} after {timeout} s "
                               f"(wanted {state}): {proxy.status()}")
        time.sleep(0.02)
