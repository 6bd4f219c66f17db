"""The JSON recorder's packets as clients read them (docs/json-packets.md).

A `record_block` packet carries consecutive points column by column (continuous scans
send thousands per second, one Tango event per block); `per_point` turns it into the
`record_data` packets a client already handles, so every consumer sees one form.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Iterable, Iterator

import orjson


def per_point(packet: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """`packet` itself, or, for a `record_block`, one `record_data` packet per point."""
    if packet.get("type") != "record_block":
        yield packet
        return
    data = packet.get("data") or {}
    names = list(data)
    envelope = {k: v for k, v in packet.items() if k not in ("type", "data", "taken")}
    times = packet.get("taken")  # absent from older servers' packets
    taken: Iterable[Any] = times if isinstance(times, list) else itertools.repeat(None)
    for when, row in zip(taken, zip(*(data[name] for name in names))):
        yield {**envelope, "type": "record_data", "data": dict(zip(names, row)),
               "taken": when}


def decode(payload: bytes | str) -> Any:
    """A packet from its JSON: orjson (5x faster than json for a 14-point block, 10 vs
    51 us: what lets a client keep up), json for what orjson refuses (Sardana's own
    recorder writes bare NaN)."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return json.loads(payload)
