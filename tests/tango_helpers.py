"""Helpers for the tests that run the MacroServer/Door devices against a real database.

- Configurations: `write_config` (fast simulated motors and scalar channels, plus optional
  extra tables, e.g. Tango-backed elements), `small_config` (the text of a minimal one:
  m1, t, c1, mg) and `demo_config` (the packaged demo beamline).
- `register_macroserver` registers `MacroServer/<instance>` (the packaged dsconfig template
  renamed); `start_macroserver` also starts `macroserver serve <instance>` through the
  conftest `DeviceServers` factory and returns a `MacroServerInstance`, which can kill and
  restart it and reach its devices.
- `Events` subscribes to change events of a device and keeps them in arrival order; it
  returns once they are known to arrive (the ProbeEvents of the device when it is one of
  our doors, else of the door of the same server it is given).
- `LiveDoorEvents` keeps a door's events subscribed from the moment they are known to
  arrive (the door's ProbeEvents, as DoorClient.connect uses it), so a test's own
  subscriptions miss none.
- `wait_state` polls a device until it is in a state.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import tango

from macroserver.tango.database import apply_dsconfig
from macroserver.tango.event_probe import wait_subscriptions_live
from macroserver.tango.stack import server_description

SERVE = [sys.executable, "-m", "macroserver.cli.admin", "serve"]

# Sets a file-size limit in the server process, with SIGXFSZ ignored so that a write
# beyond it fails with EFBIG (an OSError, like ENOSPC on a full disk), then execs serve.
# The limit comes from FAULT_FSIZE_LIMIT in `wrapper_env` (see start_macroserver).
RLIMIT_WRAPPER = (
    "import os, resource, signal, sys\n"
    "limit = int(os.environ['FAULT_FSIZE_LIMIT'])\n"
    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'macroserver.cli.admin', 'serve',"
    " *sys.argv[1:]])\n"
)

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


def write_config(folder: Path, extra: str = "", name: str = "elements.toml",
                 text: str = SIM_CONFIG) -> Path:
    """Write `text` (default SIM_CONFIG) + `extra` tables to `folder/name`; returns it."""
    path = folder / name
    path.write_text(text + extra)
    return path


def small_config(m1_limits: str = "[-10.0, 10.0]", motors: str = "", c1: str = "",
                 extra: str = "") -> str:
    """A minimal configuration text: motor m1 (then `motors` tables), timer t, counter c1
    on m1 (then `c1` lines), group mg of t and c1, then `extra` tables."""
    return ('data_roots = []\n\n'
            f'[motors.m1]\nlimits = {m1_limits}\n\n{motors}'
            '[channels.t]\nkind = "timer"\n\n'
            f'[channels.c1]\nkind = "counter"\nmotor = "m1"\n{c1}\n'
            f'[measurement_groups.mg]\ntimer = "t"\nchannels = ["t", "c1"]\n{extra}')


def demo_config(folder: Path, image: tuple[int, int] = (251, 251)) -> Path:
    """The packaged demo beamline (theta, value, wave, `image`-shaped beam, 251x251 by
    default), no relative roots."""
    text = resources.files("macroserver").joinpath("data", "demo.toml").read_text()
    text = text.replace('data_roots = ["data"]', "data_roots = []")
    text = text.replace("shape = [251, 251]", f"shape = [{image[0]}, {image[1]}]")
    path = folder / "demo.toml"
    path.write_text(text)
    return path


@dataclass
class MacroServerInstance:
    """One registered MacroServer instance: its devices and files; once started through
    `start_macroserver`, also how to kill and restart it and reach it."""

    instance: str
    tango_host: str
    macro_server: str
    doors: list[str]
    data_dir: Path
    env_path: Path
    log_dir: Path  # the folder it was started for (data/ and env/ are below it)
    servers: Any = None  # the conftest DeviceServers factory that starts it
    wrapper_env: dict[str, str] | None = None  # set: started through RLIMIT_WRAPPER
    process: subprocess.Popen | None = None

    def door_name(self, index: int = 0) -> str:
        return f"tango://{self.tango_host}/{self.doors[index]}"

    def ms_name(self) -> str:
        return f"tango://{self.tango_host}/{self.macro_server}"

    @property
    def door(self) -> str:
        return self.door_name(0)

    @property
    def ms(self) -> str:
        return self.ms_name()

    @property
    def folder(self) -> Path:
        return self.log_dir

    def start(self) -> None:
        """(Re)start `macroserver serve <instance>`; returns once its devices answer."""
        args = SERVE if self.wrapper_env is None else [sys.executable, "-c", RLIMIT_WRAPPER]
        self.process = self.servers(args, "MacroServer", self.instance,
                                    env=self.wrapper_env, timeout=60)

    def kill(self) -> None:
        """SIGKILL the server process (no clean-up at all) and reap it."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)
        if self.process in self.servers.processes:
            self.servers.processes.remove(self.process)

    def proxy(self, which: str = "door") -> tango.DeviceProxy:
        """A proxy (10 s timeout) of the first door, or of the MacroServer ("ms")."""
        proxy = tango.DeviceProxy(self.door if which == "door" else self.ms)
        proxy.set_timeout_millis(10000)
        return proxy

    def environment(self) -> dict[str, Any]:
        return json.loads(self.proxy("ms").read_attribute("Environment").value[1])["new"]

    def set_env(self, changes: dict[str, Any], remove: Iterable[str] = ()) -> None:
        """Change and delete environment variables through the Environment attribute."""
        payload = json.dumps({"change": changes, "del": list(remove)}).encode()
        self.proxy("ms").write_attribute("Environment", ("utf8_json", payload))


