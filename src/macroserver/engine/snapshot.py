"""`PreScanSnapshot`: motors, Tango attributes and environment variables read once at
scan start. A read that fails is a Warning and is recorded as failed with its reason;
the scan goes on (a snapshot documents a scan, it does not gate it)."""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any, Literal, Mapping

from macroserver.elements.attributes import is_attribute_name, read_attribute
from macroserver.elements.pool import Pool
from macroserver.records import SnapshotValue

if TYPE_CHECKING:
    from macroserver.engine.macro import Macro

SnapshotKind = Literal["motor", "attribute", "environment"]


def snapshot_kind(name: str, pool: Pool, env: Any) -> SnapshotKind | None:
    """What a PreScanSnapshot name refers to (a motor first), or None."""
    if name in pool.motors:
        return "motor"
    if is_attribute_name(name):
        return "attribute"
    if name.isidentifier() and name in env:
        return "environment"
    return None


def _entries(wanted: Any) -> list[tuple[str, str]]:
    """(name, label) pairs from names and [name, label] pairs."""
    return [(e, e) if isinstance(e, str) else (e[0], e[-1]) for e in wanted or ()]


def _read(name: str, kind: SnapshotKind | None, pool: Pool,
          env: Mapping[str, Any]) -> tuple[Any, str]:
    if kind == "motor":
        motor = pool.motor(name)
        return motor.position(), motor.unit
    if kind == "attribute":
        return read_attribute(name)
    if kind == "environment" and name in env:
        return copy.deepcopy(env[name]), ""  # the store's own value: the scan gets a copy
    raise LookupError(f"{name} is no longer a motor or an environment variable")


def read_snapshot(macro: "Macro", elements: Mapping[str, Mapping[str, Any]] | None = None
                  ) -> tuple[SnapshotValue, ...]:
    """Every PreScanSnapshot item, then the elements a MetadataManager marks `snapshot`,
    each with its source and read time; failed reads with value None, their reason,
    and a Warning on the macro's stream."""
    env = macro.env.current()
    entries = _entries(env.get("PreScanSnapshot"))
    listed = {name for name, _ in entries}
    entries += [(name, name) for name, fields in (elements or {}).items()
                if fields.get("snapshot") and name not in listed]
    values = []
    for name, label in entries:
        kind = snapshot_kind(name, macro.pool, env)
        source = f"{kind or 'unknown'}:{name}"
        try:
            value, unit = _read(name, kind, macro.pool, env)
        except Exception as exc:
            macro.warning(f"PreScanSnapshot: cannot read {name} ({exc}); recorded as failed")
            values.append(SnapshotValue(name, label, None, "", source, time.time(), str(exc)))
            continue
        unit = unit or str((elements or {}).get(name, {}).get("units", ""))
        values.append(SnapshotValue(name, label, value, unit, source, time.time()))
    return tuple(values)
