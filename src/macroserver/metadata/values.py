"""A scan's metadata, merged from its sources at scan start, with provenance."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from macroserver.errors import EnvError
from macroserver.metadata.schema import Schema
from macroserver.records import MetadataValue, ScanMetadata


def gather(sources: Iterable[tuple[str, Mapping[str, Any]]], schema: Schema,
           now: float, elements: Mapping[str, Mapping[str, Any]] | None = None
           ) -> ScanMetadata:
    """Merge ScanMetadata-like dicts, later sources overriding earlier ones key by key;
    each value keeps the name of the source it came from and the time it was read."""
    merged: dict[str, MetadataValue] = {}
    for source, document in sources:
        for path, (value, units) in schema.validate(document, source).items():
            merged[path] = MetadataValue(path, value, units, source, now)
    values = tuple(merged[path] for path in sorted(merged))
    return ScanMetadata(values, schema.group_classes(list(merged)), schema.label,
                        dict(elements or {}))


def check_required(metadata: ScanMetadata, required: Iterable[str]) -> None:
    """Refuse a scan whose metadata lacks a required key, naming every missing one."""
    present = {v.path for v in metadata.values if v.value not in ("", None, [])}
    missing = [key for key in required if key not in present]
    if missing:
        example = ", ".join(f"'{k}': ..." for k in missing)
        raise EnvError(f"scan refused, nothing was moved: required metadata missing: "
                       f"{', '.join(missing)} (set them, e.g. senv ScanMetadata "
                       f"{{{example}}})")
