"""Checks of the environment variables the server itself reads.

A value that would make the next scan fail (a ScanDir outside the data roots, a
ScanFile no recorder writes, a measurement group that does not exist) is refused when
it is set, with a message naming the variable and the value. Other names are free.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Callable, Mapping

from macroserver.datafiles import DataPathError, check_file_name
from macroserver.engine.ctscan import CT_TIMINGS
from macroserver.engine.hooks import GENERAL_HOOKS, general_hook_entries
from macroserver.engine.scan import MAX_TIME
from macroserver.engine.snapshot import snapshot_kind
from macroserver.errors import EnvError, MacroServerError
from macroserver.metadata.text import check_text

if TYPE_CHECKING:
    from macroserver.engine.core import MacroServerCore

Env = Mapping[str, Any]
#: A check of one server variable: (value, server, environment after the change).
Check = Callable[[Any, "MacroServerCore", Env], None]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _names(value: Any) -> list[str] | None:
    """A str or a list of str as a list, else None."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _scan_dir(value: Any, server: "MacroServerCore", env: Env) -> None:
    if not isinstance(value, str):
        raise EnvError(f"ScanDir must be a folder name, not {value!r}")
    server.data_roots.resolve_dir(value)


def _scan_file(value: Any, server: "MacroServerCore", env: Env) -> None:
    names = _names(value)
    if not names:
        raise EnvError(f"ScanFile must be a file name or a list of file names, not {value!r}")
    recorders = _names(env.get("ScanRecorder")) or []
    stems: dict[tuple[str, str], str] = {}
    for index, name in enumerate(names):
        check_file_name(name)
        if index < len(recorders) and recorders[index]:  # ScanRecorder names the writer
            writer = recorders[index]
        else:
            writer = server.recorders.for_file(name).name or name
        # one writer, one stem: the same EDF image names, the same NeXus fallback names
        key = (writer, PurePath(name).stem)
        if key in stems:
            first = stems[key]
            twice = "twice" if first == name else f"with {first!r} (same stem {key[1]!r})"
            raise EnvError(f"ScanFile lists {name!r} {twice}; give each file its own name")
        stems[key] = name


def _scan_recorder(value: Any, server: "MacroServerCore", env: Env) -> None:
    names = _names(value)
    if names is None:
        raise EnvError(f"ScanRecorder must be a recorder name or a list of names, not {value!r}")
    for name in names:
        server.recorders.by_name(name)


def _scan_id(value: Any, server: "MacroServerCore", env: Env) -> None:
    if not _is_int(value) or value < 0:
        raise EnvError(f"ScanID must be a non-negative integer, not {value!r}")


def _boolean(name: str) -> Check:
    def check(value: Any, server: "MacroServerCore", env: Env) -> None:
        if not isinstance(value, bool):
            raise EnvError(f"{name} must be True or False, not {value!r}")
    return check


def _ct_timing(value: Any, server: "MacroServerCore", env: Env) -> None:
    if value not in CT_TIMINGS:
        raise EnvError(f"CtTiming must be one of {', '.join(CT_TIMINGS)}, not {value!r}")


def _output_cols(value: Any, server: "MacroServerCore", env: Env) -> None:
    if not ((_is_int(value) and value > 0) or _names(value)):
        raise EnvError(f"OutputCols must be a positive number or a list of column names, "
                       f"not {value!r}")


def _active_group(value: Any, server: "MacroServerCore", env: Env) -> None:
    if not isinstance(value, str):
        raise EnvError(f"ActiveMntGrp must be a measurement group name, not {value!r}")
    server.pool.measurement_group(value)


def _compression(value: Any, server: "MacroServerCore", env: Env) -> None:
    if not _is_int(value):
        raise EnvError(f"DataCompressionRank must be an integer (-1: no compression), "
                       f"not {value!r}")


def _snapshot(value: Any, server: "MacroServerCore", env: Env) -> None:
    if not isinstance(value, (list, tuple)):
        raise EnvError(f"PreScanSnapshot must be a list of motor names, Tango attributes "
                       f"or environment variable names, not {value!r}")
    for entry in value:
        name = entry if isinstance(entry, str) else (
            entry[0] if isinstance(entry, (list, tuple)) and entry else None)
        if not isinstance(name, str):
            raise EnvError(f"PreScanSnapshot entry {entry!r} is not a name")
        if snapshot_kind(name, server.pool, env) is None:
            raise EnvError(f"PreScanSnapshot: {name!r} is not a motor, a Tango attribute "
                           "(domain/family/member/attribute) or an environment variable")


def _metadata(value: Any, server: "MacroServerCore", env: Env) -> None:
    server.config.metadata.schema.validate(value, "ScanMetadata")


def _text(name: str) -> Check:
    def check(value: Any, server: "MacroServerCore", env: Env) -> None:
        if not isinstance(value, str):
            raise EnvError(f"{name} must be a string, not {value!r}")
    return check


MAX_RECORDER_TIMEOUT = MAX_TIME


def _timeout(value: Any, server: "MacroServerCore", env: Env) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise EnvError(f"RecorderTimeout must be a positive number of seconds, not {value!r}")
    if value > MAX_RECORDER_TIMEOUT:
        raise EnvError(f"RecorderTimeout must be at most {MAX_RECORDER_TIMEOUT:g} s (one day), "
                       f"not {value!r}")