def register_macroserver(tango_host: str, instance: str, config: str | Path, data_dir: Path,
                         env_path: Path, properties: Mapping[str, list[str]] | None = None
                         ) -> dict[str, Any]:
    """Register the instance (Config, DataRoots, EnvironmentDb + `properties`); returns
    the dsconfig description."""
    description = server_description(instance, {
        "Config": [str(config)],
        "DataRoots": [str(data_dir)],
        "EnvironmentDb": [str(env_path)],
        **(properties or {}),
    })
    apply_dsconfig(description, tango_host)
    return description


def start_macroserver(servers: Any, tango_host: str, instance: str, folder: Path,
                      config: str | Path | None = None, *,
                      recorder_path: Iterable[Path] = (),
                      macro_path: Iterable[Path] = (),
                      wrapper_env: dict[str, str] | None = None) -> MacroServerInstance:
    """Register and start an instance with its data in `folder/data` and its environment
    in `folder/env/environment.json` (`config`: by default the demo beamline)."""
    data_dir = folder / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env_path = folder / "env" / "environment.json"
    paths = {"RecorderPath": [str(p) for p in recorder_path],
             "MacroPath": [str(p) for p in macro_path]}
    description = register_macroserver(
        tango_host, instance, config or demo_config(folder), data_dir, env_path,
        {name: value for name, value in paths.items() if value} or None)
    classes = description["servers"]["MacroServer"][instance]
    server = MacroServerInstance(instance, tango_host, next(iter(classes["MacroServer"])),
                                 sorted(classes["Door"]), data_dir, env_path, folder,
                                 servers=servers, wrapper_env=wrapper_env)
    server.start()
    return server


DOOR_STREAMS = ("Output", "Error", "Warning", "MacroStatus")
FINAL_STATES = ("finish", "stop", "abort", "exception")


@dataclass
class Event:
    attr: str
    value: Any
    received: float  # time.time() at arrival
    error: bool = False
    at: float = 0.0  # time.monotonic() at arrival


