"""A scan read back from a file, in the form the recorders take: its `ScanInfo`, its
points and its `ScanEnd`. Converting is then replaying a scan into a recorder, so a
converted file is written by the very code that writes scans, and passes the same
readers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from macroserver.errors import MacroServerError
from macroserver.records import EndStatus, Point, ScanEnd, ScanInfo


class ConvertError(MacroServerError):
    """A file that cannot be converted (damaged, unknown scan, output in the way)."""

    reason = "ConvertError"


@dataclass
class SourceScan:
    """One scan of an input file; `points()` reads the points lazily, in order."""

    info: ScanInfo
    points: Callable[[], Iterator[Point]]
    end: ScanEnd


def end_from_text(text: str, end_time: float, points: int) -> ScanEnd:
    """A ScanEnd from a footer such as `done` or `failed: <why>` (unknown text: done)."""
    word, _, reason = text.partition(":")
    try:
        status = EndStatus(word.strip())
    except ValueError:
        status, reason = EndStatus.DONE, ""
    return ScanEnd(status, end_time, points, reason.strip())


def pick(scans: list[SourceScan], scan_id: int | None, path: str) -> list[SourceScan]:
    """All scans, or the one numbered `scan_id` (ConvertError naming those there are)."""
    if not scans:
        raise ConvertError(f"{path} holds no scan")
    if scan_id is None:
        return scans
    chosen = [s for s in scans if s.info.scan_id == scan_id]
    if not chosen:
        raise no_scan(path, scan_id, [s.info.scan_id for s in scans])
    return chosen[-1:]


def no_scan(path: str, scan_id: int, numbers: list[int]) -> ConvertError:
    """The error for a ScanID the file does not hold, naming (some of) those it does."""
    listed = ", ".join(str(n) for n in numbers[:20])
    return ConvertError(f"{path} has no scan {scan_id} (it has: {listed}"
                        f"{', ...' if len(numbers) > 20 else ''})")
