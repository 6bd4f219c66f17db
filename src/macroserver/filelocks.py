"""One writer per data file: a lock on the file itself, across doors and processes.

Two scans appending to one SPEC or NeXus file at once interleave their lines (silx then
reads one scan with no rows and one with both scans' rows), so a scan takes an exclusive
lock on each of its files before anything moves and keeps it until its recorders have
ended; a second scan is refused, naming the door (or "another process") that writes.

The lock is an open-file-description lock (Linux `F_OFD_SETLK`): unlike `flock` it does
not collide with HDF5's own `flock` of the file, and unlike classic POSIX locks it holds
between two threads of one process (two doors) and is not dropped when some other
descriptor of the file is closed. On NFS, where `flock` is emulated with byte-range
locks, it would collide with HDF5's lock; data roots are expected on local disks.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import threading
from pathlib import Path
from typing import Iterable

from macroserver.errors import FileBusy

_F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)  # Linux value; Python >= 3.9 has it
# struct flock: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid
_FLOCK = "@hhqqi4x"

_registry_lock = threading.Lock()
_holders: dict[Path, str] = {}  # files locked by this process -> door


def _set_lock(fd: int, kind: int) -> bool:
    """Lock (or unlock) the whole file; False when another description holds it."""
    try:
        fcntl.fcntl(fd, _F_OFD_SETLK, struct.pack(_FLOCK, kind, os.SEEK_SET, 0, 0, 0))
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


class DataFileLocks:
    """Exclusive locks on a scan's data files, taken together, released together."""

    def __init__(self, paths: Iterable[Path], holder: str, file_mode: int = 0o644) -> None:
        self.holder = holder
        self._fds: dict[Path, int] = {}
        try:
            for path in dict.fromkeys(paths):
                self._lock(path, file_mode)
        except BaseException:
            self.release()
            raise

    def _lock(self, path: Path, file_mode: int) -> None:
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, file_mode)
            if not _set_lock(fd, fcntl.F_WRLCK):
                os.close(fd)
                with _registry_lock:
                    who = _holders.get(path)
                writer = f"the scan running on {who}" if who else "another process"
                raise FileBusy(
                    f"{path} is being written by {writer}; this scan was not started "
                    "(nothing was moved). Use another ScanFile, or wait for that scan to end")
            try:
                same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a file replaced (renamed over) while we were locking it
                break
            os.close(fd)
        self._fds[path] = fd
        with _registry_lock:
            _holders[path] = self.holder

    def release(self) -> None:
        """Unlock every file (closing the descriptor drops the lock)."""
        with _registry_lock:
            for path in self._fds:
                _holders.pop(path, None)
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
