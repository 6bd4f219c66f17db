"""A SPEC file checked line by line before silx's C parser reads it.

That parser (the one PyMca shares) crashes the process on 200,000 labels on a `#L`
line, allocates what `#@CHANN 1000000000` declares, and gives tracebacks on bytes that
are not text. So the text is read once first, streaming (memory stays one line), and a
file beyond these limits is refused with the line named. The parser then reads it
through a descriptor path, which also lets it open files with non-ASCII names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from macroserver.convert.source import ConvertError

#: Columns of one scan (`#N`, the labels of `#L`).
MAX_COLUMNS = 10_000
#: Channels of one spectrum (`#@CHANN`).
MAX_CHANNELS = 1 << 20
#: Scans converted at once (`#S`; one chosen with --scan may come from a larger file).
MAX_SCANS = 10_000
#: Bytes of one line.
MAX_LINE = 64 << 20


@dataclass
class SpecIndex:
    """Where the scans and the file headers of a checked SPEC file are (byte offsets)."""

    #: (#S number, first byte, end) of each scan, in file order
    scans: list[tuple[int, int, int]] = field(default_factory=list)
    #: (first byte, end) of each file header (`#F` up to the next `#S`)
    headers: list[tuple[int, int]] = field(default_factory=list)

    def one_scan(self, fd: int, number: int) -> bytes | None:
        """The text of the last scan numbered `number` with the file header before it
        (what silx needs to read that scan alone), or None if there is none."""
        found = [s for s in self.scans if s[0] == number]
        if not found:
            return None
        _, start, end = found[-1]
        head = [h for h in self.headers if h[0] < start]
        parts = [os.pread(fd, head[-1][1] - head[-1][0], head[-1][0])] if head else []
        return b"".join([*parts, os.pread(fd, end - start, start)])


def check_spec_text(fd: int, path: Path) -> SpecIndex:
    """Where the scans of the file open as `fd` are; ConvertError naming `path` and the
    line if it is not text or declares more than the limits."""
    index = SpecIndex()
    offset, scan_start, scan_number, header_start = 0, -1, 0, 0
    with os.fdopen(os.dup(fd), "rb") as stream:
        stream.seek(0)
        for number, line in enumerate(iter(lambda: stream.readline(MAX_LINE + 1), b""), 1):
            start, offset = offset, offset + len(line)
            if len(line) > MAX_LINE:
                raise ConvertError(f"{path}: line {number} is longer than {MAX_LINE:,} bytes")
            if b"\0" in line:
                raise ConvertError(f"{path}: line {number} holds binary data (NUL bytes), "
                                   "not SPEC text")
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConvertError(f"{path}: line {number} is not UTF-8 text (byte "
                                   f"{exc.start + 1}: {line[exc.start:exc.start + 1]!r})"
                                   ) from None
            if not text.startswith("#"):
                continue
            if text.startswith(("#S ", "#F ")):
                if scan_start >= 0:
                    index.scans.append((scan_number, scan_start, start))
                elif header_start >= 0:
                    index.headers.append((header_start, start))
                scan_start, header_start = (start, -1) if text[1] == "S" else (-1, start)
                scan_number = _first_int(text[3:])
            elif text.startswith("#L "):
                _at_most(path, number, text.count("  ") + 1, MAX_COLUMNS, "labels")
            elif text.startswith("#N "):
                _at_most(path, number, _first_int(text[3:]), MAX_COLUMNS, "columns")
            elif text.startswith("#@CHANN"):
                _at_most(path, number, _first_int(text[7:]), MAX_CHANNELS, "channels")
    if scan_start >= 0:
        index.scans.append((scan_number, scan_start, offset))
    return index


def _first_int(text: str) -> int:
    word = (text.split() or ["0"])[0]
    try:
        return int(float(word))
    except (ValueError, OverflowError):
        return 0


def _at_most(path: Path, number: int, count: int, limit: int, what: str) -> None:
    if count > limit:
        raise ConvertError(f"{path}: line {number} declares {count:,} {what}, more than "
                           f"the {limit:,} read at most")
