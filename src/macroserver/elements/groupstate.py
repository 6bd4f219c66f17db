"""Measurement groups defined or changed at run time, kept in the instance's state folder.

`defmeas`, `udefmeas`, `set_meas_conf` and a client writing a group's `Configuration`
(expconf) change the groups every door uses; one JSON file (`measurement_groups.json`
beside the environment file), replaced atomically at each change, brings them back after
a restart: each changed or new group whole (members, timer, enabled channels, display
hints), and the names of configured groups that were removed.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from macroserver.elements.base import MeasurementGroup
from macroserver.errors import ConfigError
from macroserver.metadata.sidecar import write_json_atomically

FILE_NAME = "measurement_groups.json"
FORMAT = "tango-macroserver-measurement-groups/1"


def group_document(group: MeasurementGroup) -> dict[str, Any]:
    """What the state file keeps of a group: enough to build it again after a restart."""
    return {"channels": [c.name for c in group.members], "timer": group.timer,
            "enabled": [c.name for c in group.channels], "hints": group.hints}


class GroupStateFile:
    """The groups changed at run time (`groups`) and the configured ones removed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.groups: dict[str, dict[str, Any]] = {}
        self.removed: list[str] = []
        if path.exists():
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
                if document.get("format") != FORMAT:
                    raise ValueError(f"unknown format {document.get('format')!r}")
                self.groups, self.removed = dict(document["groups"]), list(document["removed"])
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ConfigError(f"measurement group file {path} is damaged ({exc}); repair "
                                  f"it or move it aside to start from the configuration") \
                    from None

    def save(self, group: MeasurementGroup) -> None:
        with self._lock:
            groups = {**self.groups, group.name: group_document(group)}
            removed = [n for n in self.removed if n != group.name]
            self._write(groups, removed)

    def remove(self, name: str, configured: bool) -> None:
        """Forget `name`; a group of the configuration file is remembered as removed."""
        with self._lock:
            groups = {k: v for k, v in self.groups.items() if k != name}
            removed = [*self.removed, name] if configured and name not in self.removed \
                else self.removed
            self._write(groups, removed)

    def _write(self, groups: dict[str, dict[str, Any]], removed: list[str]) -> None:
        write_json_atomically(self.path, {"format": FORMAT, "groups": groups,
                                          "removed": removed})
        self.groups, self.removed = groups, removed
