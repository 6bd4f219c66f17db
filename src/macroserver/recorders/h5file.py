"""The HDF5 files under a NeXus recorder: each scan in a file of its own, joined in the
file the user named (the master) by an external link.

HDF5 marks a file as open for writing from the moment a writer opens it until it closes
it; a writer killed before it switched to SWMR mode leaves the whole file unreadable
(h5py, silx) until `h5clear -s`. Adding a scan to an existing file always has such a
moment, since groups and datasets cannot be created in SWMR mode. So no scan writes into
the master: its data goes to a new file, `<stem>_scans/<stem>_<ScanID><ext>`, and the
master gets a link `/entry<ScanID>` to it. The master is never open for writing in
place: a copy with the new link is written beside it and renamed over it, so a kill at
any moment leaves the old or the new master, both complete. A kill during a scan leaves
only that scan's file marked open (readable in SWMR mode: h5py `swmr=True`, through the
master too, or silx on the scan file). Readers follow the links (h5py, silx,
nexusformat); the links are relative, so the `_scans` folder must stay beside the master.

A master of an older version (scans written inside it) larger than `COPY_LIMIT` is not
copied at every scan: the link is added in place, with the old risk for those
milliseconds. Files are opened through `Folder` (never through a symlink). A file whose
writes failed (disk full) must be closed in a way that does not crash the process later.
"""

from __future__ import annotations

import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import h5py

from macroserver.datafiles import Folder, fd_path

#: Masters up to this size are copied and renamed over; larger (old) ones get the link in place.
COPY_LIMIT = 64 << 20


def scans_folder(master: Path) -> Path:
    """The folder holding the scan files of `master`."""
    return master.with_name(f"{master.stem}_scans")


def open_scans_folder(parent: Folder, master: Path) -> Folder:
    """The folder of the scan files of `master` (created if missing, never a link)."""
    return parent.subfolder(scans_folder(master).name)


class _MasterNames:
    """The root names of the masters read lately, each with the identity of the version
    read (device, inode, size, times): a master replaced (renamed over) or changed in
    place has another, and is read again. Opening a master with h5py to list its names
    took 1-3 ms of each scan's start once it held a few dozen entries."""

    KEEP = 32

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read: dict[Path, tuple[tuple[int, ...], frozenset[str]]] = {}

    def get(self, path: Path, info: os.stat_result) -> frozenset[str] | None:
        with self._lock:
            kept = self._read.get(path)
        return kept[1] if kept is not None and kept[0] == _identity(info) else None

    def keep(self, path: Path, info: os.stat_result, names: frozenset[str]) -> None:
        with self._lock:
            self._read.pop(path, None)
            if len(self._read) >= self.KEEP:
                del self._read[next(iter(self._read))]
            self._read[path] = (_identity(info), names)


def _identity(info: os.stat_result) -> tuple[int, ...]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


_MASTER_NAMES = _MasterNames()


def master_entries(folder: Folder, name: str) -> frozenset[str]:
    """The names at the root of the master `name` in `folder` (none when it is new).

    Raises OSError when it cannot be read (a writer of an older version was killed)."""
    info = folder.stat(name)
    if info is None or not info.st_size:
        return frozenset()
    path = folder.path / name
    names = _MASTER_NAMES.get(path, info)
    if names is not None:
        return names
    fd = folder.open(name, os.O_RDONLY)
    try:
        info = os.fstat(fd)  # the version read (it may have been replaced meanwhile)
        try:
            with h5py.File(fd_path(fd), "r") as f:
                names = frozenset(f)
        except OSError:  # marked open by a killed writer of an older version
            with h5py.File(fd_path(fd), "r", libver="latest", swmr=True) as f:
                names = frozenset(f)
    finally:
        os.close(fd)
    _MASTER_NAMES.keep(path, info, names)
    return names


