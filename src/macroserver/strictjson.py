"""Strict RFC 8259 JSON for readers that refuse NaN and Infinity (browsers' JSON.parse,
Sardana clients): non-finite floats become null, numpy values plain numbers.

The common case costs one `orjson.dumps` (non-finite floats written as null by it); what
orjson refuses goes through `json.dumps`, and only such a document that holds a
non-finite value is walked and cleaned.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson

_COMPACT = (",", ":")
_ORJSON = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _numpy_default(value: Any) -> Any:
    """`json.dumps` hook: numpy scalars and arrays to Python types (NaN checked after)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def clean(value: Any) -> Any:
    """`value` as plain JSON types with every non-finite float replaced by None (slow)."""
    if isinstance(value, (np.generic, np.ndarray)):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Compact strict JSON text for `value`."""
    return dumps_bytes(value).decode()


def dumps_bytes(value: Any) -> bytes:
    """Compact strict JSON of `value`, UTF-8. orjson first (it writes NaN and infinities
    as null itself, numpy values as numbers; a record packet in a few µs, several times
    faster than json), json for what it refuses (integers beyond 64 bits, odd types)."""
    try:
        return orjson.dumps(value, option=_ORJSON)
    except TypeError:
        pass
    try:
        text = json.dumps(value, allow_nan=False, default=_numpy_default, separators=_COMPACT)
    except ValueError:
        text = json.dumps(clean(value), allow_nan=False, separators=_COMPACT)
    return text.encode()