class Events:
    """Change events of some attributes of one device (by default a Door's streams and
    MacroStatus), in arrival order.

    The first event of every subscription (the current value) is dropped.

    Returns once the subscriptions receive events (ZeroMQ's late joiner would lose those
    of an action started at once), proven by the ProbeEvents of `probe`, a door of the
    device's server: by default the device itself when it is one of our doors. Any other
    device (Sardana's, or of a server without a door) is subscribed without that proof.
    """

    def __init__(self, device: str, attrs: Iterable[str] = DOOR_STREAMS,
                 probe: str | None = None) -> None:
        self.proxy = tango.DeviceProxy(device)
        self.proxy.set_timeout_millis(10000)
        self.events: list[Event] = []
        self._cond = threading.Condition()
        self._first: set[str] = set()
        self._ids: list[int] = []
        for attr in attrs:
            self._first.add(attr.lower())
            self._ids.append(self.proxy.subscribe_event(
                attr, tango.EventType.CHANGE_EVENT, self._on_event))
        try:
            wait_subscriptions_live(self.proxy if probe is None else tango.DeviceProxy(probe))
        except BaseException:
            self.close()
            raise

    def _on_event(self, event: tango.EventData) -> None:
        now, at = time.time(), time.monotonic()
        attr = event.attr_name.rsplit("/", 1)[-1].lower()
        with self._cond:
            if attr in self._first:
                self._first.discard(attr)
                return
            if event.err:
                self.events.append(Event(attr, event.errors, now, True, at))
            else:
                self.events.append(Event(attr, event.attr_value.value, now, False, at))
            self._cond.notify_all()

    def of(self, attr: str) -> list[Any]:
        """The values received for `attr` (errors left out)."""
        return [e.value for e in self.received(attr)]

    def received(self, attr: str) -> list[Event]:
        """The events received for `attr` (errors left out)."""
        with self._cond:
            return [e for e in self.events if e.attr == attr.lower() and not e.error]

    def lines(self, attr: str = "Output") -> list[str]:
        return [line for value in self.of(attr) for line in (value or [])]

    def timed_lines(self, attr: str = "Output") -> list[tuple[str, float]]:
        """(line, time.monotonic() at arrival) of a stream's lines."""
        return [(line, e.at) for e in self.received(attr) for line in (e.value or [])]

    def statuses(self) -> list[dict[str, Any]]:
        return [s for value in self.of("MacroStatus") if value[1]
                for s in json.loads(value[1])]

    def clear(self) -> None:
        with self._cond:
            self.events.clear()

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

    def wait_end(self, macro_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The final MacroStatus (finish/stop/abort/exception) of one macro, once it came."""
        def ended(ev: Events) -> list[dict[str, Any]]:
            return [s for s in ev.statuses()
                    if s["id"] == macro_id and s["state"] in FINAL_STATES]

        self.wait_for(lambda ev: bool(ended(ev)), timeout)
        return ended(self)[0]

    def close(self) -> None:
        for event_id in self._ids:
            try:
                self.proxy.unsubscribe_event(event_id)
            except tango.DevFailed:
                pass
        self._ids.clear()


#: Every event attribute a test or client subscribes to on a Door.
DOOR_EVENT_ATTRIBUTES = ("Output", "Info", "Warning", "Error", "Critical", "Debug", "Result",
                         "RecordData", "MacroStatus", "Input", "State", "Status",
                         "ReservedElements")
class LiveDoorEvents:
    """Keeps this process subscribed to every event attribute of some doors, from the
    moment those subscriptions are known to receive events (`wait_subscriptions_live`:
    ZeroMQ applies a subscription late, and events pushed meanwhile are lost).

    While it is open, a later subscription to the same attribute in this process (an
    `Events`, a DoorClient) adds a callback to the live one and gets every event at once,
    without the late-joiner window. Open it for a module's server, close it before that
    server stops (a server killed and restarted needs new subscriptions)."""

    def __init__(self, doors: Iterable[str]) -> None:
        """`doors` of one device server (the last one's probe proves them all live)."""
        self._subscriptions: list[tuple[tango.DeviceProxy, int]] = []
        for door in doors:
            proxy = tango.DeviceProxy(door)
            for attr in DOOR_EVENT_ATTRIBUTES:
                self._subscriptions.append((proxy, proxy.subscribe_event(
                    attr, tango.EventType.CHANGE_EVENT, lambda event: None)))
        wait_subscriptions_live(proxy)

    def close(self) -> None:
        while self._subscriptions:
            proxy, event_id = self._subscriptions.pop()
            try:
                proxy.unsubscribe_event(event_id)
            except tango.DevFailed:
                pass


def wait_state(proxy: tango.DeviceProxy, state: tango.DevState, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while proxy.state() != state:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{proxy.name()} still {proxy.state()} after {timeout} s "
                               f"(wanted {state}): {proxy.status()}")
        time.sleep(0.02)