def _critical(value: Any, server: "MacroServerCore", env: Env) -> None:
    if _names(value) is None:
        raise EnvError(f"CriticalRecorders must be a list of recorder names, not {value!r}")


def _general_hooks(value: Any, server: "MacroServerCore", env: Env) -> None:
    """Each hook's command parses (its macro exists, its parameters fit) and each place is
    one that some macro offers: a typo would otherwise never run, silently."""
    offered: set[str] = set()
    for name in server.macros.names():
        offered.update(server.macros.get(name).hook_places)
    for command, places in general_hook_entries(value):
        unknown = [p for p in places if p not in offered]
        if unknown:
            raise EnvError(f"{GENERAL_HOOKS}: no macro has the hook place "
                           f"{', '.join(map(repr, unknown))} (known: "
                           f"{', '.join(sorted(offered))})")
        try:
            server.parse(command)
        except MacroServerError as exc:
            raise EnvError(f"{GENERAL_HOOKS}: hook {command!r} cannot run: {exc}") from None


def check_scan_files(changes: Mapping[str, Any], env: Env, server: "MacroServerCore") -> None:
    """ScanDir and ScanFile together: no ScanFile entry may lead out of the data roots
    (a symlink in ScanDir pointing elsewhere). A value not being changed that is
    already unusable is left to the scan to report, so it can still be corrected."""
    if not {"ScanDir", "ScanFile"} & set(changes):
        return
    scan_dir, files = env.get("ScanDir"), env.get("ScanFile")
    files = [files] if isinstance(files, str) else files
    if not isinstance(scan_dir, str) or not scan_dir or not isinstance(files, list):
        return
    try:
        folder = server.data_roots.resolve_dir(scan_dir)
    except DataPathError:
        return  # an unchanged, already unusable ScanDir: the scan will say so
    for name in files:
        try:
            check_file_name(name)
        except DataPathError:
            continue  # an unchanged, already unusable ScanFile entry
        try:
            server.data_roots.resolve_file(folder, name)
        except DataPathError as exc:
            raise EnvError(str(exc)) from None


MAX_VALUE_BYTES = 1 << 20
MAX_ENV_BYTES = 4 << 20


def check_env_size(values: Mapping[str, Any], changes: Mapping[str, Any],
                   bound: int | None = None) -> int:
    """Raise EnvError if a changed value, or the whole environment `values` after the
    change, is larger than the bounds (as JSON). The environment is written to disk and
    sent to every client on each change, scans included: 50 MB made each scan 3 s slower.

    Returns an upper bound of the size of `values`. Given `bound`, one of the size before
    the change (the last return), the whole environment is serialized only when the
    change could take it past the limit (every scan's ScanID would serialize it)."""
    added = 0
    for name, value in changes.items():
        size = _json_size(value)
        if size > MAX_VALUE_BYTES:
            raise EnvError(f"value of {name} is {size:,} bytes as JSON; an environment value "
                           f"may hold at most {MAX_VALUE_BYTES:,} (keep large data in files)")
        added += _json_size(name) + size + 4  # a new item, its ', ' and ': ' at most
    if bound is not None and bound + added <= MAX_ENV_BYTES:
        return bound + added
    total = _json_size(dict(values))
    if total > MAX_ENV_BYTES:
        raise EnvError(f"the environment would hold {total:,} bytes as JSON, more than "
                       f"{MAX_ENV_BYTES:,}; remove variables (usenv) before adding more")
    return total


def _json_size(value: Any) -> int:
    try:
        return len(json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return 0  # not storable: the store refuses it with its own message


CHECKS: dict[str, Check] = {
    "ScanDir": _scan_dir,
    "ScanFile": _scan_file,
    "ScanRecorder": _scan_recorder,
    "ScanID": _scan_id,
    "JsonRecorder": _boolean("JsonRecorder"),
    "OutputCols": _output_cols,
    "ActiveMntGrp": _active_group,
    "DataCompressionRank": _compression,
    "PreScanSnapshot": _snapshot,
    "ScanMetadata": _metadata,
    "ScanUser": _text("ScanUser"),
    "RecorderTimeout": _timeout,
    "CriticalRecorders": _critical,
    "ScanOvershootCorrection": _boolean("ScanOvershootCorrection"),
    "JsonRecordBlocks": _boolean("JsonRecordBlocks"),
    "CtTiming": _ct_timing,
    GENERAL_HOOKS: _general_hooks,
}


def check_env_value(name: str, value: Any, server: "MacroServerCore", env: Env) -> None:
    """Raise EnvError if `value` cannot be used for the server variable `name`; `env` is
    the environment as it would be after the change (variables set together count).
    Any value: no NUL or control character in its texts (they reach the files)."""
    check_text(name, value)
    check = CHECKS.get(name)
    if check is None:
        return
    try:
        check(value, server, env)
    except DataPathError as exc:
        raise EnvError(str(exc)) from None
    except EnvError:
        raise
    except MacroServerError as exc:
        raise EnvError(f"{name}: {exc}") from None
