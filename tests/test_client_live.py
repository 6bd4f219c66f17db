"""DoorClient and the web view against ZeroMQ's late joiner: connect, then run at once,
under load.

A subscription reaches the server's publisher some time after subscribe_event returned;
events pushed meanwhile are lost. `DoorClient.connect` and the web view's `Hub.start`
return only once their subscriptions receive events (the door's ProbeEvents), and
`DoorClient.wait` falls back to reading the door when no event came for a while, so it
never hangs on a lost end. A connect that fails midway (a door-shaped device whose probe
never answers) leaves nothing subscribed, in DoorClient and in mspock's DoorConnection.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import pytest
import tango
from conftest import DEVICES_DIR
from tango_helpers import (
    DOOR_STREAMS,
    Events,
    MacroServerInstance,
    start_macroserver,
    write_config,
)

from macroserver.cli.console import Console
from macroserver.cli.door import DoorConnection
from macroserver.tango.client import DoorClient
from macroserver.tango.event_probe import wait_subscriptions_live
from macroserver.web.bridge import Hub

pytestmark = pytest.mark.timeout(240)

RUNS = 20
WEB_RUNS = 10  # without the web view's probe, 9 of 20 runs lost their events here
DEAF_DOOR = "test/deafdoor/1"
LOAD_PROCESSES = 2
# a busy loop that ends by itself after argv[1] seconds, in case its killer cannot
BUSY = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\n" \
       "while time.monotonic() < end:\n    pass\n"


@pytest.fixture(scope="module")
def ms(tango_db: Any, module_device_server: Any, tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[MacroServerInstance]:
    folder = tmp_path_factory.mktemp("ms-live")
    instance = start_macroserver(module_device_server, tango_db.tango_host, "live", folder,
                                 write_config(folder))
    client = DoorClient(instance.door)
    client.set_environment({"ActiveMntGrp": "mg1"})
    yield instance


def starve_zmq_io(pid: int) -> None:
    """Lowest priority (nice 19) for the ZeroMQ I/O threads of process `pid`: under load
    they apply a new subscription late, which widens the late joiner's window."""
    for task in os.listdir(f"/proc/{pid}/task"):
        if open(f"/proc/{pid}/task/{task}/comm").read().startswith("ZMQbg/IO"):
            os.setpriority(os.PRIO_PROCESS, int(task), 19)


class Load:
    """The server's ZeroMQ I/O starved and both cores busy, while in the `with`."""

    def __init__(self, ms: MacroServerInstance) -> None:
        self.ms = ms

    def __enter__(self) -> "Load":
        assert self.ms.process is not None
        starve_zmq_io(self.ms.process.pid)
        self.processes = [subprocess.Popen([sys.executable, "-c", BUSY, "200"])
                          for _ in range(LOAD_PROCESSES)]
        return self

    def __exit__(self, *_exc: object) -> None:
        for process in self.processes:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)


class Browser:
    """What the hub delivers to one browser (`web/bridge.Client`), decoded."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.changed = threading.Condition()

    def deliver(self, data: bytes) -> bool:
        with self.changed:
            self.messages += [json.loads(line[6:]) for line in data.split(b"\n")
                              if line.startswith(b"data: ")]
            self.changed.notify_all()
        return True

    def close(self) -> None:
        pass

    def macro_end(self, macro_id: str, timeout: float) -> bool:
        """Whether the final status of `macro_id` and an Output line came."""
        def ended() -> bool:
            kinds = {m["kind"] for m in self.messages}
            return "output" in kinds and any(
                m["kind"] == "macro" and m["macro"].get("id") == macro_id
                and m["macro"].get("state") == "finish" for m in self.messages)

        with self.changed:
            return self.changed.wait_for(ended, timeout)


def test_web_view_started_then_run_at_once_under_load_gets_every_event(
        ms: MacroServerInstance) -> None:
    """A fresh web view hub each time (the last one closed), a macro run by another
    client the moment `start` returned, with the server's ZeroMQ I/O starved: every
    run's Output and final MacroStatus reach the browser. The runner subscribes to
    nothing (a subscription of this process to the same events would be shared)."""
    runner = tango.DeviceProxy(ms.door)
    lost: list[int] = []
    with Load(ms):
        for index in range(WEB_RUNS):
            browser = Browser()
            hub = Hub([ms.door])
            hub.start()
            try:
                hub.connect(browser)
                macro_id = runner.RunMacro(["ct", "0.001"])[0]
                deadline = time.monotonic() + 10
                while runner.state() != tango.DevState.ON and time.monotonic() < deadline:
                    time.sleep(0.05)
                if not browser.macro_end(macro_id, timeout=5):
                    lost.append(index)
            finally:
                hub.close()
    assert lost == [], f"{len(lost)} of {WEB_RUNS} runs lost events: {lost}"


def test_connect_then_run_at_once_under_load_gets_every_event(ms: MacroServerInstance
                                                              ) -> None:
    """Fresh subscriptions each time (a new client, the last one closed), run at once,
    with the server's ZeroMQ I/O starved: every run's Output and final MacroStatus come
    as events."""
    lost: list[tuple[int, str]] = []
    with Load(ms):
        for index in range(RUNS):
            statuses: list[dict[str, Any]] = []
            client = DoorClient(ms.door)
            client.on_status(statuses.append)
            client.connect()
            try:
                outcome = client.run("ct 0.001", timeout=10)
            except TimeoutError:  # its final MacroStatus never came
                lost.append((index, "no end"))
                continue
            finally:
                client.close()
            ends = [s for s in statuses if s["id"] == outcome.macro_id
                    and s["state"] == "finish"]
            if not ends or not outcome.messages["Output"]:
                lost.append((index, f"{len(ends)} end events, "
                                    f"{len(outcome.messages['Output'])} Output lines"))
    assert lost == [], f"{len(lost)} of {RUNS} runs lost events: {lost}"


def test_probe_is_seen_by_no_one_else_and_wait_reads_the_door_when_events_are_lost(
        ms: MacroServerInstance) -> None:
    """Another subscriber sees nothing of a client's connect (its first events are a
    macro's). A client whose events stop (here: unsubscribed) still learns how its run
    ended from the door, or is told that the end was lost, rather than waiting forever."""
    watcher = Events(ms.door, (*DOOR_STREAMS, "State"))
    deaf = DoorClient(ms.door).connect()
    deaf.close()  # from here on no event reaches it
    try:
        outcome = deaf.start("ct 0.3")
        statuses = watcher.wait_end(outcome.macro_id)
        assert watcher.events[0].attr == "state", watcher.events[:3]  # RUNNING, no probe
        assert deaf.wait(outcome).state == "finish" == statuses["state"]

        outcome = deaf.start("ct 0.01")
        watcher.wait_end(outcome.macro_id)
        other = deaf.door.RunMacro(["ct", "0.01"])[0]
        watcher.wait_end(other)
        with pytest.raises(RuntimeError, match=f"{outcome.macro_id} ended, but its final "
                                               f"status was lost .* ran {other} since"):
            deaf.wait(outcome)
    finally:
        watcher.close()


def test_a_device_without_probe_events_is_connected_without_proof(sim_motor: str) -> None:
    """Sardana's own door (or an older server of ours) has no ProbeEvents: the probe says
    so at once instead of failing the client's connect."""
    assert wait_subscriptions_live(tango.DeviceProxy(sim_motor), timeout=5) is False


