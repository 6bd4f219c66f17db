"""The Tango device server: `MacroServer` and `Door` devices (Sardana's names), and the
`MetadataManager` (tango/metadata_manager.py) the packaged description adds beside them.

The MacroServer device owns the `MacroServerCore` (elements, environment, macros,
recorders); each Door owns a `MacroRunner` on it and turns what its macros produce into
change events. Started as `macroserver serve <instance>`: a normal device server that a
facility can run under Starter/Astor.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import tango
from tango import AttrWriteType, DevState
from tango.server import Device, attribute, command, device_property

from macroserver.config import load_config
from macroserver.engine.core import MacroServerCore
from macroserver.engine.runner import DoorState, MacroRunner
from macroserver.engine.xmlcommand import is_xml, with_id
from macroserver.env import Environment, default_env_path
from macroserver.errors import EnvError, MacroServerError
from macroserver.logs import ServerLog, set_level
from macroserver.streams import Level
from macroserver.tango.element_export import export_elements
from macroserver.tango.events import EventPump
from macroserver.tango.faults import throw as _throw
from macroserver.tango.pool_devices import POOL_DEVICE_CLASSES
from macroserver.wire import from_wire, lines_from_wire, lines_to_wire, to_wire

MAX_MESSAGES = 512
CODEC = "utf8_json"
LOOPBACK_ENDPOINT = "giop:tcp:127.0.0.1:0"
EVENT_BUFFER_HWM = 50000  # events queued per subscriber before ZMQ drops (~10 MB each)

log = logging.getLogger(__name__)


def _devices(class_name: str) -> list[Any]:
    """This process's devices of `class_name`, from Tango's own device list: they are
    found exactly while Tango has them (no registry of ours to keep in step)."""
    return list(tango.Util.instance().get_device_list_by_class(class_name))


DOOR_STATES = {
    DoorState.ON: DevState.ON,
    DoorState.RUNNING: DevState.RUNNING,
    DoorState.STANDBY: DevState.STANDBY,
    DoorState.ALARM: DevState.ALARM,
}


def _json(value: Any) -> bytes:
    return json.dumps(value, allow_nan=False, default=str).encode()


def _expand(paths: Sequence[str]) -> list[Path]:
    """Property values: entries may hold several os.pathsep-separated folders."""
    return [Path(p).expanduser() for entry in paths for p in entry.split(os.pathsep) if p]


class MacroServer(Device):
    """Macros, elements and the environment shared by the doors of this server."""

    Config = device_property(dtype=str, default_value="demo",
                             doc='TOML element configuration; "demo" is the packaged demo')
    EnvironmentDb = device_property(dtype=str, default_value="",
                                    doc="environment file (default: per-user state folder)")
    MacroPath = device_property(dtype=(str,), default_value=[], doc="extra macro folders")
    RecorderPath = device_property(dtype=(str,), default_value=[], doc="extra recorder folders")
    DataRoots = device_property(dtype=(str,), default_value=[],
                                doc="folders scan files may be written in (added to Config's)")
    ScanDirFallback = device_property(
        dtype=bool, default_value=False,
        doc="a ScanDir outside the data roots: write into the first root with a Warning "
            "(set by `macroserver up`) instead of refusing the scan")
    MetadataManager = device_property(
        dtype=str, default_value="",
        doc="MetadataManager device read at each scan start (overrides Config's metadata.manager)")

    core: MacroServerCore
    _last_scan: bytes = b"{}"

    def init_device(self) -> None:
        super().init_device()
        self.set_state(DevState.INIT)
        name = self.get_name()
        instance = tango.Util.instance().get_ds_inst_name()
        try:
            config = load_config(self.Config)
            env_path = Path(self.EnvironmentDb).expanduser() if self.EnvironmentDb else (
                default_env_path(instance))
            self._log = ServerLog(env_path.parent / f"macroserver-{instance}.log")
            env = Environment(env_path)
            self.core = MacroServerCore(
                config, env, extra_data_roots=_expand(self.DataRoots),
                extra_macro_path=_expand(self.MacroPath),
                extra_recorder_path=_expand(self.RecorderPath),
                scan_dir_fallback=self.ScanDirFallback)
        except MacroServerError as exc:
            self.set_state(DevState.FAULT)
            self.set_status(to_wire(f"cannot start: {exc}"))
            print(f"{name}: cannot start: {exc}", file=sys.stderr, flush=True)
            log.error("%s cannot start: %s", name, exc)
            return
        self._pump = EventPump(self.push_change_event, name)
        for attr in ("Environment", "Elements", "MacroList", "DoorList", "ScanMetadata"):
            self.set_change_event(attr, True, False)
        if self.MetadataManager:
            self.core.metadata_manager = self.MetadataManager
        self.core.scan_document_listeners.append(self._publish_scan)
        self.core.env.subscribe(lambda changed, removed: self._pump.send(
            "Environment", CODEC, _json(self.core.env.snapshot())))
        problems = self.core.load_problems
        self.set_state(DevState.ON)
        self.set_status(to_wire("ready" + "".join(f"\nwarning: {p}" for p in problems)))
        log.info("%s ready (log level %s)%s", name,
                 logging.getLevelName(logging.getLogger("macroserver").getEffectiveLevel()),
                 "".join(f"; warning: {p}" for p in problems))

    def delete_device(self) -> None:
        if hasattr(self, "_pump"):
            self._pump.close()
        if hasattr(self, "_log"):
            self._log.close()

    def _publish_scan(self, document: dict[str, Any]) -> None:
        self._last_scan = _json(document)
        self._pump.send("ScanMetadata", CODEC, self._last_scan)

    @attribute(dtype=tango.DevEncoded,
               doc="utf8_json: the last scan's catalogue document (its sidecar), pushed as "
                   "a change event after each scan")
    def ScanMetadata(self) -> tuple[str, bytes]:
        return CODEC, self._last_scan

    def _core(self) -> MacroServerCore:
        if not hasattr(self, "core"):
            tango.Except.throw_exception("ConfigError", self.get_status(), "MacroServer")
        return self.core

    def door_names(self) -> list[str]:
        return sorted(d.get_name() for d in _devices("Door")
                      if hasattr(d, "runner") and d.server is self)

    @attribute(dtype=(str,), max_dim_x=4096, doc="names of the macros")
    def MacroList(self) -> list[str]:
        return self._core().macros.names()

    @attribute(dtype=(str,), max_dim_x=256, doc="names of the doors of this server")
    def DoorList(self) -> list[str]:
        return self.door_names()

    @attribute(dtype=tango.DevEncoded, access=AttrWriteType.READ_WRITE,
               doc='utf8_json; write {"change": {...}, "del": [...]} or {name: value}')
    def Environment(self) -> tuple[str, bytes]:
        return CODEC, _json(self._core().env.snapshot())

    def write_Environment(self, value: tuple[str, bytes]) -> None:
        # A refused write reaches the client as a DevFailed, but cppTango replaces its
        # reason and description by API_NotSupportedFeature ("rollback" is not supported
        # for DevEncoded attributes); SetEnvironment gives the real reason.
        self._set_env(value, "MacroServer.write_Environment")

    @command(dtype_in=str, doc_in='JSON: {"change": {...}, "del": [...]} or {name: value}')
    def SetEnvironment(self, text: str) -> None:
        """Like writing Environment, with the reason of a refusal kept in the DevFailed."""
        self._set_env((CODEC, from_wire(text)), "MacroServer.SetEnvironment")

    def _set_env(self, value: tuple[str, Any], origin: str) -> None:
        try:
            changes, removed = _parse_env_write(value)
            self._core().env.update(changes, removed)
        except MacroServerError as exc:
            _throw(exc, origin)

    @attribute(dtype=tango.DevEncoded, doc="utf8_json: motors, channels, groups, macros")
    def Elements(self) -> tuple[str, bytes]:
        core = self._core()
        description: dict[str, list[Any]] = dict(core.pool.describe())
        description["macros"] = [core.macros.get(n).describe() for n in core.macros.names()]
        description["recorders"] = core.recorders.names()
        description["doors"] = self.door_names()
        return CODEC, _json(description)

    @command(dtype_in=(str,), dtype_out=(str,), doc_out="one JSON description per macro")
    def GetMacroInfo(self, names: list[str]) -> list[str]:
        core = self._core()
        try:
            return [json.dumps(core.macros.get(n).describe()) for n in lines_from_wire(names)]
        except MacroServerError as exc:
            _throw(exc, "MacroServer.GetMacroInfo")
            raise


def _parse_env_write(value: Any) -> tuple[dict[str, Any], list[str]]:
    """Changes and removals from a written Environment value (JSON, never evaluated)."""
    fmt, data = value
    if fmt not in ("utf8_json", "json"):
        raise EnvError(f"Environment must be written as utf8_json, not {fmt!r}")
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else str(data)
        document = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise EnvError(f"Environment value is not valid JSON: {exc}") from None
    except RecursionError:
        raise EnvError("Environment value is not usable: JSON nested too deeply") from None
    if not isinstance(document, dict):
        raise EnvError("Environment value must be a JSON object")
    if set(document) <= {"new", "change", "del"} and document:
        new, change = document.get("new", {}), document.get("change", {})
        removed = document.get("del", [])
        if not (isinstance(new, dict) and isinstance(change, dict) and isinstance(removed, list)
                and all(isinstance(n, str) for n in removed)):
            raise EnvError('"new"/"change" must be objects and "del" a list of names')
        return {**new, **change}, removed
    return document, []




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

    STREAMS = ("Output", "Info", "Warning", "Error", "Debug")

    def init_device(self) -> None:
        super().init_device()
        self._last: dict[str, Any] = {name: [] for name in self.STREAMS}
        self._last["Result"] = []
        self._last["RecordData"] = (CODEC, b"")
        self._last["MacroStatus"] = (CODEC, b"[]")
        self.server = self._find_server()
        if self.server is None or not hasattr(self.server, "core"):
            self.set_state(DevState.FAULT)
            self.set_status(f"no working MacroServer ({self.MacroServerName or 'none in process'})")
            return
        self._pump = EventPump(self._push, self.get_name())
        for attr in (*self.STREAMS, "Result", "RecordData", "MacroStatus", "State", "Status"):
            self.set_change_event(attr, True, False)
        self.runner = MacroRunner(self.server.core, _DoorListener(self), self.get_name(),
                                  on_state=self._on_state)
        self.set_state(DevState.ON)
        self.set_status("idle")

    def delete_device(self) -> None:
        if hasattr(self, "_pump"):
            self._pump.close()

    def _find_server(self) -> "MacroServer | None":
        servers = [s for s in _devices("MacroServer") if hasattr(s, "core")]
        if self.MacroServerName:
            wanted = self.MacroServerName.lower()
            return next((s for s in servers if s.get_name().lower() == wanted), None)
        return next(iter(servers), None)

    def _push(self, name: str, *value: Any) -> None:
        if name == "State":
            self.push_change_event("State", value[0])
        elif name == "Status":
            self.push_change_event("Status", value[0])
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
        tango_state = DOOR_STATES[state]
        self.set_state(tango_state)
        self.set_status(to_wire(status))
        self._pump.send("State", tango_state)
        self._pump.send("Status", to_wire(status))

    def _call(self, action: Callable[[], Any], origin: str) -> Any:
        if not hasattr(self, "runner"):
            tango.Except.throw_exception("DoorFault", self.get_status(), origin)
        try:
            return action()
        except MacroServerError as exc:
            _throw(exc, origin)

    # -- commands ------------------------------------------------------------------

    @command(dtype_in=(str,), dtype_out=(str,),
             doc_in='["ascan", "theta", "0", "0.5", "5", "1"], ["ascan theta 0 0.5 5 1"] or Sardana XML',
             doc_out="[macro id]")
    def RunMacro(self, argin: list[str]) -> list[str]:
        args = lines_from_wire(argin)
        macro_id = self._call(lambda: self.runner.start(args), "Door.RunMacro")
        if len(args) == 1 and is_xml(args[0]):  # Sardana clients want their XML back
            return [to_wire(with_id(args[0], macro_id))]
        return [macro_id]

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

    # -- attributes ----------------------------------------------------------------

    # (PyTango calls a read method with `self` only: one reader per stream attribute)
    Output = attribute(dtype=(str,), max_dim_x=MAX_MESSAGES, fget=_last_value("Output"))
    Info = attribute(dtype=(str,), max_dim_x=MAX_MESSAGES, fget=_last_value("Info"))
    Warning = attribute(dtype=(str,), max_dim_x=MAX_MESSAGES, fget=_last_value("Warning"))
    Error = attribute(dtype=(str,), max_dim_x=MAX_MESSAGES, fget=_last_value("Error"))
    Debug = attribute(dtype=(str,), max_dim_x=MAX_MESSAGES, fget=_last_value("Debug"))
    Result = attribute(dtype=(str,), max_dim_x=MAX_MESSAGES, fget=_last_value("Result"))

    @attribute(dtype=tango.DevEncoded, doc="utf8_json record packets (JsonRecorder)")
    def RecordData(self) -> tuple[str, bytes]:
        return self._last["RecordData"]

    @attribute(dtype=tango.DevEncoded, doc="utf8_json list of macro status dicts")
    def MacroStatus(self) -> tuple[str, bytes]:
        return self._last["MacroStatus"]

    @attribute(dtype=str, doc="the MacroServer device this door runs macros on")
    def MacroServer(self) -> str:
        return self.server.get_name() if self.server is not None else ""


class _DoorListener:
    """Turns a macro's messages, packets, status and result into Door events."""

    def __init__(self, door: Door) -> None:
        self._door = door

    def message(self, level: Level, text: str) -> None:
        self._door.publish(level.value, lines_to_wire(text.split("\n")[:MAX_MESSAGES]))

    def record_data(self, codec: str, payload: bytes) -> None:
        self._door.publish("RecordData", codec, payload)

    def status(self, status: dict[str, Any]) -> None:
        if status.get("state") == "start":  # a new macro: reads give its streams only
            self._door.forget_streams()
        self._door.publish("MacroStatus", CODEC, _json([status]))

    def result(self, values: list[str]) -> None:
        self._door.publish("Result", lines_to_wire(values[:MAX_MESSAGES]))


def serve(instance: str, extra_args: Sequence[str] = (), listen: str | None = None,
          log_level: str = "INFO") -> None:
    """Run the device server `MacroServer/<instance>` (bound to loopback unless `listen`);
    it logs at `log_level` and above to `macroserver-<instance>.log` beside its
    environment file."""
    set_level(log_level)
    endpoint = [] if "-ORBendPoint" in extra_args else [
        "-ORBendPoint", f"giop:tcp:{listen}:0" if listen else LOOPBACK_ENDPOINT]
    args = ["MacroServer", instance, *endpoint, *extra_args]
    # A fast scan pushes its table rows faster than a busy client takes them; beyond
    # this many queued events per subscriber ZMQ silently drops them (Tango's default is
    # 1000, less than one 1,000-point scan). The facility may set its own value.
    os.environ.setdefault("TANGO_DS_EVENT_BUFFER_HWM", str(EVENT_BUFFER_HWM))
    from macroserver.tango.metadata_manager import MetadataManager

    tango.server.run((MacroServer, Door, MetadataManager, *POOL_DEVICE_CLASSES), args=args,
                     post_init_callback=export_elements)
