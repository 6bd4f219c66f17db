"""The Environment attribute's values: read as Sardana serves it, written as its clients do.

Reads are `utf8_json` `{"new": env}` (Taurus picks the decoder by the format name, so
Sardana's clients read it as they read Sardana's `pickle`). Writes are `{"new"|"change":
{...}, "del": [...]}` (or a bare `{name: value}`) as `utf8_json`, or as `pickle`, which is
what Sardana's `putEnvironment` sends. A pickle is loaded by an unpickler that refuses
every global: plain containers and scalars load, a pickle naming any function or class
(`os.system`, a custom type) is refused before anything is built, so no code runs.
"""

from __future__ import annotations

import io
import json
import pickle
from typing import Any, Container

from macroserver.errors import EnvError

MAX_WRITE_BYTES = 4 * 1024 * 1024
MAX_VALUES = 100_000  # scalars and containers in one write (shared references count again)
PLAIN_SCALARS = (str, bytes, int, float, bool, type(None))


class _PlainDataUnpickler(pickle.Unpickler):
    """Builds only what pickle's own opcodes build: no global is ever looked up."""

    def find_class(self, module: str, name: str) -> Any:
        raise EnvError(f"Environment pickle refused: it names {module}.{name}; only plain "
                       "values (dict, list, tuple, str, numbers, bool, None) are accepted "
                       "and no code is run")

    def persistent_load(self, pid: Any) -> Any:
        raise EnvError("Environment pickle refused: it holds a persistent reference")


def read_value(env: dict[str, Any]) -> dict[str, Any]:
    """The value of a read (the first event of a subscription too)."""
    return {"new": env}


def event_value(env: dict[str, Any], removed: list[str]) -> dict[str, Any]:
    """A change event: the whole environment, and what was removed."""
    return {"new": env, "del": removed}


def _load_pickle(data: bytes) -> Any:
    try:
        return _PlainDataUnpickler(io.BytesIO(data)).load()
    except EnvError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
            MemoryError, RecursionError, KeyError, AttributeError) as exc:
        raise EnvError(f"Environment pickle is not readable: {type(exc).__name__}: {exc}") \
            from None


def _load_json(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise EnvError(f"Environment value is not valid JSON: {exc}") from None
    except RecursionError:
        raise EnvError("Environment value is not usable: JSON nested too deeply") from None


def _check_plain(document: Any) -> None:
    """Plain containers and scalars only, and a bounded number of them (a pickle can
    repeat one list by reference until expanding it would take all memory)."""
    pending, count = [document], 0
    while pending:
        value = pending.pop()
        count += 1
        if count > MAX_VALUES:
            raise EnvError(f"Environment write refused: more than {MAX_VALUES} values")
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, (list, tuple)):
            pending.extend(value)
        elif not isinstance(value, PLAIN_SCALARS):
            raise EnvError("Environment write refused: a value of type "
                           f"{type(value).__name__} is not a plain value")


def decode_write(value: tuple[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Changes and removals from a written Environment value; never runs code."""
    fmt, data = value
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_WRITE_BYTES:
        raise EnvError(f"Environment write of {len(data)} bytes refused "
                       f"(at most {MAX_WRITE_BYTES})")
    if fmt in ("utf8_json", "json"):
        document = _load_json(data)
    elif fmt == "pickle":
        document = _load_pickle(data)
    else:
        raise EnvError(f"Environment must be written as utf8_json or pickle, not {fmt!r}")
    _check_plain(document)
    if not isinstance(document, dict):
        raise EnvError("Environment value must be a JSON object (a mapping of names to values)")
    if document and set(document) <= {"new", "change", "del"}:
        new, change = document.get("new", {}), document.get("change", {})
        removed = document.get("del", [])
        if isinstance(removed, tuple):
            removed = list(removed)
        if not (isinstance(new, dict) and isinstance(change, dict) and isinstance(removed, list)
                and all(isinstance(n, str) for n in removed)):
            raise EnvError('"new"/"change" must be objects (mappings) and "del" a list of names')
        return {**new, **change}, removed
    return document, []


def unset_nulls(changes: dict[str, Any], removed: list[str], defined: Container[str]
                ) -> tuple[dict[str, Any], list[str]]:
    """A variable written as None is unset: Sardana's expconf writes every variable it
    shows, None for those it found unset (ScanDir, PreScanSnapshot)."""
    nulls = [name for name, value in changes.items() if value is None]
    kept = {name: value for name, value in changes.items() if value is not None}
    return kept, [*removed, *(name for name in nulls if name in defined)]
