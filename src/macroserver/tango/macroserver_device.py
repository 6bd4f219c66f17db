"""The `MacroServer` Tango device: macros, elements and the environment of its doors.

Its members and their encodings are Sardana's (see `sardana_compat` and `envcodec`), so
spock, Taurus and Sardana's Python API use it as they use Sardana's; our own clients
read the same members.
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

from macroserver import sardana_api
from macroserver.config import load_config
from macroserver.engine.core import MacroServerCore
from macroserver.engine.macrocode import get_code, set_code
from macroserver.engine.params import PARAM_TYPES
from macroserver.env import Environment, default_env_path
from macroserver.errors import MacroServerError
from macroserver.logs import ServerLog
from macroserver.statedir import state_dir_of
from macroserver.tango import envcodec, sardana_compat
from macroserver.tango.devutil import CODEC, devices, to_json
from macroserver.tango.element_export import export_elements
from macroserver.tango.events import EventPump
from macroserver.tango.faults import throw
from macroserver.tango.pool_elements import controller_entries, pool_elements
from macroserver.wire import from_wire, lines_from_wire, to_wire

log = logging.getLogger(__name__)


def _expand(paths: Sequence[str]) -> list[Path]:
    """Property values: entries may hold several os.pathsep-separated folders."""
    return [Path(p).expanduser() for entry in paths for p in entry.split(os.pathsep) if p]


def _changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """An Elements change event: elements added, changed and removed (by full name)."""
    before = {e["full_name"]: e for e in old}
    after = {e["full_name"]: e for e in new}
    return {"new": [e for n, e in after.items() if n not in before],
            "change": [e for n, e in after.items() if n in before and before[n] != e],
            "del": [e for n, e in before.items() if n not in after]}


class MacroServer(Device):
    """Macros, elements and the environment shared by the doors of this server."""

    Config = device_property(dtype=str, default_value="demo",
                             doc='TOML element configuration; "demo" is the packaged demo')
    EnvironmentDb = device_property(dtype=str, default_value="",
                                    doc="environment file; its folder is the instance's state "
                                        "folder (default: the per-user one, statedir.py)")
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
            self._log = ServerLog(state_dir_of(env_path) / f"macroserver-{instance}.log")
            env = Environment(env_path)
            self.core = MacroServerCore(
                config, env, extra_data_roots=_expand(self.DataRoots),
                extra_macro_path=_expand(self.MacroPath),
                extra_recorder_path=_expand(self.RecorderPath),
                scan_dir_fallback=self.ScanDirFallback,
                prepare_macro_file=sardana_api.prepare_module)
        except MacroServerError as exc:
            self.set_state(DevState.FAULT)
            self.set_status(to_wire(f"cannot start: {exc}"))
            print(f"{name}: cannot start: {exc}", file=sys.stderr, flush=True)
            log.error("%s cannot start: %s", name, exc)
            return
        self._pump = EventPump(self._push, name)
        self.core.reload_listeners.append(self._macros_reloading)
        # every attribute sends events (Taurus shows nothing for one without: its polling
        # fallback does not refresh them); Sardana declares the same lists
        for attr in ("Environment", "Elements", "MacroList", "DoorList", "MacroLibList",
                     "ScanMetadata", "State", "Status", "TypeList", "RecorderList",
                     "RecorderLibList"):
            self.set_change_event(attr, True, False)
        if self.MetadataManager:
            self.core.metadata_manager = self.MetadataManager
        self.core.scan_document_listeners.append(self._publish_scan)
        self._groups_seen = self._group_entries()
        self.core.pool.group_listeners.append(self._groups_changed)
        self.core.env.subscribe(lambda changed, removed: self._pump.send(
            "Environment", self.core.env.current(), removed))
        problems = self.core.load_problems + self.core.recover_scan_files(name)
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

    def _push(self, name: str, *value: Any) -> None:
        if name == "Environment":  # encoded here, in the pump's thread: a scan's ScanID
            values, removed = value  # change does not wait for it (about 0.5 ms)
            value = (CODEC, to_json(envcodec.event_value(dict(values), removed)))
        self.push_change_event(name, *value)

    def _publish_scan(self, document: dict[str, Any]) -> None:
        self._last_scan = to_json(document)
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
        return sorted(d.get_name() for d in devices("Door")
                      if hasattr(d, "runner") and d.server is self)

    def pool_entries(self) -> list[dict[str, Any]]:
        """The motors, channels and groups as Sardana's Elements lists them."""
        util = tango.Util.instance()
        database = util.get_database()
        host = f"{database.get_db_host()}:{database.get_db_port()}"
        elements, _ = pool_elements(self._core().pool, util.get_ds_inst_name())
        return ([element.sardana_entry(host, self.get_name()) for element in elements]
                + controller_entries(elements, host, self.get_name()))

    def element_infos(self) -> list[dict[str, Any]]:
        return sardana_compat.elements(self._core(), self.get_name(), PARAM_TYPES,
                                       self.pool_entries())

    def _group_entries(self) -> list[dict[str, Any]]:
        return [e for e in self.pool_entries() if e["type"] == "MeasurementGroup"]

    def _groups_changed(self) -> None:
        """A group defined or removed from a macro: its device made or removed, and an
        Elements event, so every client (spock, expconf) sees it at once."""
        export_elements()
        after = self._group_entries()
        self._pump.send("Elements", CODEC, to_json(_changes(self._groups_seen, after)))
        self._groups_seen = after

    # -- lists ---------------------------------------------------------------------

    @attribute(dtype=(str,), max_dim_x=4096, doc="names of the macros")
    def MacroList(self) -> list[str]:
        return self._core().macros.names()

    @attribute(dtype=(str,), max_dim_x=1024, doc="names of the macro libraries (files)")
    def MacroLibList(self) -> list[str]:
        return sorted(sardana_compat.macro_libraries(self._core()))

    @attribute(dtype=(str,), max_dim_x=1024, doc="names of the recorders")
    def RecorderList(self) -> list[str]:
        return self._core().recorders.names()

    @attribute(dtype=(str,), max_dim_x=1024, doc="names of the recorder libraries")
    def RecorderLibList(self) -> list[str]:
        return sorted(sardana_compat.recorder_libraries(self._core()))

    @attribute(dtype=(str,), max_dim_x=256, doc="parameter types (* marks element types)")
    def TypeList(self) -> list[str]:
        return sardana_compat.type_names(PARAM_TYPES)

    @attribute(dtype=(str,), max_dim_x=256, doc="names of the doors of this server")
    def DoorList(self) -> list[str]:
        return self.door_names()

    @attribute(dtype=tango.DevEncoded,
               doc='utf8_json {"new": [element info]}: macros, libraries, recorders, '
                   'types, motors, channels, measurement groups (Sardana\'s form)')
    def Elements(self) -> tuple[str, bytes]:
        return CODEC, to_json({"new": self.element_infos()})

    # -- environment ---------------------------------------------------------------

    @attribute(dtype=tango.DevEncoded, access=AttrWriteType.READ_WRITE,
               doc='utf8_json {"new": env}; write {"new"|"change": {...}, "del": [...]} '
                   "as utf8_json or Sardana's pickle (plain values only)")
    def Environment(self) -> tuple[str, bytes]:
        return CODEC, to_json(envcodec.read_value(self._core().env.snapshot()))

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
            env = self._core().env
            changes, removed = envcodec.unset_nulls(*envcodec.decode_write(value),
                                                    env.snapshot().keys())
            env.update(changes, removed)
        except MacroServerError as exc:
            throw(exc, origin)  # (logged: a refused DevEncoded write loses its reason)

    # -- macros --------------------------------------------------------------------

    @command(dtype_in=(str,), dtype_out=(str,), doc_out="one JSON macro info per macro")
    def GetMacroInfo(self, names: list[str]) -> list[str]:
        infos = {i["name"]: i for i in sardana_compat.macro_infos(self._core(), self.get_name())}
        try:
            # an unknown name raises UnknownMacro, with suggestions
            return [json.dumps(infos.get(n) or self._core().macros.get(n), default=str)
                    for n in lines_from_wire(names)]
        except MacroServerError as exc:
            throw(exc, "MacroServer.GetMacroInfo")
            raise

    def _reload(self) -> list[str]:
        """Load the macros again (`_macros_reloading` sends what changed)."""
        return self._core().reload_macros()

    def _macros_reloading(self) -> Callable[[], None]:
        """Before a reload (a command's or a macro's: relmac): what to do after it, send
        what changed as an Elements event and the new MacroList."""
        before = self.element_infos()

        def reloaded() -> None:
            self._pump.send("Elements", CODEC, to_json(_changes(before, self.element_infos())))
            self._pump.send("MacroList", self._core().macros.names())

        return reloaded

    @command(dtype_in=(str,), dtype_out=(str,), doc_in="macro names",
             doc_out='["OK"], or the load problems')
    def ReloadMacro(self, names: list[str]) -> list[str]:
        for name in names:
            if name not in self._core().macros:
                throw(MacroServerError(f"no macro named {name!r}"), "MacroServer.ReloadMacro")
        return self._reload() or ["OK"]

    @command(dtype_in=(str,), dtype_out=(str,), doc_in="macro library names",
             doc_out='["OK"], or the load problems')
    def ReloadMacroLib(self, libraries: list[str]) -> list[str]:
        known = sardana_compat.macro_libraries(self._core())
        for library in libraries:  # a new file in MacroPath is a library to load
            if library not in known and not (library.isidentifier() and any(
                    (folder / f"{library}.py").is_file() for folder in self._core().macro_path)):
                throw(MacroServerError(f"no macro library named {library!r}"),
                      "MacroServer.ReloadMacroLib")
        return self._reload() or ["OK"]

    @command(dtype_in=(str,), dtype_out=(str,), doc_in="library [, macro]",
             doc_out="file, code, line number")
    def GetMacroCode(self, argin: list[str]) -> list[str]:
        if not argin:
            throw(MacroServerError("GetMacroCode needs a library name"), "MacroServer.GetMacroCode")
        try:
            path, code, line = get_code(self._core(), argin[0], argin[1] if len(argin) > 1 else "",
                                       sardana_api.NEW_MACRO_TEMPLATE)
        except MacroServerError as exc:
            throw(exc, "MacroServer.GetMacroCode")
        return [path, code, str(line)]

    @command(dtype_in=(str,), doc_in="library or file inside MacroPath, code [, auto reload]")
    def SetMacroCode(self, argin: list[str]) -> None:
        if len(argin) < 2:
            throw(MacroServerError("SetMacroCode needs a library (or file) and the code"),
                  "MacroServer.SetMacroCode")
        reload = len(argin) < 3 or argin[2].lower() in ("true", "yes", "1")
        try:
            path = set_code(self._core(), argin[0], argin[1])
        except MacroServerError as exc:
            throw(exc, "MacroServer.SetMacroCode")
            raise
        if reload:
            problems = [p for p in self._reload() if str(path) in p]
            if problems:  # the file is kept, to be fixed
                throw(MacroServerError(f"{path} was written but does not load: "
                                       f"{problems[0]}"), "MacroServer.SetMacroCode")
