"""Scan files left marked open by a killed writer, closed properly when a server starts.

HDF5 sets status flags in the superblock of a file open for writing and clears them on
close; a writer killed mid-scan leaves them set, and plain h5py and silx then refuse the
file ("file is already open for write") until someone runs `h5clear -s`. A starting
server (or `macroserver run`) does what h5clear does for the scan files of its ScanDir
folders: it opens each marked file with HDF5's `clear_status_flags` file-access
property (the one h5clear sets through the public `H5Pset`), writes in the entry's
`notes` that the scan was cut, and closes it. Only files no scan holds: a master's
lock (filelocks.py) is taken first, so a scan running in another process is left alone.
"""

from __future__ import annotations

import ctypes
import datetime
import logging
import os
import stat
from pathlib import Path
from typing import Iterable

import h5py

from macroserver.datafiles import fd_path
from macroserver.errors import FileBusy
from macroserver.filelocks import DataFileLocks
from macroserver.recorders.h5file import scans_folder

log = logging.getLogger(__name__)

SIGNATURE = b"\x89HDF\r\n\x1a\n"
EXTENSIONS = (".h5", ".nxs", ".hdf5")
#: Files looked at per folder at most (a start must stay quick).
MAX_FILES = 10_000
NOTE_LENGTH = 256  # the NeXus recorder's notes/data length


def _superblock(fd: int) -> tuple[int, bytes] | None:
    """(offset, first 48 bytes) of the version 2/3 superblock of the file open as `fd`
    (at offset 0 or after a user block), or None."""
    size = os.fstat(fd).st_size
    offset = 0
    while offset + 12 <= size and offset <= 1 << 20:
        head = os.pread(fd, 48, offset)
        if head[:8] == SIGNATURE:
            return (offset, head) if head[8] >= 2 else None
        offset = 512 if offset == 0 else offset * 2
    return None


def marked_open(fd: int) -> bool:
    """Whether the HDF5 file open as `fd` has its superblock status flags set."""
    found = _superblock(fd)
    return found is not None and found[1][11] != 0


def cut_short(fd: int) -> str:
    """Why the HDF5 file open as `fd` is shorter than its superblock says ("" if it is
    not): a file cut by a full disk, which an SWMR reader would retry reading for long."""
    found = _superblock(fd)
    if found is None or found[1][9] != 8 or len(found[1]) < 36:
        return ""
    offset, head = found
    declared = offset + int.from_bytes(head[28:36], "little")
    size = os.fstat(fd).st_size
    return f"cut short: {size:,} of the {declared:,} bytes it declares" if size < declared else ""


def _hdf5_library() -> ctypes.CDLL:
    """The HDF5 library h5py is using (a copy of another one would not know its ids)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            name = os.path.basename(path)
            if name.startswith("libhdf5") and not name.startswith("libhdf5_hl") and (
                    ".so" in name):
                library = ctypes.CDLL(path)
                library.H5Pset.argtypes = [ctypes.c_int64, ctypes.c_char_p, ctypes.c_void_p]
                return library
    raise OSError("the HDF5 library h5py uses was not found among the loaded libraries")


def clear_and_note(fd: int, note: str) -> list[str]:
    """Clear the status flags of the file open as `fd` (`h5clear -s`) and write `note`
    into each entry's empty `notes/data`; returns those entries."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    clear = ctypes.c_uint32(1)
    if _hdf5_library().H5Pset(fapl.id, b"clear_status_flags", ctypes.byref(clear)) < 0:
        raise OSError("HDF5 refused the clear_status_flags property")
    fid = h5py.h5f.open(fd_path(fd).encode(), h5py.h5f.ACC_RDWR, fapl=fapl)
    noted = []
    with h5py.File(fid) as f:
        for name, entry in f.items():
            notes = entry.get("notes/data") if isinstance(entry, h5py.Group) else None
            if isinstance(notes, h5py.Dataset) and notes.shape == () and not notes[()]:
                text = note.encode()[:NOTE_LENGTH].decode("utf-8", "ignore").encode()
                notes[()] = text
                noted.append(name)
    return noted


def _recover_file(path: Path, when: str) -> str | None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not (stat.S_ISREG(os.fstat(fd).st_mode) and marked_open(fd)):
            return None
        note = (f"failed: the scan was cut (its writer ended without closing the file); "
                f"points flushed before are kept. File closed at the next start, {when}")
        entries = clear_and_note(fd, note)
        return f"{path}: left open by a killed writer; closed (as h5clear -s), " \
               f"{', '.join(entries) or 'no entry'} noted as cut"
    except (OSError, KeyError, ValueError) as exc:
        return f"{path}: left open by a killed writer and could not be closed ({exc})"
    finally:
        os.close(fd)


def recover_scan_files(folders: Iterable[Path], holder: str = "start-up") -> list[str]:
    """Close the files of `folders` (ScanDirs) and their masters' `_scans` folders that
    a killed writer left marked open; one message per file, also in the log."""
    when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    messages = []
    for folder in dict.fromkeys(folders):
        try:
            names = sorted(os.listdir(folder))[:MAX_FILES]
        except OSError:
            continue
        for name in names:
            master = folder / name
            if master.suffix.lower() not in EXTENSIONS:
                continue
            try:
                locks = DataFileLocks([master], holder)
            except (FileBusy, OSError):
                continue  # a scan writes it now (or its folder is not ours to lock)
            try:
                scans = scans_folder(master)
                try:
                    files = [scans / n for n in sorted(os.listdir(scans))[:MAX_FILES]]
                except OSError:
                    files = []
                for path in (master, *files):
                    message = _recover_file(path, when)
                    if message:
                        log.warning(message)
                        messages.append(message)
            finally:
                locks.release()
    return messages