class ScanFile:
    """One scan's own HDF5 file, new, in `folder`: the `_scans` folder beside the master
    (`open_scans_folder`; the file closes it)."""

    def __init__(self, folder: Folder, master: Path, scan_id: int) -> None:
        self.folder = folder
        stem, suffix = master.stem, master.suffix
        name, n = f"{stem}_{scan_id}{suffix}", 1
        while self.folder.exists(name):  # ScanID reused (an environment put back?)
            n += 1
            name = f"{stem}_{scan_id}_{n}{suffix}"
        self.name = name
        self.path = self.folder.path / name
        self._fd = self.folder.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL)
        try:
            self.file: h5py.File = h5py.File(fd_path(self._fd), "w", libver="latest")
        except OSError as exc:  # HDF5's text names /proc/self/fd/<n>: say which file
            self.close()
            raise OSError(exc.errno, f"cannot create {self.path}: "
                          f"{os.strerror(exc.errno) if exc.errno else exc}") from None
        except BaseException:
            self.close()
            raise

    def reopen(self) -> h5py.File:
        """The closed file opened again for changes at the end of the scan (use it with
        `changing`)."""
        # without locking: a live viewer (an SWMR reader) holding the file must not keep
        # the end of the scan from fitting the frames; it reopens to see them
        return h5py.File(fd_path(self._fd), "r+", libver="latest", locking=False)

    def close(self) -> None:
        """Let go of the descriptors (after the HDF5 file was closed), syncing the data."""
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            except OSError:  # the disk failed already; the error was reported
                pass
            os.close(self._fd)
            self._fd = -1
        self.folder.close()


def link_into_master(
    folder: Folder, master: Path, entry: str, target: Path, root_attrs: Mapping[str, Any]
) -> None:
    """Make `/<entry>` of the master an external link to `/<entry>` of `target`, and the
    default entry. A new master gets `root_attrs`."""
    name = master.name
    link = h5py.ExternalLink(os.path.relpath(target, master.parent), f"/{entry}")
    size = folder.size(name)
    if size > COPY_LIMIT:
        fd = folder.open(name, os.O_RDWR)
        try:
            with changing(h5py.File(fd_path(fd), "r+", libver="latest")) as f:
                f[entry] = link
                f.attrs["default"] = entry
                names = frozenset(f)
            _MASTER_NAMES.keep(folder.path / name, os.fstat(fd), names)
        finally:
            os.close(fd)
        return
    temporary = f".{name}.tmp"
    folder.remove(temporary)  # left by a writer killed here
    fd = folder.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL)
    try:
        if size:
            with os.fdopen(folder.open(name, os.O_RDONLY), "rb") as source, \
                    os.fdopen(os.dup(fd), "wb") as copy:
                shutil.copyfileobj(source, copy)
        with changing(h5py.File(fd_path(fd), "r+" if size else "w", libver="latest")) as f:
            if not size:
                f.attrs.update(root_attrs)
            f[entry] = link
            f.attrs["default"] = entry
            names = frozenset(f)
        os.fsync(fd)
    except BaseException:
        folder.remove(temporary)
        raise
    finally:
        os.close(fd)
    folder.replace(temporary, name)
    folder.fsync()
    written = folder.stat(name)  # after the rename, which changes the file's ctime
    if written is not None:  # the next scan's start reads its names here
        _MASTER_NAMES.keep(folder.path / name, written, names)


@contextmanager
def changing(f: h5py.File) -> Iterator[h5py.File]:
    """Close `f` after the changes, or abandon it if they (or its final writes) failed."""
    try:
        yield f
        f.flush()  # what close would write: if that fails, it fails here
    except BaseException:
        abandon(f)
        raise
    f.close()


def abandon(f: h5py.File) -> None:
    """Close a file HDF5 can no longer write (disk full, file too large, I/O error).

    HDF5 writes its cached metadata when it closes a file; when those writes fail, the
    file's id stays half-closed and the process crashes (segfault) later, when h5py
    releases it (h5py issues #914, #2160). So the file's descriptor is first pointed at
    /dev/null: the close then succeeds, writing nothing more to the file, which keeps
    what was flushed before the failure (readable in SWMR mode, as after a kill).
    """
    try:
        fd = f.id.get_vfd_handle()
        null = os.open(os.devnull, os.O_RDWR)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)
        f.close()
    except Exception:  # nothing more can be done; keep the id alive rather than crash
        _ABANDONED.append(f)


_ABANDONED: list[h5py.File] = []