@pytest.fixture(scope="module")
def deaf_door(ms: MacroServerInstance, module_device_server: Any) -> Iterator[str]:
    """A door-shaped device (tests/devices/deaf_door.py): while deaf, a connect to it
    subscribes to everything, then times out waiting for the probe."""
    module_device_server([sys.executable, str(DEVICES_DIR / "deaf_door.py")], "DeafDoor",
                         "test", {"DeafDoor": {DEAF_DOOR: {}}})
    yield f"tango://{ms.tango_host}/{DEAF_DOOR}"


@contextmanager
def listening(door_name: str) -> Iterator[list[str]]:
    """The Output lines a connected client gets, while the block runs."""
    heard: list[str] = []
    client = DoorClient(door_name)
    client.on_stream(lambda _stream, lines: heard.extend(lines))
    client.connect(timeout=30)
    try:
        yield heard
    finally:
        client.close()


def said(door: tango.DeviceProxy, line: str, *listeners: list[str]) -> None:
    """The door pushes `line` on Output; return once every listener (the lines a live
    client's callback got) has it. One event's callbacks all run before the next's."""
    door.Say(line)
    deadline = time.monotonic() + 20
    while not all(line in heard for heard in listeners):
        assert time.monotonic() < deadline, f"{line!r} never reached a live client"
        time.sleep(0.05)


def test_a_connect_that_fails_midway_leaves_no_callback_and_a_reconnect_works(
        deaf_door: str) -> None:
    """The probe times out after every subscription was made: the failed client is left
    unsubscribed (its callback gets none of the door's later events, which the same
    process's live client does get) and a new connect works."""
    door = tango.DeviceProxy(deaf_door)
    door.write_attribute("Deaf", True)
    dead: list[str] = []
    failed = DoorClient(deaf_door)
    failed.on_stream(lambda _stream, lines: dead.extend(lines))
    with pytest.raises(TimeoutError, match="no EventProbe event within 1"):
        failed.connect(timeout=1)
    assert failed.door.__dict__.get("_subscribed_events", {}) == {}

    door.write_attribute("Deaf", False)
    with listening(deaf_door) as heard:
        said(door, "after the failed connect", heard)
        failed.connect(timeout=30)  # the same client, once the door answers, connects too
        try:
            said(door, "both connected", heard, dead)
            assert dead == ["both connected"]
        finally:
            failed.close()


def test_mspock_drops_a_door_it_could_not_open_without_leaking_callbacks(
        ms: MacroServerInstance, deaf_door: str) -> None:
    """mspock's open fails after the connect (no MacroServer to read the catalogue from):
    the client it drops calls none of mspock's callbacks; once the door names its
    MacroServer, open works."""
    door = tango.DeviceProxy(deaf_door)
    door.write_attribute("Deaf", False)
    door.write_attribute("MacroServer", "")
    dead: list[str] = []
    connection = DoorConnection(deaf_door, Console(False, False, False),
                                on_stream=lambda _stream, lines: dead.extend(lines),
                                on_status=lambda _status: None,
                                on_record=lambda _packet: None)
    assert connection.open() is False
    with listening(deaf_door) as heard:
        said(door, "after the failed open", heard)
        door.write_attribute("MacroServer", ms.macro_server)
        assert connection.open() is True
        try:
            assert connection.state == "ON" and "ascan" in connection.catalogue.macros
            said(door, "mspock connected", heard, dead)
            assert dead == ["mspock connected"]
        finally:
            connection.close()
