"""Files from elsewhere, read as hostile: `verify`, `convert`, `catalogue` and
`--consolidate` take masters, links and SPEC files anyone may have written.

A link to a FIFO made them hang, a link to /dev/zero made a checksum spin forever, a
file outside the master's folder was hashed, a declared shape of 10^11 frames was
allocated. So: only regular files are opened (a FIFO, device or socket is refused
without opening it for a blocking read), a linked file must lie inside the folder the
command trusts, and a declared size is checked against a limit before any allocation.
Each refusal is an `UnusableFile` naming the file and the problem in one line.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Iterable

from macroserver.errors import MacroServerError

#: Frames (or points) a declared shape may hold before it is refused unread.
MAX_FRAMES = 10 ** 8
#: Bytes a declared dataset may take in memory or in a consolidated copy.
MAX_BYTES = 64 << 30
#: Links and virtual sources looked at in one file.
MAX_SOURCES = 100_000

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISDIR, "a folder"))


class UnusableFile(MacroServerError):
    """An input file, or a file it names, that is not read (see the module docstring)."""

    reason = "UnusableFile"


def kind_of(mode: int) -> str:
    """What a non-regular file is, for the message."""
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def regular_file(path: Path) -> os.stat_result:
    """`path`'s status (symlinks followed) if it is a regular file; UnusableFile if it is
    missing, a FIFO, a device, a socket or a folder (none of them is opened)."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise UnusableFile(f"{path}: no such file") from None
    except OSError as exc:
        raise UnusableFile(f"{path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(status.st_mode):
        raise UnusableFile(f"{path} is {kind_of(status.st_mode)}, not a regular file")
    return status


def open_regular(path: Path) -> int:
    """A read-only descriptor of the regular file `path` (O_NONBLOCK: a FIFO swapped in
    after the check does not hang the open); UnusableFile otherwise."""
    regular_file(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UnusableFile(f"{path}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnusableFile(f"{path} is {kind_of(mode)}, not a regular file")
    return fd


def inside(path: Path, root: Path) -> bool:
    """Whether `path`, symlinks resolved, lies in the folder `root` (also resolved)."""
    real, top = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    return real == top or top in real.parents


def check_shape(shape: Iterable[int], itemsize: int, what: str) -> None:
    """UnusableFile if a declared shape holds more than MAX_FRAMES along its first axis
    or more than MAX_BYTES in all, before anything of that size is allocated."""
    dims = [int(d) for d in shape]
    if dims and dims[0] > MAX_FRAMES:
        raise UnusableFile(f"{what} declares {dims[0]:,} frames, more than the "
                           f"{MAX_FRAMES:,} read at most")
    size = math.prod(dims) * itemsize
    if size > MAX_BYTES:
        raise UnusableFile(f"{what} declares {size:,} bytes (shape {tuple(dims)}), more "
                           f"than the {MAX_BYTES >> 30} GiB read at most")
