"""DoorClient against ZeroMQ's late joiner: connect, then run at once, under load.

A subscription reaches the server's publisher some time after subscribe_event returned;
events pushed meanwhile are lost. `DoorClient.connect` returns only once its
subscriptions receive events (the door's ProbeEvents), and `wait` falls back to reading
the door when no event came for a while, so it never hangs on a lost end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any, Iterator

import pytest
import tango
from tango_helpers import (
    DOOR_STREAMS,
    Events,
    MacroServerInstance,
    start_macroserver,
    write_config,
)

from macroserver.tango.client import DoorClient
from macroserver.tango.event_probe import wait_subscriptions_live

pytestmark = pytest.mark.timeout(240)

RUNS = 20
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


def test_connect_then_run_at_once_under_load_gets_every_event(ms: MacroServerInstance
                                                              ) -> None:
    """Fresh subscriptions each time (a new client, the last one closed), run at once,
    with the server's ZeroMQ I/O starved: every run's Output and final MacroStatus come
    as events."""
    assert ms.process is not None
    starve_zmq_io(ms.process.pid)
    load = [subprocess.Popen([sys.executable, "-c", BUSY, "200"])
            for _ in range(LOAD_PROCESSES)]
    lost: list[tuple[int, str]] = []
    try:
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
    finally:
        for process in load:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
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
