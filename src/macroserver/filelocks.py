"""One writer per data file: a lock beside it, across doors and processes.

Two scans appending to one SPEC or NeXus file at once interleave their lines (silx then
reads one scan with no rows and one with both scans' rows), so a scan takes an exclusive
lock for each of its files before anything moves and keeps it until its recorders have
ended; a second scan is refused, naming the door (or "another process") that writes.

The lock is a `flock` of a hidden lock file beside the data file (`.<name>.lock`, there
while the scan runs; a holder removes it before letting go, and a locker checks that
the file it locked is still the one at that name). It is not taken on the data file
itself because the NeXus master file is replaced (renamed over) at every scan, and HDF5
takes its own `flock` on the files it opens. `flock` locks belong to one open file
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
        name = lock_path(path)
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
        for _ in range(100):  # a holder removing its lock file between open and check
            try:
                try:  # a new lock file gets the data files' mode and group
                    fd = os.open(name, flags | os.O_CREAT | os.O_EXCL, policy.file_mode)
                    policy.apply_fd(fd)
                except FileExistsError:
                    fd = os.open(name, flags)
            except FileNotFoundError:  # removed by its holder in between: again
                continue
            except OSError as exc:  # ELOOP: a symlink planted there is not followed
                raise OSError(exc.errno, f"cannot open the lock file {name} of {path}: "
                              f"{exc.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._busy(path) from None
            if _same_file(fd, name):
                self._fds[path] = fd
                with _registry_lock:
                    _holders[path] = self.holder
                return
            os.close(fd)  # locked a file its holder had just removed: lock the new one
        raise self._busy(path)

    @staticmethod
    def _busy(path: Path) -> FileBusy:
        with _registry_lock:
            who = _holders.get(path)
        writer = f"the scan running on {who}" if who else "another process"
        return FileBusy(
            f"{path} is being written by {writer}; this scan was not started "
            "(nothing was moved). Use another ScanFile, or wait for that scan to end")

    def release(self) -> None:
        """Remove the lock files, then unlock (closing the descriptor drops the lock)."""
        with _registry_lock:
            for path in self._fds:
                _holders.pop(path, None)
        for path, fd in self._fds.items():
            if _same_file(fd, lock_path(path)):
                os.unlink(lock_path(path))
            os.close(fd)
        self._fds.clear()


def _same_file(fd: int, name: Path) -> bool:
    """Whether `name` is (still) the file open as `fd`."""
    try:
        return os.stat(name, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
