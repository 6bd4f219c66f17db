"""One writer per data file: a lock beside it, across doors and processes.

Two scans appending to one SPEC or NeXus file at once interleave their lines (silx then
reads one scan with no rows and one with both scans' rows), so a scan takes an exclusive
lock for each of its files before anything moves and keeps it until its recorders have
ended; a second scan is refused, naming the door (or "another process") that writes.

The lock is a `flock` of a hidden lock file beside the data file (`.<name>.lock`, kept:
removing it would let two writers lock two different files). It is not taken on the data
file itself because the NeXus master file is replaced (renamed over) at every scan, and
HDF5 takes its own `flock` on the files it opens. `flock` locks belong to one open file
description, so they also hold between two doors (threads) of one process.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import Iterable

from macroserver.datafiles import FilePolicy
from macroserver.errors import FileBusy

_registry_lock = threading.Lock()
_holders: dict[Path, str] = {}  # files locked by this process -> door


def lock_path(path: Path) -> Path:
    """The lock file of a data file."""
    return path.with_name(f".{path.name}.lock")


class DataFileLocks:
    """Exclusive locks on a scan's data files, taken together, released together."""

    def __init__(self, paths: Iterable[Path], holder: str,
                 policy: FilePolicy | None = None) -> None:
        self.holder = holder
        self._fds: dict[Path, int] = {}
        try:
            for path in dict.fromkeys(paths):
                self._lock(path, policy or FilePolicy())
        except BaseException:
            self.release()
            raise

    def _lock(self, path: Path, policy: FilePolicy) -> None:
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            try:  # a new lock file gets the data files' mode and group
                fd = os.open(lock_path(path), flags | os.O_CREAT | os.O_EXCL, policy.file_mode)
                policy.apply(lock_path(path))
            except FileExistsError:
                fd = os.open(lock_path(path), flags)
        except OSError as exc:  # ELOOP: a symlink planted there is not followed
            raise OSError(exc.errno, f"cannot open the lock file {lock_path(path)} of {path}: "
                          f"{exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            with _registry_lock:
                who = _holders.get(path)
            writer = f"the scan running on {who}" if who else "another process"
            raise FileBusy(
                f"{path} is being written by {writer}; this scan was not started "
                "(nothing was moved). Use another ScanFile, or wait for that scan to end"
            ) from None
        self._fds[path] = fd
        with _registry_lock:
            _holders[path] = self.holder

    def release(self) -> None:
        """Unlock every file (closing the descriptor drops the lock; the lock file stays)."""
        with _registry_lock:
            for path in self._fds:
                _holders.pop(path, None)
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
