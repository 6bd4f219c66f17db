"""What a MetadataManager holds, validated and durable: the experiment metadata (a
ScanMetadata-like dict: proposal, sample, users, free keys) and per-element metadata
(for each motor or channel: NeXus class, units, description, whether to snapshot it).

Every change is checked against the schema first and then written to a JSON file
atomically (write, fsync, rename), so a restart finds the last accepted state and a
kill never leaves half a file. A damaged file is refused with a clear message, never
silently replaced.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any, Mapping

from macroserver.errors import EnvError
from macroserver.metadata.schema import UNITS_SUFFIX, Schema
from macroserver.metadata.sidecar import write_json_atomically
from macroserver.metadata.text import check_text

FORMAT = "tango-macroserver-metadata/1"
_NX_CLASS = re.compile(r"NX[a-z_]+\Z")
#: element metadata key -> (check, what the error says it must be)
ELEMENT_FIELDS = {
    "nx_class": (lambda v: isinstance(v, str) and bool(_NX_CLASS.match(v)),
                 "a NeXus class name such as NXpositioner"),
    "units": (lambda v: isinstance(v, str) and len(v) <= 64, "a units string"),
    "description": (lambda v: isinstance(v, str) and len(v) <= 4096, "a string"),
    "snapshot": (lambda v: isinstance(v, bool), "True or False"),
}


def check_elements(value: Any) -> dict[str, dict[str, Any]]:
    """`{element: {nx_class, units, description, snapshot}}`, or EnvError naming the
    element and field that are wrong."""
    if not isinstance(value, Mapping):
        raise EnvError(f"element metadata must be a JSON object of element names, not "
                       f"{value!r}")
    check_text("element metadata", value)
    checked = {}
    for element, fields in value.items():
        if not isinstance(element, str) or not element or len(element) > 256:
            raise EnvError(f"element metadata: {element!r} is not an element name")
        if not isinstance(fields, Mapping):
            raise EnvError(f"element metadata of {element} must be an object, not {fields!r}")
        for key, item in fields.items():
            if key not in ELEMENT_FIELDS:
                raise EnvError(f"element metadata of {element}: unknown field {key!r} "
                               f"(one of {', '.join(ELEMENT_FIELDS)})")
            check, what = ELEMENT_FIELDS[key]
            if not check(item):
                raise EnvError(f"element metadata of {element}: {key} must be {what}, "
                               f"not {item!r}")
        checked[element] = dict(fields)
    return checked


class MetadataStore:
    """The experiment and element metadata, persisted in `path` (see module docstring)."""

    def __init__(self, path: Path, schema: Schema) -> None:
        self.path = path
        self.schema = schema
        self._lock = threading.Lock()
        self.experiment: dict[str, Any] = {}
        self.elements: dict[str, dict[str, Any]] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            experiment, elements = document["experiment"], document["elements"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EnvError(f"metadata file {self.path} is damaged ({exc}); move it aside "
                           "to start empty") from None
        self.schema.validate(experiment, f"metadata file {self.path}")
        self.experiment, self.elements = dict(experiment), check_elements(elements)

    def _save(self, experiment: dict[str, Any], elements: dict[str, dict[str, Any]]) -> None:
        write_json_atomically(self.path, {"format": FORMAT, "schema": self.schema.label,
                                          "experiment": experiment, "elements": elements})
        self.experiment, self.elements = experiment, elements

    def replace(self, experiment: Mapping[str, Any]) -> None:
        """The whole experiment metadata, validated."""
        self.schema.validate(experiment, "experiment metadata")
        with self._lock:
            self._save(dict(experiment), self.elements)

    def update(self, changes: Mapping[str, Any]) -> None:
        """Keys set; a key set to None is removed (with its `@units`)."""
        removed_units = {f"{k}{UNITS_SUFFIX}": None for k, v in _changes(changes).items()
                         if v is None}
        with self._lock:
            merged = _merged(self.experiment, {**removed_units, **changes})
            self.schema.validate(merged, "experiment metadata")
            self._save(merged, self.elements)

    def replace_elements(self, elements: Any) -> None:
        """The whole element metadata, validated."""
        checked = check_elements(elements)
        with self._lock:
            self._save(self.experiment, checked)

    def update_elements(self, changes: Mapping[str, Any]) -> None:
        """Elements' metadata set; an element set to None is removed."""
        with self._lock:
            self._save(self.experiment, check_elements(_merged(self.elements, changes)))


def _changes(changes: Any) -> Mapping[str, Any]:
    if not isinstance(changes, Mapping):
        raise EnvError(f"metadata changes must be a JSON object, not {changes!r}")
    return changes


def _merged(current: Mapping[str, Any], changes: Any) -> dict[str, Any]:
    """`current` with `changes` applied: a value of None removes the key."""
    merged = dict(current)
    for key, value in _changes(changes).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
