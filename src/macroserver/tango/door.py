"""The `Door` Tango device: runs one macro at a time and streams what it produces.

Members and encodings are Sardana's: RunMacro takes Sardana's XML (keeping the
client's macro id) or a command line, MacroStatus carries id/state/range/step in every
packet, State goes RUNNING then ON/ALARM for every macro (set and pushed in order with
the other events, so a client never sees a short macro's end before its start), Input
carries `Macro.input` questions and takes the answers, and ProbeEvents tells a client when
its subscriptions receive events (ZeroMQ applies them late).
"""

from __future__ import annotations

import bz2
import json
import pickle
from typing import Any, Callable

import tango
from tango import AttrWriteType, DevState
from tango.server import Device, attribute, command, device_property

from macroserver.engine.environment import EnvView
from macroserver.engine.runner import DoorState, MacroRunner
from macroserver.engine.xmlcommand import is_xml, with_id, xml_macro_id
from macroserver.errors import MacroServerError
from macroserver.streams import Level
from macroserver.tango.devutil import CODEC, devices, to_json
from macroserver.tango.events import EventPump
from macroserver.tango.faults import throw
from macroserver.tango.macroserver_device import MacroServer
from macroserver.wire import from_wire, lines_from_wire, lines_to_wire, to_wire

MAX_MESSAGES = 512
SARDANA_PARAM_REASON = "ParameterError"
"""The reason of a refused parameter for Sardana's XML callers: spock answers our
WrongParam/MissingParam by printing the running macro's doc, and there is none."""

DOOR_STATES = {
    DoorState.ON: DevState.ON,
    DoorState.RUNNING: DevState.RUNNING,
    DoorState.STANDBY: DevState.STANDBY,
    DoorState.ALARM: DevState.ALARM,
}


def _last_value(name: str) -> Callable[["Door"], Any]:
    """The read method of a stream attribute: the last value pushed."""

    def read(self: "Door") -> Any:
        return self._last[name]

    read.__name__ = f"read_{name}"
    return read


