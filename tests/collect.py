"""Helpers for the engine tests: a collecting listener, a collecting recorder plug-in
written into a RecorderPath folder, and a server builder with fast simulated elements.

Everything here runs the real code paths: the recorder plug-in is found by the
recorder registry in a folder, exactly as a beamline's own recorder would be.
"""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from fault_helpers import data_rows

from macroserver import sardana_api
from macroserver.config import build_config, load_config
from macroserver.engine.core import MacroServerCore
from macroserver.engine.runner import MacroRunner, Outcome
from macroserver.env import Environment
from macroserver.streams import Level

# Two instant motors and a third one, a timer and three counters (no arrays): fast scans.
FAST_CONFIG: dict[str, Any] = {
    "motors": {
        "m1": {"position": 0.0, "limits": [-100.0, 100.0]},
        "m2": {"position": 0.0, "limits": [-100.0, 100.0]},
        "m3": {"position": 0.0, "limits": [-100.0, 100.0]},
    },
    "channels": {
        "t": {"kind": "timer"},
        "c1": {"kind": "counter", "motor": "m1", "noise": 0.0},
        "c2": {"kind": "counter", "motor": "m2", "noise": 0.0},
        "c3": {"kind": "counter", "motor": "m3", "noise": 0.0},
    },
    "measurement_groups": {"mg": {"timer": "t", "channels": ["t", "c1", "c2", "c3"]}},
}


class Collect:
    """A MacroListener keeping messages per level, status events, results and records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: dict[Level, list[str]] = {level: [] for level in Level}
        self.statuses: list[dict[str, Any]] = []
        self.results: list[list[str]] = []
        self.records: list[tuple[str, bytes]] = []

    def message(self, level: Level, text: str) -> None:
        """Output as lines, as a Door client gets them (the table sends the rows that
        came within the coalescing gap in one message)."""
        with self._lock:
            if level is Level.OUTPUT:
                self.messages[level].extend(text.split("\n"))
            else:
                self.messages[level].append(text)

    def record_data(self, codec: str, payload: bytes) -> None:
        with self._lock:
            self.records.append((codec, payload))

    def status(self, status: dict[str, Any]) -> None:
        with self._lock:
            self.statuses.append(dict(status))

    def result(self, values: list[str]) -> None:
        with self._lock:
            self.results.append(list(values))

    # -- reading --------------------------------------------------------------------------

    def text(self, level: Level) -> str:
        with self._lock:
            return "\n".join(self.messages[level])

    @property
    def output(self) -> list[str]:
        with self._lock:
            return list(self.messages[Level.OUTPUT])

    @property
    def errors(self) -> list[str]:
        with self._lock:
            return list(self.messages[Level.ERROR])

    def states(self) -> list[str]:
        with self._lock:
            return [s["state"] for s in self.statuses]


# A recorder plug-in that notes everything it receives in a class attribute. Options are
# substituted into the source: NAME (registry name), FAIL_AT (point index at which
# `record` raises, or None), SLEEP (seconds per point), QUEUE (queue size).
COLLECTOR_SOURCE = '''
import threading
import time

import numpy as np

from macroserver.recorders.base import Recorder


class {cls}(Recorder):
    """Collects start/record/end for the tests (a RecorderPath plug-in)."""

    name = {name!r}
    fail_at = {fail_at!r}
    sleep = {sleep!r}
    queue_size = {queue!r}
    scans = []  # one dict per scan: info, points, end, thread
    lock = threading.Lock()

    def start(self, info):
        self.scan = {{"info": info, "points": [], "end": None, "received_at": [],
                     "thread": threading.current_thread().name}}
        with self.lock:
            type(self).scans.append(self.scan)

    def record(self, point):
        if self.fail_at is not None and point.index == self.fail_at:
            raise RuntimeError("collector broke on purpose at point %d" % point.index)
        if self.sleep:
            time.sleep(self.sleep)
        values = {{k: (v.shape if isinstance(v, np.ndarray) else v)
                  for k, v in point.values.items()}}
        self.scan["points"].append((point.index, values))
        self.scan["received_at"].append(time.monotonic())

    def end(self, end):
        self.scan["end"] = end
'''


def write_collector(
    folder: Path,
    name: str = "collector",
    cls: str = "CollectorRecorder",
    fail_at: int | None = None,
    sleep: float = 0.0,
    queue: int = 256,
    module: str | None = None,
) -> Path:
    """Write a collecting recorder plug-in file into `folder` (a RecorderPath folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module or name}.py"
    path.write_text(textwrap.dedent(COLLECTOR_SOURCE.format(
        cls=cls, name=name, fail_at=fail_at, sleep=sleep, queue=queue)))
    return path


def make_core(
    tmp_path: Path,
    config: Mapping[str, Any] | str = "fast",
    recorder_path: list[Path] | None = None,
    env: Mapping[str, Any] | None = None,
    macro_path: list[Path] | None = None,
) -> MacroServerCore:
    """A server with an environment file and a data root under `tmp_path`.

    `config` is "fast" (FAST_CONFIG, instant motors), "demo" (the packaged demo) or a dict.
    The active measurement group is set so scans do not print the "not defined" note.
    """
    if config == "fast":
        server_config = build_config(FAST_CONFIG)
    elif config == "demo":
        server_config = load_config("demo")
        server_config.data_roots = []  # the demo's relative "data" folder is not ours
    else:
        server_config = build_config(dict(config))  # type: ignore[arg-type]
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    environment = Environment(tmp_path / "state" / "environment.json")
    core = MacroServerCore(server_config, environment, extra_data_roots=[data],
                           extra_recorder_path=recorder_path or [],
                           extra_macro_path=macro_path or [],
                           prepare_macro_file=sardana_api.prepare_module)  # as the servers
    group = next(iter(core.pool.measurement_groups))
    values = {"ActiveMntGrp": group, "JsonRecorder": False}
    values.update(env or {})
    core.env.update(values)
    return core


def run(core: MacroServerCore, command: str, timeout: float = 20.0) -> tuple[Outcome, Collect]:
    """Run one command to its end on a new door; returns its outcome and what it said."""
    listener = Collect()
    runner = MacroRunner(core, listener)
    runner.start(command)
    outcome = runner.wait(timeout)
    assert outcome is not None, f"{command!r} did not end within {timeout} s"
    return outcome, listener


def wait_until(condition: Callable[[], Any], what: str = "the condition", timeout: float = 20.0,
               interval: float = 0.01) -> Any:
    """Poll `condition` until it holds and return its value; fail naming `what` after
    `timeout` s. A bounded wait on what the test needs, never a guessed sleep."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(interval)
    return value


def stop_after_rows(core: MacroServerCore, command: str, rows: int,
                    timeout: float = 30.0) -> tuple[Outcome, Collect]:
    """Start `command` on a new door, stop it once it printed `rows` table rows, and
    return its outcome and what it said."""
    listener = Collect()
    runner = MacroRunner(core, listener)
    runner.start(command)
    wait_until(lambda: len(data_rows(listener.output)) >= rows, f"{command!r} started")
    runner.stop()
    outcome = runner.wait(timeout)
    assert outcome is not None, f"{command!r} did not end within {timeout} s of the stop"
    return outcome, listener


def collector_class(core: MacroServerCore, name: str = "collector") -> Any:
    """The collecting recorder class the core loaded (its `scans` hold what it saw)."""
    return core.recorders.by_name(name)
