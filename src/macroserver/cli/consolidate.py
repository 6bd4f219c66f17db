"""`macroserver convert --consolidate IN OUT`: a NeXus file that needs nothing else.

Every group, attribute and dataset of IN is copied to OUT; a virtual dataset becomes a
real one holding the frames read through it (frame by frame: memory stays one frame,
chunks of one frame, gzip level 1), and NeXus hard links stay links to the same object.
External links to datasets are not copied (their frames are in the consolidated
datasets); each group that held some gets `@consolidated_links` naming what they pointed
to. External links to groups (each entry of a NeXus recorder's file, kept in the scan's
own file) are copied as the groups they lead to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py


def consolidate(source: Path, target: Path) -> int:
    """Write the self-contained copy; returns the number of datasets materialised."""
    if target.exists():
        raise FileExistsError(f"{target} exists; give a new file name")
    with h5py.File(source, "r", locking=False) as src, h5py.File(target, "w") as dst:
        dst.attrs.update(src.attrs)
        copier = _Copier(dst)
        copier.group(src, dst)
        return copier.materialised


class _Copier:
    def __init__(self, target: h5py.File) -> None:
        self.target = target
        self.copied: dict[Any, str] = {}  # object address in IN -> its path in OUT
        self.materialised = 0

    def group(self, src: h5py.Group, dst: h5py.Group) -> None:
        dropped = []
        for name in src:
            link = src.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink) and not isinstance(
                    src.get(name), h5py.Group):
                dropped.append(f"{name} -> {link.filename}:{link.path}")
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