class Door(Device):
    """Runs one macro at a time and streams what it produces as change events."""

    MacroServerName = device_property(
        dtype=str, default_value="", doc="MacroServer device (default: the first in this server)")

    STREAMS = ("Output", "Info", "Warning", "Error", "Critical", "Debug")

    def init_device(self) -> None:
        super().init_device()
        self._last: dict[str, Any] = {name: [] for name in self.STREAMS}
        self._last["Result"] = []
        self._last["RecordData"] = (CODEC, b"")
        self._last["MacroStatus"] = (CODEC, b"[]")
        self._last["EventProbe"] = ""
        self.set_change_event("EventProbe", True, False)  # ProbeEvents works on a faulty door
        self.server = self._find_server()
        if self.server is None or not hasattr(self.server, "core"):
            self.set_state(DevState.FAULT)
            self.set_status(f"no working MacroServer ({self.MacroServerName or 'none in process'})")
            return
        self._pump = EventPump(self._push, self.get_name())
        for attr in (*self.STREAMS, "Result", "RecordData", "MacroStatus", "Input", "State",
                     "Status", "MacroServer", "ReservedElements"):
            self.set_change_event(attr, True, False)
        self.runner = MacroRunner(self.server.core, _DoorListener(self), self.get_name(),
                                  on_state=self._on_state)
        self.runner.start_worker()  # not in front of the first RunMacro's return
        self.set_state(DevState.ON)
        self.set_status("idle")

    def delete_device(self) -> None:
        if hasattr(self, "runner"):
            self.runner.close()
        if hasattr(self, "_pump"):
            self._pump.close()

    def _find_server(self) -> MacroServer | None:
        servers = [s for s in devices("MacroServer") if hasattr(s, "core")]
        if self.MacroServerName:
            wanted = self.MacroServerName.lower()
            return next((s for s in servers if s.get_name().lower() == wanted), None)
        return next(iter(servers), None)

    def _push(self, name: str, *value: Any) -> None:
        if name == "State":  # with its Status; cppTango sends the device's own state
            state, status = value
            self.set_state(state)
            self.set_status(status)
            self.push_change_event("State", state)
            self.push_change_event("Status", status)
        else:
            self.push_change_event(name, *value)

    def publish(self, name: str, *value: Any) -> None:
        """Remember the value for reads and push it as a change event (in order)."""
        self._last[name] = value[0] if len(value) == 1 else value
        self._pump.send(name, *value)

    def forget_streams(self) -> None:
        """Empty the last values of the streams and Result. Only a macro that starts does
        this: a refused RunMacro leaves the running or last macro's Output and Result."""
        for name in (*self.STREAMS, "Result"):
            self._last[name] = []

    def _on_state(self, state: DoorState, status: str) -> None:
        # Every state is set again when its event is pushed, in order with the other
        # events (cppTango sends the device's state at that moment, whatever the value
        # given), so even a macro that ends at once sends RUNNING, its final status, ON.
        # RUNNING is also set at once: RunMacro returns with the door RUNNING.
        tango_state = DOOR_STATES[state]
        if state is DoorState.RUNNING:
            self.set_state(tango_state)
        self._pump.send("State", tango_state, to_wire(status))
        self._pump.send("ReservedElements", *self.reserved_elements())

    def _call(self, action: Callable[[], Any], origin: str) -> Any:
        if not hasattr(self, "runner"):
            tango.Except.throw_exception("DoorFault", self.get_status(), origin)
        try:
            return action()
        except MacroServerError as exc:
            throw(exc, origin)

    # -- commands ------------------------------------------------------------------

    @command(dtype_in=(str,), dtype_out=(str,),
             doc_in='["ascan", "theta", "0", "0.5", "5", "1"], ["ascan theta 0 0.5 5 1"] '
                    "or Sardana XML",
             doc_out="[macro id], or the XML with the macro id for an XML call")
    def RunMacro(self, argin: list[str]) -> list[str]:
        args = lines_from_wire(argin)
        xml = len(args) == 1 and is_xml(args[0])

        def start() -> str:
            try:
                return self.runner.start(args, xml_macro_id(args[0]) if xml else None)
            except MacroServerError as exc:
                if xml and exc.reason in ("WrongParam", "MissingParam"):
                    exc.reason = SARDANA_PARAM_REASON
                raise

        macro_id = self._call(start, "Door.RunMacro")
        if xml:  # Sardana clients want their XML back, with their id
            return [to_wire(with_id(args[0], macro_id))]
        return [macro_id]

    @command(dtype_in=(str,), dtype_out=(str,),
             doc_in="a scan macro and its parameters, as RunMacro takes them",
             doc_out="[the forecast as one JSON object, then its lines as a person reads "
                     "them]; nothing moves, nothing is counted, nothing is written")
    def SimulateMacro(self, argin: list[str]) -> list[str]:
        """Sardana's command name (a stub there), answered with the scan's forecast."""
        args = lines_from_wire(argin)
        forecast = self._call(lambda: self.runner.dry_run(args), "Door.SimulateMacro")
        document = json.dumps(forecast.to_dict(), allow_nan=False)
        return lines_to_wire([document, *forecast.lines()])

    @command
    def StopMacro(self) -> None:
        self._call(self.runner.stop, "Door.StopMacro")

    @command
    def AbortMacro(self) -> None:
        self._call(self.runner.abort, "Door.AbortMacro")

    @command
    def PauseMacro(self) -> None:
        self._call(self.runner.pause, "Door.PauseMacro")

    @command
    def ResumeMacro(self) -> None:
        self._call(self.runner.resume, "Door.ResumeMacro")

    @command(doc_in="abort, for clients that expect Sardana's ReleaseMacro")
    def ReleaseMacro(self) -> None:
        self._call(self.runner.abort, "Door.ReleaseMacro")

    @command(dtype_in=str, doc_in="a token of the caller's choice (unique: a UUID)")
    def ProbeEvents(self, token: str) -> None:
        """Push `token` as an EventProbe change event, and nothing else.

        ZeroMQ applies a client's subscription at this server some time after
        subscribe_event returned, in the order the client made them: a client that
        subscribes to EventProbe last and sees its token come knows that its earlier
        subscriptions receive events too (DoorClient.connect). Only EventProbe's
        subscribers see it; no state, stream or environment changes."""
        self._last["EventProbe"] = token
        self.push_change_event("EventProbe", token)

    @command(dtype_in=(str,), dtype_out=(str,), doc_in="macro name [, variable names]",
             doc_out="variable, JSON value, ... as the macro sees them on this door")
    def GetMacroEnv(self, argin: list[str]) -> list[str]:
        argin = lines_from_wire(argin)
        def values() -> list[str]:
            if not argin:
                raise MacroServerError("GetMacroEnv needs a macro name")
            core = self.runner.server
            cls = core.macros.get(argin[0])
            view = EnvView(core.env, self.get_name(), cls.name)
            names = argin[1:] or list(cls.uses_env)
            found = [name for name in names if name in view]
            return [item for name in found
                    for item in (name, json.dumps(view.get(name), default=str))]

        return self._call(values, "Door.GetMacroEnv")

    # -- attributes ----------------------------------------------------------------

    # (PyTango calls a read method with `self` only: one reader per stream attribute)
    Output = attribute(dtype=(str,), max_dim_x=MAX_MESSAGES, fget=_last_value("Output"))
    Info = attribute(dtype=(str,), max_dim_x=MAX_MESSAGES, fget=_last_value("Info"))
    Warning = attribute(dtype=(str,), max_dim_x=MAX_MESSAGES, fget=_last_value("Warning"))
    Error = attribute(dtype=(str,), max_dim_x=MAX_MESSAGES, fget=_last_value("Error"))
    Critical = attribute(dtype=(str,), max_dim_x=MAX_MESSAGES, fget=_last_value("Critical"))
    Debug = attribute(dtype=(str,), max_dim_x=MAX_MESSAGES, fget=_last_value("Debug"))
    Result = attribute(dtype=(str,), max_dim_x=MAX_MESSAGES, fget=_last_value("Result"))

    @attribute(dtype=str, access=AttrWriteType.READ_WRITE,
               doc='a macro\'s question (JSON, as events); write the answer as JSON '
                   '{"input": value} or {"cancel": true}, or as plain text')
    def Input(self) -> str:
        return ""

    def write_Input(self, text: str) -> None:
        text = from_wire(text)
        try:
            answer = json.loads(text)
        except ValueError:
            answer = {"input": text}
        if not isinstance(answer, dict):
            answer = {"input": text}
        self._call(lambda: self.runner.answer(answer), "Door.write_Input")

    @attribute(dtype=tango.DevEncoded,
               doc="events: utf8_json record packets (JsonRecorder); read: the last scan's "
                   "records as Sardana serves them (bz2_pickle of a list of dicts)")
    def RecordData(self) -> tuple[str, bytes]:
        records = self.runner.server.last_scans.records(self.get_name()) \
            if hasattr(self, "runner") else None
        if records is None:
            return self._last["RecordData"]
        return "bz2_pickle", bz2.compress(pickle.dumps(records, protocol=4))

    @attribute(dtype=tango.DevEncoded, doc="utf8_json list of macro status dicts")
    def MacroStatus(self) -> tuple[str, bytes]:
        return self._last["MacroStatus"]

    @attribute(dtype=tango.DevEncoded,
               doc='utf8_json [{"elements": [names]}]: what the running macro reserved')
    def ReservedElements(self) -> tuple[str, bytes]:
        return self.reserved_elements()

    def reserved_elements(self) -> tuple[str, bytes]:
        """ReservedElements' value (also pushed at each change of the door's state)."""
        held = self.runner.server.reservations.held() if hasattr(self, "runner") else {}
        reserved = sorted(name for name, door in held.items() if door == self.get_name())
        return CODEC, to_json([{"elements": reserved}] if reserved else [])

    @attribute(dtype=str, doc="the last ProbeEvents token (its change events prove a "
                              "client's subscriptions live)")
    def EventProbe(self) -> str:
        return self._last["EventProbe"]

    @attribute(dtype=str, doc="the MacroServer device this door runs macros on")
    def MacroServer(self) -> str:
        return self.server.get_name() if self.server is not None else ""


class _DoorListener:
    """Turns a macro's messages, packets, status, result and questions into Door events."""

    def __init__(self, door: Door) -> None:
        self._door = door

    def message(self, level: Level, text: str) -> None:
        self._door.publish(level.value, lines_to_wire(text.split("\n")[:MAX_MESSAGES]))

    def record_data(self, codec: str, payload: bytes) -> None:
        self._door.publish("RecordData", codec, payload)

    def status(self, status: dict[str, Any]) -> None:
        if status.get("state") == "start":  # a new macro: reads give its streams only
            self._door.forget_streams()
        self._door.publish("MacroStatus", CODEC, to_json([status]))

    def result(self, values: list[str]) -> None:
        self._door.publish("Result", lines_to_wire(values[:MAX_MESSAGES]))

    def input_request(self, request: dict[str, Any]) -> None:
        self._door.publish("Input", to_wire(json.dumps(request, default=str)))
