"""A Python client of a Door and its MacroServer (used by mspock, the demo and tests).

Run a macro and wait or not, get callbacks per stream, stop/abort/pause/resume, read and
write the environment, list macros and elements. Events for a run are matched by macro
id; the first event of each subscription (the attribute's current value, which Tango
sends on subscribe) is skipped. `connect` returns once the subscriptions receive events
(tango/event_probe.py: ZeroMQ applies them late), and `wait` reads the door's
MacroStatus when no event came for a while, so a lost final event cannot hang it.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import tango

from macroserver.packets import decode, per_point
from macroserver.records import EndStatus
from macroserver.tango.event_probe import wait_subscriptions_live
from macroserver.wire import from_wire, lines_from_wire, lines_to_wire, to_wire

STREAMS = ("Output", "Info", "Warning", "Error", "Critical", "Debug", "Result")
EVENT_ATTRIBUTES = (*STREAMS, "RecordData", "MacroStatus", "Input")
_ATTRIBUTES = {name.lower(): name for name in EVENT_ATTRIBUTES}
QUIET_S = 2.0  # no event for this long while waiting for a run's end: read the door
BUSY_STATES = (tango.DevState.RUNNING, tango.DevState.STANDBY)

StreamCallback = Callable[[str, list[str]], None]
RecordCallback = Callable[[dict[str, Any]], None]
StatusCallback = Callable[[dict[str, Any]], None]


@dataclass
class RunOutcome:
    """How a macro run ended, with the messages it produced on this client."""

    macro_id: str
    status: EndStatus | None = None  # None while it runs
    error: str = ""
    messages: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in STREAMS})

    @property
    def state(self) -> str:
        """Sardana's word for the end (finish, stop, abort, exception); "" while it runs."""
        return self.status.macro_state if self.status is not None else ""

    @property
    def ok(self) -> bool:
        return self.status is EndStatus.DONE


