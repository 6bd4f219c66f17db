"""Where scan files may be written, and with which permissions.

The server usually runs under a privileged account, so every data path a client names
(`ScanDir`, `ScanFile`) is resolved here and refused unless it lies inside a configured
data root, after following symlinks. Files and folders get the configured mode and group.
"""

from __future__ import annotations

import grp
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

#: File name suffixes of HDF5 (NeXus) files, for readers that pick a file by its name.
HDF5_SUFFIXES = (".h5", ".nxs", ".hdf5", ".hdf", ".nx", ".nx5")
MAX_NAME = 255
MAX_PATH = 4096
# A ScanFile's stem goes into longer names: `.<stem>_S<ScanID>_<channel>_<point>.edf.part`
# (EDF images) and `<stem>_<ScanID>.h5` (NeXus fallback) must stay under MAX_NAME.
MAX_SCAN_FILE_NAME = 120


class DataPathError(ValueError):
    """A scan directory or file name that may not be used; the message says why."""


class OutsideDataRoots(DataPathError):
    """A well-formed path that leads out of every data root."""


@dataclass(frozen=True)
class FilePolicy:
    """Mode and group of created data files and folders (`group=None` keeps the default)."""

    file_mode: int = 0o644
    dir_mode: int = 0o755
    group: str | None = None

    def apply(self, path: Path, is_dir: bool = False) -> None:
        os.chmod(path, self.dir_mode if is_dir else self.file_mode)
        if self.group is not None:
            os.chown(path, -1, grp.getgrnam(self.group).gr_gid)


def ensure_folder(folder: Path, policy: FilePolicy) -> None:
    """Create `folder` and the folders leading to it with the policy's mode and group."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        try:
            os.mkdir(new, policy.dir_mode)
        except FileExistsError:  # another writer (a recorder of the same scan) made it now
            if not new.is_dir():
                raise
            continue
        policy.apply(new, is_dir=True)


def _check_text(what: str, text: str) -> None:
    if not text:
        raise DataPathError(f"{what} is empty")
    if "\x00" in text or "\n" in text or "\r" in text:
        raise DataPathError(f"{what} {text!r} contains a NUL or newline character")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise DataPathError(
            f"{what} {text[:80]!r} contains characters that are not valid text "
            "(lone surrogates); file names must be valid UTF-8") from None
    if size > MAX_PATH:
        raise DataPathError(f"{what} is {size} bytes long (at most {MAX_PATH})")
    for part in Path(text).parts:
        if len(part.encode()) > MAX_NAME:
            raise DataPathError(f"{what} has a name longer than {MAX_NAME} bytes: {part[:40]}...")


def check_file_name(name: str) -> str:
    """A `ScanFile` entry: a plain file name, no folders, no `..`."""
    if not isinstance(name, str):
        raise DataPathError(f"ScanFile entry {name!r} is not a string")
    _check_text("ScanFile", name)
    size = len(name.encode("utf-8"))
    if size > MAX_SCAN_FILE_NAME:
        raise DataPathError(
            f"ScanFile {name[:40]!r}... is {size} bytes long; at most {MAX_SCAN_FILE_NAME}, so "
            f"the image and fallback file names made from it stay under {MAX_NAME}")
    if "/" in name or name in (".", ".."):
        raise DataPathError(
            f"ScanFile {name!r} must be a plain file name; put folders in ScanDir"
        )
    return name


class DataRoots:
    """The folders inside which scan files may be written."""

    def __init__(self, roots: Iterable[str | os.PathLike[str]]) -> None:
        self.roots = tuple(Path(os.path.realpath(r)) for r in roots)

    def __repr__(self) -> str:
        return f"DataRoots({[str(r) for r in self.roots]})"

    def resolve_dir(self, scan_dir: str | os.PathLike[str]) -> Path:
        """Return the real path of `scan_dir`, or raise if it leaves every data root."""
        text = os.fspath(scan_dir)
        if not isinstance(text, str):
            raise DataPathError(f"ScanDir {scan_dir!r} is not a string")
        _check_text("ScanDir", text)
        if not self.roots:
            raise DataPathError("no data roots are configured; scan files cannot be written")
        if ".." in Path(text).parts:
            raise DataPathError(f"ScanDir {text!r} may not contain '..'")
        path = Path(text)
        if not path.is_absolute():
            path = self.roots[0] / path
        return self._inside_roots("ScanDir", text, path)

    def _inside_roots(self, what: str, text: str, path: Path) -> Path:
        real = Path(os.path.realpath(path))
        for root in self.roots:
            if real == root or root in real.parents:
                return real
        allowed = ", ".join(str(r) for r in self.roots)
        raise OutsideDataRoots(
            f"{what} {text!r} (resolved to {real}) is outside the data roots ({allowed})"
        )

    def resolve_file(self, scan_dir: str | os.PathLike[str], name: str) -> Path:
        """The real path of `ScanDir/ScanFile`, checked as `resolve_dir` does."""
        folder = self.resolve_dir(scan_dir)
        path = folder / check_file_name(name)
        self._inside_roots("ScanFile", name, path)
        return path
