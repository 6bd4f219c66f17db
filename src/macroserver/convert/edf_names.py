"""The EDF file names a SPEC file's `#C EDF images: <pattern>, ...` line gives, parsed.

The pattern comes from the file, so it is never handed to `str.format` (a width of
1,500,000,000 took 3 GB, `{point.__class__.__mro__}` was evaluated): only `{channel}`,
`{point}` and `{point:0Nd}` are understood, and the names must stay in the SPEC file's
folder (no absolute path, no `..`, no symlink leading out).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from macroserver.convert.source import ConvertError
from macroserver.untrusted import inside

_FIELD = re.compile(r"\{(channel|point)(?::(0?)([1-9]\d?)d)?\}")


def check_pattern(pattern: str, where: Path) -> str:
    """`pattern` if it is a relative name inside the folder with known fields only;
    ConvertError naming `where` otherwise."""
    rest = _FIELD.sub("", pattern)
    if "{" in rest or "}" in rest:
        raise ConvertError(f"{where}: EDF file pattern {pattern[:80]!r} has fields other "
                           "than {channel}, {point} and {point:0Nd}")
    parts = PurePosixPath(pattern).parts
    if not parts or pattern.startswith("/") or ".." in parts:
        raise ConvertError(f"{where}: EDF file pattern {pattern[:80]!r} leads out of the "
                           "SPEC file's folder")
    return pattern


def edf_path(pattern: str, folder: Path, channel: str, point: int) -> Path:
    """The file of `channel` at `point` (pattern checked by `check_pattern`), refused
    when a symlink leads it out of `folder`."""
    def field(match: re.Match[str]) -> str:
        if match.group(1) == "channel":
            return channel
        zero, width = match.group(2), match.group(3)
        return f"{point:{zero}{width}d}" if width else str(point)

    path = folder / _FIELD.sub(field, pattern)
    if not inside(path, folder):
        raise ConvertError(f"the EDF image {path} is outside the folder {folder} (not read)")
    return path