class DoorClient:
    """Talks to one Door; subscribe first (`connect`), then run macros."""

    def __init__(self, door_name: str, timeout_ms: int = 10000) -> None:
        self.name = door_name
        self.door = tango.DeviceProxy(door_name)
        self.door.set_timeout_millis(timeout_ms)
        self._macro_server: tango.DeviceProxy | None = None
        self._stream_callbacks: list[StreamCallback] = []
        self._record_callbacks: list[RecordCallback] = []
        self._status_callbacks: list[StatusCallback] = []
        self._event_ids: list[int] = []
        self._skip_first: set[str] = set()
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[RunOutcome, threading.Event]] = {}
        self._current: RunOutcome | None = None
        self._early_status: dict[str, list[dict[str, Any]]] = {}
        self._last_event = time.monotonic()
        #: questions of running macros (`Macro.input`), oldest first; answer with `answer`
        self.questions: queue.Queue[dict[str, Any]] = queue.Queue()

    # -- subscriptions -------------------------------------------------------------

    def on_stream(self, callback: StreamCallback) -> None:
        """`callback(stream, lines)` for every Output/Info/Warning/Error/Debug/Result event."""
        self._stream_callbacks.append(callback)

    def on_record(self, callback: RecordCallback) -> None:
        """`callback(packet)` for every JSON record packet (JsonRecorder must be on)."""
        self._record_callbacks.append(callback)

    def on_status(self, callback: StatusCallback) -> None:
        self._status_callbacks.append(callback)

    def connect(self, timeout: float = 30.0) -> "DoorClient":
        """Subscribe to the door's streams, RecordData, MacroStatus and Input; return
        once they receive events (a macro run at once loses none), TimeoutError if the
        door's events do not reach this client within `timeout` s. A door without
        ProbeEvents (Sardana's) is connected at once, without that proof. A connect that
        fails midway unsubscribes what it subscribed: no callback of a client its caller
        drops keeps receiving the door's events."""
        try:
            for attr in EVENT_ATTRIBUTES:
                self._skip_first.add(attr)
                self._event_ids.append(self.door.subscribe_event(
                    attr, tango.EventType.CHANGE_EVENT, self._on_event))
            wait_subscriptions_live(self.door, timeout)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Unsubscribe from the door (again at will: a closed client can connect anew)."""
        self._skip_first.clear()
        for event_id in self._event_ids:
            try:
                self.door.unsubscribe_event(event_id)
            except tango.DevFailed:
                pass
        self._event_ids.clear()

    def __enter__(self) -> "DoorClient":
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_event(self, event: tango.EventData) -> None:
        name = event.attr_name.rsplit("/", 1)[-1]
        attr = _ATTRIBUTES.get(name.lower(), name)
        self._last_event = time.monotonic()
        if self._skip_first:  # only until each subscription's first event has come
            with self._lock:
                if attr in self._skip_first:
                    self._skip_first.discard(attr)
                    return
        if event.err or event.attr_value is None:
            return
        value = event.attr_value.value
        if attr == "MacroStatus":
            for status in json.loads(value[1]):
                self._status(status)
        elif attr == "Input":
            question = json.loads(from_wire(value)) if value else None
            if isinstance(question, dict) and question.get("type") == "input":
                self.questions.put(question)
        elif attr == "RecordData":
            if value[0] == "utf8_json" and value[1]:  # the first event, a read: bz2_pickle
                for packet in per_point(decode(value[1])):
                    for on_record in self._record_callbacks:
                        on_record(packet)
        else:
            lines = lines_from_wire(value) if value is not None else []
            with self._lock:
                if self._current is not None:
                    self._current.messages[attr].extend(lines)
            for on_stream in self._stream_callbacks:
                on_stream(attr, lines)

    def _status(self, status: dict[str, Any]) -> None:
        for callback in self._status_callbacks:
            callback(status)
        with self._lock:
            run = self._runs.get(status.get("id", ""))
            if run is None:
                self._early_status.setdefault(status.get("id", ""), []).append(status)
                return
        self._finish_if_final(run, status)

    @staticmethod
    def _finish_if_final(run: tuple[RunOutcome, threading.Event], status: dict[str, Any]) -> None:
        outcome, done = run
        end = EndStatus.from_macro_state(status.get("state", ""))
        if end is not None:
            outcome.status = end
            outcome.error = status.get("exc_value", "")
            done.set()

    # -- running -------------------------------------------------------------------

    def start(self, command: str | Sequence[str]) -> RunOutcome:
        """Start a macro; returns its (growing) outcome at once. Raises DevFailed on bad input."""
        args = lines_to_wire([command] if isinstance(command, str) else list(command))
        outcome = RunOutcome("")
        with self._lock:
            self._current = outcome
        self._last_event = time.monotonic()
        macro_id = self.door.RunMacro(args)[0]
        outcome.macro_id = macro_id
        done = threading.Event()
        with self._lock:
            self._runs[macro_id] = (outcome, done)
            early = self._early_status.pop(macro_id, [])
        for status in early:
            self._finish_if_final((outcome, done), status)
        return outcome

    def simulate(self, command: str | Sequence[str]) -> tuple[dict[str, Any], list[str]]:
        """The Door's SimulateMacro: (the forecast as a dict, its lines for people).
        Raises DevFailed on bad input, as RunMacro does."""
        args = lines_to_wire([command] if isinstance(command, str) else list(command))
        reply = lines_from_wire(self.door.SimulateMacro(args))
        return json.loads(reply[0]), reply[1:]

    def wait(self, outcome: RunOutcome, timeout: float | None = None) -> RunOutcome:
        """Wait until the run ends: its final MacroStatus event arrives or, once no event
        came for QUIET_S, the door's MacroStatus says it ended (events can be lost)."""
        _, done = self._runs[outcome.macro_id]
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = QUIET_S if deadline is None else min(QUIET_S, deadline - time.monotonic())
            if done.wait(max(left, 0.0)):
                return outcome
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{outcome.macro_id} did not end within {timeout} s")
            if time.monotonic() - self._last_event >= QUIET_S:
                self._read_end(outcome)

    def _read_end(self, outcome: RunOutcome) -> None:
        """Finish `outcome` from the door's State and MacroStatus (read in this order:
        an idle door has published its last macro's final status)."""
        idle = self.door.state() not in BUSY_STATES
        statuses = json.loads(self.door.read_attribute("MacroStatus").value[1])
        ours = [s for s in statuses if s.get("id") == outcome.macro_id]
        for status in ours:
            self._finish_if_final(self._runs[outcome.macro_id], status)
        if idle and not ours:
            others = ", ".join(s.get("id", "?") for s in statuses)
            raise RuntimeError(f"{outcome.macro_id} ended, but its final status was lost "
                               f"(events missed) and the door ran {others} since")

    def run(self, command: str | Sequence[str], timeout: float | None = None) -> RunOutcome:
        """Run a macro and wait for its end (see `wait`)."""
        return self.wait(self.start(command), timeout)

    def answer(self, text: str | None) -> None:
        """Answer the running macro's question; None cancels it (the macro stops)."""
        reply = {"cancel": True} if text is None else {"input": text}
        self.door.write_attribute("Input", to_wire(json.dumps(reply)))

    def stop(self) -> None:
        self.door.StopMacro()

    def abort(self) -> None:
        self.door.AbortMacro()

    def pause(self) -> None:
        self.door.PauseMacro()

    def resume(self) -> None:
        self.door.ResumeMacro()

    def state(self) -> tango.DevState:
        return self.door.state()

    # -- the MacroServer -----------------------------------------------------------

    @property
    def macro_server(self) -> tango.DeviceProxy:
        if self._macro_server is None:
            name = self.door.read_attribute("MacroServer").value
            if self.name.startswith("tango://"):  # same database as the door
                name = self.name.rsplit("/", 3)[0] + "/" + name
            self._macro_server = tango.DeviceProxy(name)
        return self._macro_server

    def environment(self) -> dict[str, Any]:
        """The whole environment (scoped names such as `door/x/1.ScanFile` included)."""
        return json.loads(self.macro_server.read_attribute("Environment").value[1])["new"]

    def set_environment(self, changes: dict[str, Any], remove: Sequence[str] = ()) -> None:
        """Raises DevFailed (reason EnvError, say) naming the problem when refused."""
        payload = json.dumps({"change": changes, "del": list(remove)})
        # the command, not a write of Environment: cppTango hides the reason of a refused
        # DevEncoded write behind API_NotSupportedFeature
        self.macro_server.SetEnvironment(to_wire(payload))

    def macros(self) -> list[str]:
        return list(self.macro_server.read_attribute("MacroList").value or [])

    def elements(self) -> list[dict[str, Any]]:
        """Sardana's element infos: macros, libraries, recorders, types, pool elements."""
        return json.loads(self.macro_server.read_attribute("Elements").value[1])["new"]

    def macro_info(self, name: str) -> dict[str, Any]:
        return json.loads(self.macro_server.GetMacroInfo([name])[0])
