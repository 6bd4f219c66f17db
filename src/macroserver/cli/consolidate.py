"""`macroserver convert --consolidate IN OUT`: a NeXus file that needs nothing else.

Every group, attribute and dataset of IN is copied to OUT; a virtual dataset becomes a
real one holding the frames read through it (frame by frame: memory stays one frame,
chunks of one frame, gzip level 1), and NeXus hard links stay links to the same object.
External links to datasets are not copied (their frames are in the consolidated
datasets); each group that held some gets `@consolidated_links` naming what they pointed
to. External links to groups (each entry of a NeXus recorder's file, kept in the scan's
own file) are copied as the groups they lead to. A link or virtual source naming a file
outside IN's folder, or one that is not a regular file, is never followed; a virtual
dataset declaring more than `untrusted.MAX_FRAMES` frames is refused before any copy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py

from macroserver.untrusted import UnusableFile, check_shape, inside, regular_file


def consolidate(source: Path, target: Path) -> int:
    """Write the self-contained copy; returns the number of datasets materialised.
    Only files inside the source's folder are followed or read (untrusted.py); a
    failure leaves no partial copy."""
    if target.exists():
        raise FileExistsError(f"{target} exists; give a new file name")
    regular_file(source)
    try:
        with h5py.File(source, "r", locking=False) as src, h5py.File(target, "w") as dst:
            dst.attrs.update(src.attrs)
            copier = _Copier(dst, source.parent)
            copier.group(src, dst)
            return copier.materialised
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _linked_file(holder: h5py.File, name: str) -> Path:
    """Where HDF5 finds a file a link or virtual source of `holder` names ("." itself)."""
    parent = Path(holder.filename)
    return parent if name == "." else parent.parent / name


def _usable(path: Path, folder: Path) -> str:
    """Why a linked file is not followed ("" if it is): outside `folder`, or not a
    regular file (a FIFO would hang the copy); a missing file reads as the fill value."""
    if not os.path.lexists(path):
        return ""
    if not inside(path, folder):
        return f"file {os.path.realpath(path)} is outside the folder {folder} (not read)"
    try:
        regular_file(path)
    except UnusableFile as exc:
        return f"{exc} (not read)"
    return ""


class _Copier:
    def __init__(self, target: h5py.File, folder: Path) -> None:
        self.target = target
        self.folder = folder
        self.copied: dict[Any, str] = {}  # object address in IN -> its path in OUT
        self.materialised = 0

    def group(self, src: h5py.Group, dst: h5py.Group) -> None:
        dropped = []
        for name in src:
            link = src.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                why = _usable(_linked_file(src.file, link.filename), self.folder)
                if why or not isinstance(src.get(name), h5py.Group):
                    dropped.append(f"{name} -> {link.filename}:{link.path}"
                                   + (f" ({why})" if why else ""))
                    continue
            if isinstance(link, h5py.SoftLink):
                dst[name] = h5py.SoftLink(link.path)
                continue
            item = src[name]
            address = (item.file.filename, h5py.h5o.get_info(item.id).addr)
            if address in self.copied:  # a NeXus link: the same object again
                dst[name] = self.target[self.copied[address]]
                continue
            if isinstance(item, h5py.Group):
                child = dst.create_group(name)
                child.attrs.update(item.attrs)
                self.copied[address] = child.name
                self.group(item, child)
            else:
                self.copied[address] = self.dataset(item, dst, name)
        if dropped:
            dst.attrs["consolidated_links"] = dropped

    def dataset(self, src: h5py.Dataset, dst: h5py.Group, name: str) -> str:
        if not src.is_virtual:
            src.file.copy(src, dst, name)
            return dst[name].name
        where = f"{src.file.filename}:{src.name}"
        check_shape(src.shape, src.dtype.itemsize, where)
        for source in src.virtual_sources():
            why = _usable(_linked_file(src.file, source.file_name), self.folder)
            if why:
                raise UnusableFile(f"{where} reads its frames from {why}; nothing written")
        frame = src.shape[1:]
        chunked = ({"chunks": (1, *frame), "compression": "gzip", "compression_opts": 1}
                   if src.shape[0] else {})
        out = dst.create_dataset(name, shape=src.shape, dtype=src.dtype,
                                 fillvalue=src.fillvalue, **chunked)
        for i in range(src.shape[0]):
            out[i] = src[i]
        out.attrs.update(src.attrs)
        out.attrs["consolidated_from"] = [f"{s.file_name}:{s.dset_name}"
                                          for s in src.virtual_sources()]
        self.materialised += 1
        return out.name
