"""The messages `macroserver web` sends to the browsers: strict JSON objects with a `kind`."""

from __future__ import annotations

import json
import math
from typing import Any

from macroserver.tango.wire import from_wire

Message = dict[str, Any]


def dumps(message: Message) -> str:
    """Strict JSON (never NaN/Infinity: browsers' JSON.parse refuses them)."""
    try:
        return json.dumps(message, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(_clean(message), allow_nan=False, separators=(",", ":"))


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def error_text(exc: BaseException) -> str:
    """One line for the page: a DevFailed's description, else the exception's text."""
    args = getattr(exc, "args", ())
    if args and hasattr(args[0], "desc"):
        return from_wire(str(args[0].desc)).strip()
    return str(exc) or type(exc).__name__
