"""The environment: typed variables (ScanDir, ScanFile, ScanID, ...) that outlive a macro.

Values are Python literals. Text typed by a user is parsed with `ast.literal_eval`,
never `eval`. The store is a JSON file replaced atomically (write, fsync, rename) on
every change, so a kill at any moment leaves either the old or the new version. A
scan's ScanID is written at its start without the fsyncs (a killed process keeps it, as
the kernel holds it) and synced before the scan's first file: its number is never given
twice, and no scan waits for a disk in front of its first point.
A damaged file is never silently replaced: loading it fails with a clear message and a
copy is kept aside.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import orjson

from macroserver.errors import EnvError
from macroserver.statedir import ENVIRONMENT_FILE, instance_state_dir

FORMAT_VERSION = 1
Listener = Callable[[dict[str, Any], list[str]], None]


def default_env_path(instance: str = "local") -> Path:
    """The environment file in the instance's default state folder (statedir.py)."""
    return instance_state_dir(instance) / ENVIRONMENT_FILE


def parse_value(text: str) -> Any:
    """A typed value from what a user typed: a Python literal, `true`/`false`, or a string.

    `ast.literal_eval` only builds literals (numbers, strings, lists, dicts, ...): nothing
    typed here is ever executed.
    """
    stripped = text.strip()
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        pass
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def _check_storable(name: str, value: Any, depth: int = 0) -> None:
    """Only JSON-representable literals are kept (no NaN, no sets, no bytes)."""
    if depth > 20:
        raise EnvError(f"value of {name} is nested too deeply")
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EnvError(f"value of {name} must be a finite number, not {value}")
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_storable(name, item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EnvError(f"value of {name}: dictionary keys must be strings, not {key!r}")
            _check_storable(name, item, depth + 1)
        return
    raise EnvError(f"value of {name} has type {type(value).__name__}, which cannot be stored")


def _keep_copy(path: Path, data: bytes) -> Path:
    """Save `data` as a new `<name>.damaged-<time>[-n]` beside `path` (created, never
    written through a symlink planted at that name)."""
    stamp = f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for n in range(1, 100):
        kept = path.with_name(stamp if n == 1 else f"{stamp}-{n}")
        try:
            fd = os.open(kept, flags, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        return kept
    raise EnvError(f"environment file {path} is damaged, and no copy could be kept beside it")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not name.isidentifier() and not _is_scoped(name):
        raise EnvError(f"{name!r} is not a valid environment variable name")
    return name


SCOPED_NAME = re.compile(r"(?:[\w+-]+/[\w+-]+/[\w+-]+\.)?(?:[A-Za-z_]\w*\.)?[A-Za-z_]\w*")
"""`[door/name/1.][macro.]Variable`: Sardana's environment scopes."""


def _is_scoped(name: str) -> bool:
    return SCOPED_NAME.fullmatch(name) is not None


def normalized_name(name: str) -> str:
    """Door scopes in lower case (Tango names are), so `Door/X/1.ScanFile` is the same
    variable as `door/x/1.ScanFile`."""
    scope, variable = scoped_name(name)
    if "/" not in scope:
        return name
    door, dot, macro = scope.partition(".")
    return f"{door.lower()}{dot}{macro}.{variable}"


class Environment:
    """Environment variables persisted in one JSON file; thread-safe.

    This is the store: it keeps only storable values and writes them atomically. The
    server's checks (which values a variable may take) are in engine/environment.py,
    the one way the server and its macros change the environment."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        #: held by every change; a checker holds it across its check and the write
        self.lock = threading.RLock()
        self._values: dict[str, Any] = {}
        # every change is a new version; the file holds `_written`, synced up to `_synced`
        # (see `write_pending`)
        self._version = self._written = self._synced = 0
        self._write_lock = threading.Lock()  # taken after `lock`, never before it
        self._listeners: list[Listener] = []
        #: True until values are loaded from a file or set: a new environment
        self.is_new = True
        if path is not None and path.exists():
            self._values = self._load(path)
            self.is_new = False

    def start_with(self, values: dict[str, Any]) -> None:
        """What a new environment (no file yet) starts with; written with the first change."""
        with self.lock:
            if self.is_new:
                self._values = {**values, **self._values}

    @staticmethod
    def _load(path: Path) -> dict[str, Any]:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise EnvError(f"cannot read environment file {path}: {exc.strerror}") from None
        try:
            document = json.loads(raw.decode("utf-8"))
            if document.get("version") != FORMAT_VERSION or not isinstance(document["env"], dict):
                raise ValueError(f"unknown format (version {document.get('version')!r})")
            return document["env"]
        except (ValueError, KeyError, AttributeError, TypeError, UnicodeDecodeError,
                RecursionError) as exc:
            kept = _keep_copy(path, raw)
            raise EnvError(
                f"environment file {path} is damaged ({exc}); a copy was kept as {kept}. "
                "Repair the file, or move it away to start with an empty environment."
            ) from None

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(changed, removed)` after every change (for Environment events)."""
        self._listeners.append(listener)

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._values))

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self._values))

    def current(self) -> Mapping[str, Any]:
        """The values now, without a copy (`snapshot` copies them): every change makes a
        new mapping of new values, so this one stays as it is; read it, never change it."""
        return self._values

    def update(self, changes: dict[str, Any], remove: Iterable[str] = (),
               write: bool = True, sync: bool = True) -> None:
        """Set and remove several variables in one atomic write; EnvError naming the file
        and the reason when it cannot be written (nothing changes then). `write` False:
        in memory now (readers and listeners see them), in the file at the next
        `write_pending` or write. `sync` False: in the file now, which a killed process
        leaves there, synced (two fsyncs) at the next `write_pending` or synced write (a
        scan's ScanID: the fsyncs are not in front of the scan's first point)."""
        remove = list(dict.fromkeys(normalized_name(n) for n in remove))  # `usenv X X`: once
        changes = {normalized_name(name): value for name, value in changes.items()}
        with self.lock:
            for name, value in changes.items():
                check_name(name)
                _check_storable(name, value)
            # kept as the file keeps them (tuples become lists), so a value reads back
            # the same before and after a restart
            changes = {name: json.loads(json.dumps(value)) for name, value in changes.items()}
            missing = [n for n in remove if n not in self._values]
            if missing:
                raise EnvError(f"environment variable {missing[0]!r} is not defined")
            values = dict(self._values)
            values.update(changes)
            for name in remove:
                del values[name]
            if write:
                with self._write_lock:
                    self._save(values, sync)
                    self._written = self._version + 1
                    if sync:
                        self._synced = self._written
            self._values = values
            self._version += 1
            self.is_new = False
        for listener in self._listeners:
            listener(dict(changes), list(remove))

    def write_pending(self) -> None:
        """Write and sync the changes made with `write=False` or `sync=False`, unless a
        later synced write did; returns once the file holds them on disk. EnvError when
        it cannot be written."""
        with self.lock:
            values, version = self._values, self._version
        with self._write_lock:
            if version <= self._synced:
                return
            if version <= self._written:  # in the file already: only its fsyncs
                self._sync()
            else:
                self._save(values, sync=True)
                self._written = version
            self._synced = version

    def _save(self, values: dict[str, Any], sync: bool) -> None:
        if self.path is None:
            return
        document = {"version": FORMAT_VERSION, "env": values}
        try:  # orjson: 30 times faster than json's indented encoder (ScanID at each start)
            text = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        except TypeError:  # integers beyond 64 bits
            text = json.dumps(document, indent=1, sort_keys=True).encode()
        try:
            write_atomically(self.path, text, ".env-", sync)
        except OSError as exc:
            raise self._unwritable(exc) from None

    def _sync(self) -> None:
        """Sync what `_save(sync=False)` wrote (the file, then its folder's entry)."""
        if self.path is None:
            return
        try:
            sync_path(self.path)
            sync_path(self.path.parent)
        except OSError as exc:
            raise self._unwritable(exc) from None

    def _unwritable(self, exc: OSError) -> EnvError:
        return EnvError(f"cannot write the environment file {self.path}: "
                        f"{exc.strerror or exc}")


def write_atomically(path: Path, text: str | bytes, prefix: str, sync: bool = True) -> None:
    """Replace `path` with `text` (bytes: as they are; str: UTF-8) so that a kill leaves
    the old or the new file, never a mix: written beside it, synced, renamed over it, the
    folder synced (`sync` False: not synced, for a cache whose loss costs nothing or a
    file synced later with `sync_path`: a crash of the machine may leave the old file or
    a damaged one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(text if isinstance(text, bytes) else text.encode())
            stream.flush()
            if sync:
                os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if sync:
        sync_path(path.parent)


def sync_path(path: Path) -> None:
    """fsync a file or a folder (its entries) by name."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def scoped_name(name: str) -> tuple[str, str]:
    """(scope, variable) of a name: `door/x/1.ascan.ScanFile` → (`door/x/1.ascan`,
    `ScanFile`); an unscoped name has the scope ""."""
    scope, _, variable = name.rpartition(".")
    return scope, variable

