"""The messages `macroserver web` sends to the browsers: strict JSON objects with a `kind`."""

from __future__ import annotations

from typing import Any

from macroserver import strictjson

Message = dict[str, Any]


def dumps(message: Message) -> str:
    """Strict JSON (never NaN/Infinity: browsers' JSON.parse refuses them)."""
    return strictjson.dumps(message)


def event_data(messages: list[Message]) -> bytes:
    """`messages` as server-sent events, one `data:` line each: encoded once, the same
    bytes written to every browser."""
    return b"".join(b"data: " + strictjson.dumps_bytes(m) + b"\n\n" for m in messages)
