"""The metadata schema: which keys a scan's metadata may have, of which type and units.

Keys are paths inside the NeXus entry (`sample/temperature`); a key ending in `@units`
gives the units of the value beside it. The schema is a JSON document (the default
ships as `data/metadata-schema.json`; a facility points `[metadata] schema` at its own):
`groups` maps group paths to their NeXus class, `fields` maps paths to
`{"type": ..., "units": default units}`, a `*` as the last path segment accepting any
name in that group. Values are checked when they are set, not when a scan ends, so a
mistake is seen by the person who made it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping

from macroserver.errors import EnvError
from macroserver.metadata.text import check_text

UNITS_SUFFIX = "@units"
#: Paths the NeXus recorder writes itself: never metadata.
RESERVED = frozenset({
    "title", "start_time", "end_time", "entry_identifier", "program_name", "notes",
    "measurement", "data", "pre_scan_snapshot", "scan_metadata", "definition",
})
_SEGMENT = re.compile(r"[a-z_][a-z0-9_]*\Z")
MAX_DEPTH = 4
MAX_TEXT = 4096


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bool)) or _is_number(value)


def _is_list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, (list, tuple)) and all(check(v) for v in value)


#: type name -> (check, what the error message says a value must be)
TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "text": (lambda v: isinstance(v, str), "a string"),
    "number": (_is_number, "a number"),
    "integer": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "bool": (lambda v: isinstance(v, bool), "True or False"),
    "number[]": (_is_list_of(_is_number), "a list of numbers"),
    "text[]": (_is_list_of(lambda v: isinstance(v, str)), "a list of strings"),
    "any": (lambda v: _is_scalar(v) or (_is_list_of(_is_number)(v) and bool(v))
            or _is_list_of(lambda x: isinstance(x, str))(v),
            "a string, a number, True/False or a list of numbers or strings"),
}
NUMERIC = frozenset({"number", "integer", "number[]", "any"})


@dataclass(frozen=True)
class Field:
    """What one key may hold."""

    type: str = "any"
    units: str = ""
    description: str = ""


@dataclass
class Schema:
    """A named, versioned set of allowed metadata keys (see the module docstring)."""

    name: str = "tango-macroserver"
    version: str = "1"
    groups: dict[str, str] = field(default_factory=dict)
    fields: dict[str, Field] = field(default_factory=dict)
    refuse_unknown: bool = True
    _validated: dict[str, tuple[Any, bool, dict[str, tuple[Any, str]]]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    @property
    def label(self) -> str:
        """`name/version`, as embedded in files and sidecars."""
        return f"{self.name}/{self.version}"

    def field_for(self, path: str) -> Field | None:
        """The schema's field for `path` (exact, else a `group/*` wildcard), or None."""
        if path in self.fields:
            return self.fields[path]
        group = path.rpartition("/")[0]
        return self.fields.get(f"{group}/*" if group else "*")

    def group_classes(self, paths: list[str]) -> dict[str, str]:
        """NeXus class of every group on the paths (NXcollection when not declared)."""
        classes = {}
        for path in paths:
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                group = "/".join(parts[:depth])
                classes[group] = self.groups.get(group, "NXcollection")
        return classes

    def validate(self, value: Any, where: str = "ScanMetadata") -> dict[str, tuple[Any, str]]:
        """`{path: (value, units)}` of a ScanMetadata-like dict, or EnvError naming the
        first key that is wrong and why. Units come from `<path>@units`, else the schema.

        The last result for each `where` is kept for that same object: the environment's
        values are replaced, never changed in place, so a scan start checks again only
        metadata that changed (0.6-3 ms a scan otherwise). A refusal is never kept."""
        kept = self._validated.get(where)
        if kept is not None and kept[0] is value and kept[1] == self.refuse_unknown:
            return dict(kept[2])
        checked = self._checked(value, where)
        self._validated[where] = (value, self.refuse_unknown, checked)
        return dict(checked)

    def _checked(self, value: Any, where: str) -> dict[str, tuple[Any, str]]:
        if not isinstance(value, Mapping):
            raise EnvError(f"{where} must be a dictionary of NeXus entry paths to values, "
                           f"e.g. {{'sample/name': 'Si111'}}, not {value!r}")
        check_text(where, value)
        units = {k[: -len(UNITS_SUFFIX)]: v for k, v in value.items()
                 if isinstance(k, str) and k.endswith(UNITS_SUFFIX)}
        checked: dict[str, tuple[Any, str]] = {}
        for key, item in value.items():
            if isinstance(key, str) and key.endswith(UNITS_SUFFIX):
                continue
            spec = self.check_key(key, where)
            checked[key] = (self.check_value(key, spec, item, where),
                            spec.units if spec.type in NUMERIC else "")
        for path, unit in units.items():
            if path not in checked:
                raise EnvError(f"{where}: {path}{UNITS_SUFFIX} gives units of {path!r}, "
                               "which has no value")
            if not isinstance(unit, str) or not unit.strip() or len(unit) > 64:
                raise EnvError(f"{where}: {path}{UNITS_SUFFIX} must be a units string such "
                               f"as 'K', not {unit!r}")
            if not (_is_number(checked[path][0]) or _is_list_of(_is_number)(checked[path][0])):
                raise EnvError(f"{where}: {path} is not a number, so it takes no units")
            checked[path] = (checked[path][0], unit.strip())
        return checked

    def check_key(self, key: Any, where: str = "ScanMetadata") -> Field:
        """The field a key names, or EnvError (bad path, reserved, unknown). A key the
        schema declares is taken as it is (ICAT's names are camelCase and deep)."""
        if not isinstance(key, str):
            raise EnvError(f"{where}: keys must be strings, not {key!r}")
        if key in self.fields:
            return self.fields[key]
        parts = key.split("/")
        if len(parts) > MAX_DEPTH or not all(_SEGMENT.match(p) for p in parts):
            raise EnvError(f"{where}: {key!r} is not a NeXus path: up to {MAX_DEPTH} lower-case "
                           "names ([a-z_][a-z0-9_]*) separated by '/'")
        if parts[0] in RESERVED:
            raise EnvError(f"{where}: {key!r} is written by the recorders themselves")
        spec = self.field_for(key)
        if spec is not None:
            return spec
        if self.refuse_unknown:
            hints = [f"schema {self.label}", *_suggestion(key, self.fields)]
            free = [f[:-1] for f in self.fields if f.endswith("/*")]
            if free:
                hints.append(f"free keys go under {', '.join(free)}")
            raise EnvError(f"{where}: unknown key {key!r} ({'; '.join(hints)})")
        return Field()

    @staticmethod
    def check_value(key: str, spec: Field, value: Any, where: str = "ScanMetadata") -> Any:
        check, what = TYPES[spec.type]
        if not check(value):
            raise EnvError(f"{where}: {key} must be {what}, not {value!r}")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise EnvError(f"{where}: {key} is longer than {MAX_TEXT} characters")
        return list(value) if isinstance(value, tuple) else value


