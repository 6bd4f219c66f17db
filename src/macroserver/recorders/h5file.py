"""The HDF5 file under a NeXus recorder: opening it to append, and closing it safely.

HDF5 is strict about who may write a file: a viewer holding it open, or a writer that
was killed, makes every new writer fail. Such a scan goes to a new file beside the old
one instead of failing. A file whose writes failed (disk full) must be closed in a way
that does not crash the process later.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import h5py

from macroserver.recorders.base import RecorderContext
from macroserver.streams import Level


def open_for_append(
    path: Path, context: RecorderContext, scan_id: int
) -> tuple[h5py.File, Path, bool]:
    """Open an existing file for appending, or create a new SWMR-capable one.

    Returns the file, its path and whether it was created (and needs its root attributes).

    When the file cannot be appended to because another process holds it open (a viewer:
    HDF5 readers keep a lock) or because its writer was killed (HDF5 then refuses every
    writer until 'h5clear -s'), the scan goes to a new file `<stem>_<ScanID><ext>` beside
    it, announced on the Warning stream, rather than failing: the old file is left as it
    is (still readable, with silx or h5py `swmr=True` after a kill).
    """
    if path.exists() and path.stat().st_size:
        try:
            return h5py.File(path, "r+", libver="latest"), path, False
        except OSError as exc:
            if not _in_use(exc):
                raise OSError(f"cannot append to {path}: {exc}{_open_hint(path, exc)}") from exc
            other = _free_name(path, scan_id)
            context.message(
                Level.WARNING,
                f"cannot append to {path} ({_in_use_reason(path, exc)}); "
                f"this scan (entry{scan_id}) is written to {other} instead",
            )
            return open_for_append(other, context, scan_id)
    f = h5py.File(path, "w", libver="latest")
    context.file_policy.apply(path)
    return f, path, True


def _in_use(exc: OSError) -> bool:
    """Locked by another process, marked open by a writer that was killed, or cut short
    by a write that failed (disk full)."""
    text = str(exc)
    return exc.errno == errno.EAGAIN or "already open for write" in text or (
        "truncated file" in text)


def _in_use_reason(path: Path, exc: OSError) -> str:
    if exc.errno == errno.EAGAIN:
        return "another process, a viewer?, keeps it open"
    if "truncated file" in str(exc):
        return "it is truncated: a write to it failed, disk full?"
    return f"its writer was killed; 'h5clear -s {path}' marks it closed again"


def _free_name(path: Path, scan_id: int) -> Path:
    """`<stem>_<ScanID><ext>`, or with `_2`, `_3`... if that is in use too."""
    candidate = path.with_name(f"{path.stem}_{scan_id}{path.suffix}")
    n = 1
    while candidate.exists() and candidate.stat().st_size and n < 100:
        n += 1
        candidate = path.with_name(f"{path.stem}_{scan_id}_{n}{path.suffix}")
    return candidate


def _open_hint(path: Path, exc: OSError) -> str:
    """What the user can do about the two usual reasons an HDF5 file will not open."""
    if exc.errno == errno.EAGAIN:
        return (
            ". Another process (a viewer?) keeps the file open; close it between scans "
            "or write to a new ScanFile"
        )
    if "already open for write" in str(exc):
        return f". If its writer was killed, 'h5clear -s -i {path}' marks it closed again"
    return ""


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


def fsync_path(path: Path | None) -> None:
    if path is None:
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
