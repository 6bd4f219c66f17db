"""Reader (and format definition) of the stdlib shared-memory scan arrays ("shm").

The SharedMem recorder writes these when `SharedMemory` is `shm` (no PyMca needed).
One POSIX segment `/dev/shm/<program>_<ARRAY>` per array, little-endian:

    offset  size  field
    0       8     magic  b"MSRVSHM1"
    8       4     u32 version (1)
    12      4     u32 flags: bit 0 STALE = the writer replaced this segment, re-attach
    16      4     u32 rows (capacity)
    20      4     u32 cols
    24      4     u32 meta_capacity (bytes reserved for metadata)
    28      4     u32 meta_len (bytes of metadata in use)
    32      8     u64 npts: rows written so far (a COUNT, unlike SPEC's `nopts` index)
    40      8     u64 seq: seqlock, odd while the writer is changing the segment
    48      16    reserved (zero)
    64      meta_capacity   UTF-8 JSON object (labels, names, env, kind)
    64+meta_capacity  rows*cols float64, row-major

A reader copies the header, metadata and the first `npts` rows, and keeps the copy only
if `seq` was even and unchanged around it. See docs/shared-memory.md.
"""

from __future__ import annotations

import json
import mmap
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"MSRVSHM1"
VERSION = 1
HEADER = struct.Struct("<8sIIIIIIQQ16x")
HEADER_SIZE = 64
FLAG_STALE = 1
#: Byte offsets of the fields the writer updates in place.
FLAGS_OFFSET = 12
NPTS_OFFSET = 32
SEQ_OFFSET = 40
META_LEN_OFFSET = 28

assert HEADER.size == HEADER_SIZE


def segment_name(program: str, array: str) -> str:
    """The POSIX shm name (without the leading slash) of `array` of `program`."""
    return f"{program}_{array}"


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of one array: its metadata and the rows written so far."""

    meta: dict[str, Any]
    data: np.ndarray
    rows: int
    seq: int

    @property
    def npts(self) -> int:
        return len(self.data)

    @property
    def labels(self) -> list[str]:
        return list(self.meta.get("labels", []))


SHM_DIR = Path("/dev/shm")


def attach(name: str) -> mmap.mmap:
    """Map segment `name` read-only.

    Plain mmap rather than `multiprocessing.shared_memory`: on Python < 3.13 the latter
    registers the segment with the resource tracker, which unlinks it when the reader
    exits (and, in the writer's own process, cancels the writer's registration).
    """
    with open(SHM_DIR / name, "rb") as file:
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)


class ShmArrayReader:
    """Reads one array repeatedly; re-attaches when the writer replaced the segment."""

    def __init__(self, program: str, array: str = "SCAN_D") -> None:
        self.name = segment_name(program, array)
        self._map = attach(self.name)

    def read(self, timeout: float = 1.0) -> Snapshot:
        """A consistent snapshot; raises TimeoutError if the writer never lets go."""
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self._try_read()
            if snapshot is not None:
                return snapshot
            if time.monotonic() > deadline:
                raise TimeoutError(f"no consistent read of {self.name} within {timeout} s")
            time.sleep(0.0005)

    def close(self) -> None:
        self._map.close()

    def __enter__(self) -> ShmArrayReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _try_read(self) -> Snapshot | None:
        buf = self._map
        magic, version, flags, rows, cols, meta_cap, meta_len, npts, seq = HEADER.unpack_from(buf)
        if magic != MAGIC or version != VERSION:
            raise ValueError(f"{self.name} is not a version {VERSION} msrv shm array")
        if flags & FLAG_STALE:
            self._reattach()
            return None
        if seq % 2:
            return None
        meta = bytes(buf[HEADER_SIZE:HEADER_SIZE + meta_len])
        start = HEADER_SIZE + meta_cap
        count = min(npts, rows) * cols
        data = np.frombuffer(buf, dtype="<f8", count=count, offset=start).copy()
        # the copy above may be torn; it is kept only if no write started meanwhile
        if struct.unpack_from("<Q", buf, SEQ_OFFSET)[0] != seq:
            return None
        return Snapshot(json.loads(meta), data.reshape(-1, cols), rows, seq)

    def _reattach(self) -> None:
        try:
            fresh = attach(self.name)
        except FileNotFoundError:  # between the writer's unlink and re-create
            return
        self._map.close()
        self._map = fresh


def read_scan(program: str, array: str = "SCAN_D") -> Snapshot:
    """One snapshot of `array` (the scan by default) of `program`."""
    with ShmArrayReader(program, array) as reader:
        return reader.read()


def main(argv: list[str] | None = None) -> int:
    """`python -m macroserver.shmreader PROGRAM [ARRAY]`: print labels and rows; a missing
    or foreign segment is one `Error:` line and exit status 4 (README's exit statuses)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m macroserver.shmreader",
        description="Print a scan's shared-memory array (SharedMemory shm): its metadata "
                    "as one JSON line, then one line per point.")
    parser.add_argument("program", help="the SharedMemoryProgram (by default the door "
                        "name, sanitized: door/lab-1/01 -> door_lab_1_01)")
    parser.add_argument("array", nargs="?", default="SCAN_D",
                        help="SCAN_D (the scan, default) or MCA_<COLUMN>")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's usage error is 2, which means "stopped" here
        return 4 if exc.code == 2 else int(exc.code or 0)
    try:
        snapshot = read_scan(args.program, args.array)
    except FileNotFoundError:
        print(f"Error: no shared-memory array {SHM_DIR / f'{args.program}_{args.array}'}: "
              "no scan has published it (senv SharedMemory shm, and SharedMemoryProgram "
              "or the door name as PROGRAM)", file=sys.stderr)
        return 4
    except (ValueError, TimeoutError, OSError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 4
    print(json.dumps(snapshot.meta))
    for row in snapshot.data:
        print(" ".join(repr(float(v)) for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