def _suggestion(key: str, fields: Mapping[str, Field]) -> list[str]:
    import difflib

    close = difflib.get_close_matches(key, [f for f in fields if not f.endswith("*")], n=1)
    return [f"did you mean {close[0]!r}?"] if close else []


def schema_from_document(document: Mapping[str, Any], source: str) -> Schema:
    """A Schema from its JSON form; ValueError naming the source and what is wrong."""
    try:
        fields = {
            path: Field(str(spec.get("type", "any")), str(spec.get("units", "")),
                        str(spec.get("description", "")))
            for path, spec in dict(document.get("fields", {})).items()
        }
        groups = {str(k): str(v) for k, v in dict(document.get("groups", {})).items()}
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"metadata schema {source}: {exc}") from None
    for path, spec in fields.items():
        if spec.type not in TYPES:
            raise ValueError(f"metadata schema {source}: {path}: unknown type {spec.type!r} "
                             f"(one of {', '.join(TYPES)})")
    unknown = document.get("unknown", "refuse")
    if unknown not in ("refuse", "accept"):
        raise ValueError(f"metadata schema {source}: unknown must be 'refuse' or 'accept'")
    return Schema(str(document.get("name", Path(source).stem)), str(document.get("version", "1")),
                  groups, fields, unknown == "refuse")


def load_schema(path: str | Path | None = None) -> Schema:
    """The schema in the JSON file `path`, or the default one shipped with the package."""
    if path is None:
        text = (resources.files("macroserver") / "data" / "metadata-schema.json").read_text()
        source = "(default)"
    else:
        source = str(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ValueError(f"cannot read metadata schema {path}: {exc.strerror}") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"metadata schema {source} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError(f"metadata schema {source} must be a JSON object")
    return schema_from_document(document, source)
