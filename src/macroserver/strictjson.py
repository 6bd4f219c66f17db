"""Strict RFC 8259 JSON for readers that refuse NaN and Infinity (browsers' JSON.parse,
Sardana clients): non-finite floats become null, numpy values plain numbers.

The common case (every value finite) costs one `json.dumps`; only a document that holds
a non-finite value is walked and cleaned.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

_COMPACT = (",", ":")


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
    try:
        return json.dumps(value, allow_nan=False, default=_numpy_default, separators=_COMPACT)
    except ValueError:
        return json.dumps(clean(value), allow_nan=False, separators=_COMPACT)
