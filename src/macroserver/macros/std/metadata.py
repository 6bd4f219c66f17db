"""Metadata macros: lsmeta (what the next scan records) and setmeta (the MetadataManager's
experiment metadata, for every MacroServer it serves)."""

from __future__ import annotations

import json
from typing import Any

from macroserver.engine.scanmeta import gather_metadata
from macroserver.errors import EnvError
from macroserver.macros import LITERAL, STRING, Macro, Param
from macroserver.macros.std.tables import table_lines
from macroserver.wire import error_text


class lsmeta(Macro):
    """List the metadata the next scan records: path, value, units and source, and the
    required keys still missing."""

    def run(self) -> None:
        metadata = gather_metadata(self.server, self.env.snapshot(), self.context.listener)
        rows = [["Path", "Value", "Units", "Source"]]
        rows += [[v.path, repr(v.value), v.units, v.source] for v in metadata.values]
        for line in table_lines(rows):
            self.output(line)
        present = {v.path for v in metadata.values}
        missing = [k for k in self.server.config.metadata.required if k not in present]
        if missing:
            self.warning(f"required metadata missing (scans are refused): {', '.join(missing)}")


class setmeta(Macro):
    """Set a key of the MetadataManager's experiment metadata: setmeta sample/name Si111
    (None removes it). Every MacroServer the manager serves records it from the next scan."""

    params = [
        Param("key", STRING, description="metadata key, e.g. sample/name or experiment_identifier"),
        Param("value", LITERAL, description="its value (None removes the key)"),
    ]

    def run(self, key: str, value: Any) -> None:
        device = self.server.metadata_manager
        if not device:
            raise EnvError("no MetadataManager is configured (MacroServer property "
                           "MetadataManager, or metadata.manager in the configuration); "
                           "use senv ScanMetadata for this server's scans")
        import tango

        try:
            tango.DeviceProxy(device).SetMetadata(json.dumps({key: value}))
        except tango.DevFailed as exc:
            raise EnvError(f"{device}: {error_text(exc)}") from None
        self.output(f"{key} = {value!r} ({device})")
