"""Where scan files may be written, and with which permissions.

The server usually runs under a privileged account, so every data path a client names
(`ScanDir`, `ScanFile`) is resolved here and refused unless it lies inside a configured
data root, after following symlinks. Files and folders get the configured mode and group.

The check by name is not enough: anyone who may write in a data root can plant a
symlink at a name the server is about to open (an EDF temporary, the `<stem>_edf/`
folder, an HDF5 file) and have it write elsewhere. So recorders open what they write
through `Folder`: the scan folder is opened once and checked to be the folder that was
resolved, and every file and subfolder is opened relative to it, never through a
symlink (`O_NOFOLLOW`), with modes set on the open descriptor (no chmod through a link).
Libraries that only take a path (h5py, fabio) get `/proc/self/fd/<n>` of a descriptor
opened that way, which names exactly that file.
"""

from __future__ import annotations

import errno
import grp
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

#: File name suffixes of HDF5 (NeXus) files, for readers that pick a file by its name.
HDF5_SUFFIXES = (".h5", ".nxs", ".hdf5", ".hdf", ".nx", ".nx5")
MAX_NAME = 255
MAX_PATH = 4096
# A ScanFile's stem goes into longer names: `.<stem>_S<ScanID>_<channel>_<point>.edf.part`
# (EDF images) and `<stem>_scans/<stem>_<ScanID>.h5` (NeXus scan files) must stay under MAX_NAME.
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

    def apply_fd(self, fd: int, is_dir: bool = False) -> None:
        """Mode and group of an open file or folder (never a symlink's target)."""
        os.fchmod(fd, self.dir_mode if is_dir else self.file_mode)
        if self.group is not None:
            os.fchown(fd, -1, grp.getgrnam(self.group).gr_gid)


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
        try:  # the mode set on what was made, not through a link swapped in since
            fd = os.open(new, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise DataPathError(f"folder {new} changed while it was made ({exc.strerror}); "
                                "nothing was written there") from None
        try:
            policy.apply_fd(fd, is_dir=True)
        finally:
            os.close(fd)


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


def _check_plain_name(folder: Path, name: str) -> None:
    """A name the server makes inside `folder`: one path component, at most MAX_NAME bytes."""
    if not name or "/" in name or "\x00" in name or name in (".", "..") or (
            len(name.encode("utf-8", "surrogateescape")) > MAX_NAME):
        raise DataPathError(f"{name[:60]!r} cannot be a file name in {folder} (one name of at "
                            f"most {MAX_NAME} bytes)")


def fd_path(fd: int) -> str:
    """A path naming exactly the file open as `fd`, for libraries that take only paths."""
    return f"/proc/self/fd/{fd}"


class Folder:
    """A folder opened for writing scan files, and the files and folders inside it.

    Opened by its real path (resolved inside the data roots), then checked to be that
    folder; every name below it is opened relative to the open folder and never through
    a symlink, so nothing is written outside it. Refusals are `DataPathError`s naming the
    path. Close it (or use `with`) when done.
    """

    def __init__(self, path: Path, policy: FilePolicy, fd: int | None = None) -> None:
        self.path = path
        self.policy = policy
        if fd is None:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError as exc:
                raise DataPathError(f"cannot open folder {path}: {exc.strerror}") from None
            opened = os.readlink(fd_path(fd))
            if opened != os.path.abspath(path):
                os.close(fd)
                raise DataPathError(
                    f"folder {path} leads to {opened} (a symlink was planted on the way); "
                    "nothing was written there")
        self.fd = fd

    def __enter__(self) -> "Folder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _refused(self, name: str, exc: OSError) -> DataPathError:
        path = self.path / name
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK) or os.path.islink(path):
            return DataPathError(
                f"{path} is a symbolic link (or not a plain file/folder); the server does "
                "not write through links, nothing was written. Remove it or use another name")
        return DataPathError(f"cannot open {path}: {exc.strerror}")

    def subfolder(self, name: str) -> "Folder":
        """`name` inside this folder, created with the policy's mode if missing."""
        _check_plain_name(self.path, name)
        try:
            os.mkdir(name, self.policy.dir_mode, dir_fd=self.fd)
            created = True
        except FileExistsError:
            created = False
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(name, flags, dir_fd=self.fd)
        except OSError as exc:
            raise self._refused(name, exc) from None
        if created:
            self.policy.apply_fd(fd, is_dir=True)
        return Folder(self.path / name, self.policy, fd)

    def open(self, name: str, flags: int) -> int:
        """A descriptor of file `name` (flags as `os.open`; a file it creates gets the
        policy's mode and group). A symlink at `name` is refused."""
        _check_plain_name(self.path, name)
        base = flags | os.O_NOFOLLOW | os.O_CLOEXEC
        created = bool(flags & os.O_EXCL)
        mode = self.policy.file_mode
        try:
            if flags & os.O_CREAT and not created:
                try:  # O_EXCL first, to know whether the file is new
                    fd = os.open(name, base | os.O_EXCL, mode, dir_fd=self.fd)
                    created = True
                except FileExistsError:
                    fd = os.open(name, base & ~os.O_CREAT, mode, dir_fd=self.fd)
            else:
                fd = os.open(name, base, mode, dir_fd=self.fd)
        except OSError as exc:
            raise self._refused(name, exc) from None
        if created:
            self.policy.apply_fd(fd)
        return fd

    def exists(self, name: str) -> bool:
        """Whether `name` exists here (a symlink counts, and is not followed)."""
        try:
            os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def size(self, name: str) -> int:
        """Size of file `name` (0 if missing); anything but a plain file is refused."""
        info = self.stat(name)
        return 0 if info is None else info.st_size

    def stat(self, name: str) -> os.stat_result | None:
        """`os.stat` of file `name` (None if missing); anything but a plain file is refused."""
        try:
            info = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if stat.S_ISDIR(info.st_mode):
            raise DataPathError(f"{self.path / name} is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise DataPathError(f"{self.path / name} is not a plain file (a symbolic link?); "
                                "the server does not write through links")
        return info

    def replace(self, source: str, target: str) -> None:
        """Rename `source` over `target` (a symlink at `target` is replaced, not followed)."""
        os.replace(source, target, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def remove(self, name: str) -> None:
        """Remove `name` if it exists (a symlink itself, never its target)."""
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass

    def fsync(self) -> None:
        os.fsync(self.fd)
