"""The MetadataManager device: experiment and element metadata for any number of
MacroServers, settable from any Tango client, validated when set, durable.

Attributes (change events on each): `ExperimentMetadata` (JSON object, the keys of
ScanMetadata: `{"experiment_identifier": "ma1234", "sample/name": "Si111", ...}`),
`Proposal`, `Sample` and `User` (shortcuts for `experiment_identifier`, `sample/name`,
`user/name`), `ElementMetadata` (JSON: `{element: {nx_class, units, description,
snapshot}}`). Commands: `SetMetadata` (merge keys; null removes one), `RemoveMetadata`,
`SetElementMetadata`. A MacroServer whose `MetadataManager` property (or the
configuration's `metadata.manager`) names this device reads it at each scan start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import tango
from tango import AttrWriteType, DevState
from tango.server import Device, attribute, command, device_property

from macroserver.elements.attributes import ELEMENTS_ATTRIBUTE, MANAGER_ATTRIBUTE
from macroserver.errors import MacroServerError
from macroserver.metadata.settings import schema_setting
from macroserver.metadata.store import MetadataStore
from macroserver.statedir import instance_state_dir, metadata_file

SHORTCUTS = {"Proposal": "experiment_identifier", "Sample": "sample/name",
             "User": "user/name"}


def _json_object(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MacroServerError(f"{what} is not valid JSON: {exc}") from None


class MetadataManager(Device):
    """Experiment and element metadata (see the module docstring)."""

    Schema = device_property(dtype=str, default_value="",
                             doc="metadata schema JSON file (default: the packaged schema)")
    StateFile = device_property(dtype=str, default_value="",
                                doc="where the metadata is kept (default: metadata/<device>"
                                    ".json in the server instance's state folder)")

    store: MetadataStore

    def init_device(self) -> None:
        super().init_device()
        try:
            schema = schema_setting(self.Schema)
            instance = tango.Util.instance().get_ds_inst_name()
            path = (Path(self.StateFile).expanduser() if self.StateFile
                    else metadata_file(instance_state_dir(instance), self.get_name()))
            self.store = MetadataStore(path, schema)
        except (MacroServerError, ValueError) as exc:
            self.set_state(DevState.FAULT)
            self.set_status(f"cannot start: {exc}")
            return
        for name in (MANAGER_ATTRIBUTE, ELEMENTS_ATTRIBUTE, *SHORTCUTS):
            self.set_change_event(name, True, False)
        self.set_state(DevState.ON)
        self.set_status(f"metadata kept in {path} (schema {schema.label})")

    def _change(self, action: Callable[[MetadataStore], None], origin: str) -> None:
        """Apply a validated change, then push every attribute's new value."""
        if not hasattr(self, "store"):
            tango.Except.throw_exception("MetadataManagerFault", self.get_status(), origin)
        try:
            action(self.store)
        except MacroServerError as exc:
            tango.Except.throw_exception(getattr(exc, "reason", "MetadataError"), str(exc),
                                         origin)
        store = self.store
        values = {MANAGER_ATTRIBUTE: json.dumps(store.experiment),
                  ELEMENTS_ATTRIBUTE: json.dumps(store.elements),
                  **{name: str(store.experiment.get(key, "")) for name, key in SHORTCUTS.items()}}
        for name, value in values.items():
            self.push_change_event(name, value)

    # -- attributes -------------------------------------------------------------------

    @attribute(dtype=str, doc="the file the metadata is kept in (StateFile, or the default "
                              "in the server instance's state folder): scans name it as "
                              "the source of what they record from here")
    def MetadataFile(self) -> str:
        return str(self.store.path) if hasattr(self, "store") else ""

    @attribute(dtype=str, access=AttrWriteType.READ_WRITE,
               doc="experiment metadata: JSON object of NeXus entry paths to values")
    def ExperimentMetadata(self) -> str:
        return json.dumps(self.store.experiment)

    def write_ExperimentMetadata(self, text: str) -> None:
        self._change(lambda s: s.replace(_json_object(text, "ExperimentMetadata")),
                     "MetadataManager.write_ExperimentMetadata")

    @attribute(dtype=str, access=AttrWriteType.READ_WRITE,
               doc="per-element metadata: JSON {element: {nx_class, units, description, "
                   "snapshot}}")
    def ElementMetadata(self) -> str:
        return json.dumps(self.store.elements)

    def write_ElementMetadata(self, text: str) -> None:
        self._change(lambda s: s.replace_elements(_json_object(text, "ElementMetadata")),
                     "MetadataManager.write_ElementMetadata")

    def _shortcut(self, name: str) -> str:
        return str(self.store.experiment.get(SHORTCUTS[name], ""))

    def _set_shortcut(self, name: str, value: str) -> None:
        self._change(lambda s: s.update({SHORTCUTS[name]: value or None}),
                     f"MetadataManager.write_{name}")

    @attribute(dtype=str, access=AttrWriteType.READ_WRITE,
               doc="the proposal (experiment_identifier); empty to remove it")
    def Proposal(self) -> str:
        return self._shortcut("Proposal")

    def write_Proposal(self, value: str) -> None:
        self._set_shortcut("Proposal", value)

    @attribute(dtype=str, access=AttrWriteType.READ_WRITE, doc="the sample's name (sample/name)")
    def Sample(self) -> str:
        return self._shortcut("Sample")

    def write_Sample(self, value: str) -> None:
        self._set_shortcut("Sample", value)

    @attribute(dtype=str, access=AttrWriteType.READ_WRITE, doc="the user's name (user/name)")
    def User(self) -> str:
        return self._shortcut("User")

    def write_User(self, value: str) -> None:
        self._set_shortcut("User", value)

    # -- commands ---------------------------------------------------------------------

    @command(dtype_in=str, doc_in='JSON object of keys to set, e.g. {"sample/name": "Si111", '
                                  '"sample/temperature": 300.0}; null removes a key')
    def SetMetadata(self, text: str) -> None:
        self._change(lambda s: s.update(_json_object(text, "SetMetadata")),
                     "MetadataManager.SetMetadata")

    @command(dtype_in=(str,), doc_in="keys to remove")
    def RemoveMetadata(self, keys: list[str]) -> None:
        self._change(lambda s: s.update(dict.fromkeys(keys)),
                     "MetadataManager.RemoveMetadata")

    @command(dtype_in=str, doc_in='JSON {element: {"nx_class": ..., "units": ..., '
                                  '"description": ..., "snapshot": true} or null}')
    def SetElementMetadata(self, text: str) -> None:
        self._change(lambda s: s.update_elements(_json_object(text, "SetElementMetadata")),
                     "MetadataManager.SetElementMetadata")
