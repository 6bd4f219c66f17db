"""The `[metadata]` table of the server configuration.

```toml
[metadata]
schema = "/etc/macroserver/metadata-schema.json"   # default: the packaged schema;
                                                    # "icat-esrf": ESRF's ICAT definitions
unknown = "refuse"                                  # or "accept": keys the schema lacks
required = ["experiment_identifier", "sample/name"] # a scan without them is refused
outbox = "/data/catalogue-outbox"                   # default: <ScanDir>/catalogue-outbox
manager = "bl01/metadata/1"                         # a MetadataManager device to read
checksum_limit_mb = 1024                            # MiB hashed per scan for the sidecar
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from macroserver.errors import EnvError
from macroserver.metadata.icat import NAME as ICAT_SCHEMA
from macroserver.metadata.icat import icat_schema
from macroserver.metadata.schema import Schema, load_schema
from macroserver.metadata.sidecar import CHECKSUM_LIMIT

OUTBOX_NAME = "catalogue-outbox"


@dataclass
class MetadataSettings:
    """What the configuration says about scan metadata."""

    schema: Schema = field(default_factory=load_schema)
    required: tuple[str, ...] = ()
    outbox: Path | None = None
    manager: str | None = None
    checksum_limit: int = CHECKSUM_LIMIT


def schema_setting(value: str | None) -> Schema:
    """The schema a setting names: empty for the default, `icat-esrf` for ESRF's ICAT
    definitions, else a JSON file (`~` expanded)."""
    if value == ICAT_SCHEMA:
        return icat_schema()
    return load_schema(Path(value).expanduser() if value else None)


def settings_from_table(table: Mapping[str, Any]) -> MetadataSettings:
    """Settings from the parsed `[metadata]` table; ValueError naming what is wrong."""
    if not isinstance(table, Mapping):
        raise ValueError("[metadata] must be a table")
    known = ("schema", "unknown", "required", "outbox", "manager", "checksum_limit_mb")
    unknown_keys = set(table) - set(known)
    if unknown_keys:
        raise ValueError(f"[metadata]: unknown setting(s) {', '.join(sorted(unknown_keys))} "
                         f"({', '.join(known)})")
    limit = table.get("checksum_limit_mb", CHECKSUM_LIMIT >> 20)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"metadata.checksum_limit_mb must be a number of MiB (0 or more), "
                         f"not {limit!r}")
    schema_path = table.get("schema")
    if schema_path is not None and not isinstance(schema_path, str):
        raise ValueError(f"metadata.schema must be a file name, not {schema_path!r}")
    schema = schema_setting(schema_path)
    if "unknown" in table:
        if table["unknown"] not in ("refuse", "accept"):
            raise ValueError(f"metadata.unknown must be 'refuse' or 'accept', "
                             f"not {table['unknown']!r}")
        schema.refuse_unknown = table["unknown"] == "refuse"
    required = table.get("required", [])
    if not isinstance(required, list) or not all(isinstance(k, str) for k in required):
        raise ValueError("metadata.required must be a list of metadata keys")
    for key in required:
        try:
            schema.check_key(key, "metadata.required")
        except EnvError as exc:
            raise ValueError(str(exc)) from None
    outbox, manager = table.get("outbox"), table.get("manager")
    for name, value in (("outbox", outbox), ("manager", manager)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"metadata.{name} must be a non-empty string, not {value!r}")
    return MetadataSettings(schema, tuple(required),
                            Path(outbox).expanduser() if outbox else None, manager, limit << 20)
