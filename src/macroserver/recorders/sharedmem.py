"""SharedMem recorder: live scan data in shared memory for online viewers.

`senv SharedMemory sps` writes SPEC-compatible shared memory with PyMca's `sps` module
(optional extra `sps`, i.e. PyMca5): array `SCAN_D` (flags TAG_ARRAY|TAG_SCAN, one row per
point, one column per scalar column) and `SCAN_D_ENV`, which PyMca's online viewer shows
as a scan, plus one `MCA_<NAME>` array holding the last spectrum of each 1D column.
`senv SharedMemory shm` writes the same arrays with the stdlib's
`multiprocessing.shared_memory` in the layout of `macroserver.shmreader` (no PyMca).

The program ("spec version") is `SharedMemoryProgram`, else the door name sanitized.
Arrays live as long as the server process: each scan re-creates them, the process exit
removes them. See docs/shared-memory.md.
"""

from __future__ import annotations

import atexit
import fcntl
import importlib.util
import json
import os
import re
import struct
import threading
from multiprocessing import shared_memory
from typing import Any, ClassVar, Mapping, Protocol, Sequence

import numpy as np

from macroserver import shmreader as fmt
from macroserver.recorders.base import Recorder, RecorderContext
from macroserver.records import Column, EndStatus, Point, Role, ScanEnd, ScanInfo
from macroserver.streams import Level

SCAN_ARRAY = "SCAN_D"
#: Rows reserved when the number of points is unknown; doubled whenever a scan needs more.
DEFAULT_ROWS = 256
#: SPEC's environment array: 50 strings of 1024 characters.
ENV_ROWS, ENV_COLS = 50, 1024
#: sps array names are limited to 31 characters.
MAX_NAME = 31
PROGRAM_ENV = "SharedMemoryProgram"
#: Largest scan array (rows x scalar columns x 8 bytes): shared memory is RAM, and a
#: 1e8-point scan would otherwise reserve gigabytes before its first point.
MAX_SEGMENT_BYTES = 256 << 20
SPS_INSTALL_HINT = (
    "SharedMemory 'sps' needs PyMca's sps module, which is not installed here: "
    "install it with `pip install 'tango-macroserver[sps]'` (or `pip install PyMca5`), "
    "or use `senv SharedMemory shm` (stdlib shared memory, read with macroserver.shmreader)"
)


def sanitize(name: str, fallback: str = "msrv") -> str:
    """A name usable as sps program/array and POSIX shm name: [A-Za-z0-9_], ≤ 31 chars."""
    clean = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")[:MAX_NAME]
    return clean or fallback


def spec_label(label: str) -> str:
    """One `axistitles` entry: PyMca splits on blanks and groups `{...}`."""
    return f"{{{label}}}" if re.search(r"\s", label) else label


class Backend(Protocol):
    """What the recorder needs from a shared-memory implementation."""

    def create(self, array: str, rows: int, cols: int, kind: str,
               env: Mapping[str, str] | None, labels: Sequence[str] = ()) -> None:
        """(Re-)create `array` empty; `env` (if given) is its initial environment."""

    def resize(self, array: str, rows: int, keep: int) -> None:
        """Give `array` `rows` rows, keeping the data of the first `keep` rows."""

    def put_point(self, array: str, index: int, row: np.ndarray) -> None:
        """Write row `index` and publish it as the last point."""

    def put_env(self, array: str, env: Mapping[str, str]) -> None:
        """Set environment keys of `array`."""


class SpsBackend:
    """SPEC shared memory through PyMca's `sps` (SysV segments, removed at process exit)."""

    def __init__(self, program: str) -> None:
        try:
            from PyMca5.PyMcaIO import sps
        except ImportError as exc:
            raise RuntimeError(SPS_INSTALL_HINT) from exc
        self._sps = sps
        self._program = program
        self._with_env: set[str] = set()

    def create(self, array: str, rows: int, cols: int, kind: str,
               env: Mapping[str, str] | None, labels: Sequence[str] = ()) -> None:
        sps = self._sps
        tag = sps.TAG_SCAN if kind == "scan" else sps.TAG_MCA
        sps.create(self._program, array, rows, cols, sps.DOUBLE, sps.TAG_ARRAY | tag)
        if env is None:
            self._with_env.discard(array)
            return
        env_array = array + "_ENV"
        try:  # raises "Could not create mathematical array", yet creates it (formats.md §4.1)
            sps.create(self._program, env_array, ENV_ROWS, ENV_COLS, sps.STRING)
        except sps.error:
            if env_array not in sps.getarraylist(self._program):
                raise
        self._with_env.add(array)
        self.put_env(array, {**env, "nopts": "-1"})

    def resize(self, array: str, rows: int, keep: int) -> None:
        sps = self._sps
        kept = sps.getdata(self._program, array)[:keep]
        _, cols, _, flags = sps.getarrayinfo(self._program, array)
        sps.create(self._program, array, rows, cols, sps.DOUBLE, flags)
        grown = np.zeros((rows, cols))
        grown[:keep] = kept
        sps.putdata(self._program, array, grown)

    def put_point(self, array: str, index: int, row: np.ndarray) -> None:
        self._sps.putdatarow(self._program, array, index, row)
        if array in self._with_env:  # PyMca plots int(nopts) + 1 rows: nopts is an index
            self._sps.putenv(self._program, array + "_ENV", "nopts", str(index))

    def put_env(self, array: str, env: Mapping[str, str]) -> None:
        for key, value in env.items():
            self._sps.putenv(self._program, array + "_ENV", key, value)


class SegmentInUse(RuntimeError):
    """Another live process writes a segment of this name (the same program name)."""


class _ShmArray:
    """One segment in the `macroserver.shmreader` layout, written under its seqlock.

    The writer holds an exclusive `flock` on the segment while it lives: that is how
    another process tells a live segment from a leftover of a killed writer."""

    def __init__(self, name: str, rows: int, cols: int, meta: dict[str, Any]) -> None:
        encoded = json.dumps(meta).encode()
        self.meta = meta
        self.meta_capacity = max(4096, -(-2 * len(encoded) // 64) * 64)
        self.shm, self._owner_fd = _create_segment(
            name, fmt.HEADER_SIZE + self.meta_capacity + rows * cols * 8)
        self.seq = 0
        fmt.HEADER.pack_into(self.buf, 0, fmt.MAGIC, fmt.VERSION, 0, rows, cols,
                             self.meta_capacity, 0, 0, 0)
        self.data = np.ndarray((rows, cols), dtype="<f8", buffer=self.buf,
                               offset=fmt.HEADER_SIZE + self.meta_capacity)
        self._write_meta(encoded)

    @property
    def buf(self) -> memoryview:
        buf = self.shm.buf
        if buf is None:  # only after retire() closed the segment
            raise ValueError(f"{self.shm.name}: shared memory segment is closed")
        return buf

    def put_rows(self, first: int, rows: np.ndarray) -> None:
        """Write `rows` from row `first` on; the last of them becomes the last point."""
        self._bump_seq()
        self.data[first:first + len(rows)] = rows
        struct.pack_into("<Q", self.buf, fmt.NPTS_OFFSET, first + len(rows))
        self._bump_seq()

    def update_meta(self, env: Mapping[str, str]) -> None:
        self.meta["env"].update(env)
        encoded = json.dumps(self.meta).encode()
        if len(encoded) > self.meta_capacity:
            raise ValueError(f"{self.shm.name}: metadata over {self.meta_capacity} bytes")
        self._bump_seq()
        self._write_meta(encoded)
        self._bump_seq()

    def retire(self) -> None:
        """Flag the segment stale for attached readers, then release and unlink it."""
        flags = struct.unpack_from("<I", self.buf, fmt.FLAGS_OFFSET)[0]
        struct.pack_into("<I", self.buf, fmt.FLAGS_OFFSET, flags | fmt.FLAG_STALE)
        del self.data  # the numpy view pins the buffer; close() fails while it exists
        self.shm.close()
        self.shm.unlink()
        os.close(self._owner_fd)

    def _write_meta(self, encoded: bytes) -> None:
        self.buf[fmt.HEADER_SIZE:fmt.HEADER_SIZE + len(encoded)] = encoded
        struct.pack_into("<I", self.buf, fmt.META_LEN_OFFSET, len(encoded))

    def _bump_seq(self) -> None:
        self.seq += 1
        struct.pack_into("<Q", self.buf, fmt.SEQ_OFFSET, self.seq)


def _create_segment(name: str, size: int) -> tuple[shared_memory.SharedMemory, int]:
    """Create `name` and lock it (returns the segment and the descriptor holding the lock).

    A segment of that name left by a killed writer (nobody holds its lock) is removed
    first; one whose writer lives raises SegmentInUse and is left alone."""
    try:
        segment = shared_memory.SharedMemory(name=name, create=True, size=size)
    except FileExistsError:
        _remove_leftover(name)
        segment = shared_memory.SharedMemory(name=name, create=True, size=size)
    owner_fd = os.open(fmt.SHM_DIR / name, os.O_RDONLY)
    fcntl.flock(owner_fd, fcntl.LOCK_EX)
    return segment, owner_fd


def _remove_leftover(name: str) -> None:
    try:
        probe = os.open(fmt.SHM_DIR / name, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SegmentInUse(f"shared memory segment {name} is in use by another "
                               "process") from None
        os.unlink(fmt.SHM_DIR / name)
    finally:
        os.close(probe)


class ShmBackend:
    """Stdlib POSIX shared memory; a segment lives until replaced or the process exits."""

    # Segments outlive the scan that wrote them (readers look at the last scan), so they
    # belong to the process: removed when it exits, the hook registered with the first.
    _segments: ClassVar[dict[str, _ShmArray]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, program: str) -> None:
        self._program = program

    @property
    def program(self) -> str:
        return self._program

    def use_own_program(self) -> str:
        """Switch to a program name of this process (`<program>_<pid>`); returns it."""
        suffix = f"_{os.getpid()}"
        self._program = self._program[:MAX_NAME - len(suffix)] + suffix
        return self._program

    def create(self, array: str, rows: int, cols: int, kind: str,
               env: Mapping[str, str] | None, labels: Sequence[str] = ()) -> None:
        meta = {"program": self._program, "array": array, "kind": kind,
                "labels": list(labels), "env": dict(env or {})}
        self._replace(array, rows, cols, meta)

    def resize(self, array: str, rows: int, keep: int) -> None:
        old = self._segment(array)
        kept = old.data[:keep].copy()
        self._replace(array, rows, old.data.shape[1], old.meta).put_rows(0, kept)

    def put_point(self, array: str, index: int, row: np.ndarray) -> None:
        self._segment(array).put_rows(index, row[np.newaxis])

    def put_env(self, array: str, env: Mapping[str, str]) -> None:
        self._segment(array).update_meta(env)

    def _segment(self, array: str) -> _ShmArray:
        return self._segments[fmt.segment_name(self._program, array)]

    def _replace(self, array: str, rows: int, cols: int, meta: dict[str, Any]) -> _ShmArray:
        name = fmt.segment_name(self._program, array)
        with self._lock:
            old = self._segments.pop(name, None)
            if old is not None:
                old.retire()
            elif not self._segments:
                atexit.register(ShmBackend.unlink_all)
            new = self._segments[name] = _ShmArray(name, rows, cols, meta)
        return new

    @classmethod
    def unlink_all(cls) -> None:
        """Remove every segment this process created (registered with `atexit` when
        the first one is created; unregistered once none is left)."""
        with cls._lock:
            while cls._segments:
                cls._segments.popitem()[1].retire()
            atexit.unregister(ShmBackend.unlink_all)

BACKENDS: dict[str, type[SpsBackend] | type[ShmBackend]] = {"sps": SpsBackend, "shm": ShmBackend}


def _pymca_installed() -> bool:
    """Whether PyMca5 (the `sps` backend) can be imported, without importing it."""
    try:
        return importlib.util.find_spec("PyMca5") is not None
    except (ImportError, ValueError):  # ValueError: blocked by a None in sys.modules
        return False


def scan_columns(info: ScanInfo) -> list[Column]:
    """The scalar columns of `SCAN_D`: motors first (x defaults to the first column)."""
    scalars = [c for c in info.columns if c.ndim == 0]
    return [c for c in scalars if c.role is Role.MOTOR] + [
        c for c in scalars if c.role is not Role.MOTOR]


def scan_env(info: ScanInfo, columns: Sequence[Column]) -> dict[str, str]:
    """`SCAN_D_ENV` at scan start (`nopts` is the backend's business)."""
    counters = [c.label for c in columns if c.role is Role.COUNTER]
    datafile = ""
    if info.scan_files:
        first = info.scan_files[0]
        datafile = str(info.scan_dir / first) if info.scan_dir is not None else first
    return {
        "title": info.title,
        "axistitles": " ".join(spec_label(c.label) for c in columns),
        "xlabel": columns[0].label if columns else "",
        "ylabel": counters[0] if counters else "",
        "datafile": datafile,
        "scanno": str(info.scan_id),
        "started": "1",
        "ended": "0",
        "aborted": "0",
        "status": "running",
    }


class SharedMemRecorder(Recorder):
    """Publishes each point to shared memory so online viewers (PyMca) plot the scan live."""

    name: ClassVar[str] = "sharedmem"
    format_name: ClassVar[str] = "shared memory"
    enable_env: ClassVar[str] = "SharedMemory"
    # what the "Use senv SharedMemory ..." hint suggests: sps only where PyMca5 is there
    enable_example: ClassVar[str] = "sps" if _pymca_installed() else "shm"

    def __init__(self, context: RecorderContext) -> None:
        super().__init__(context)
        self._backend: Backend | None = None
        self._names: list[str] = []
        self._spectra: dict[str, tuple[str, int]] = {}
        self._rows = 0

    @property
    def program(self) -> str:
        configured = self.context.env.get(PROGRAM_ENV)
        return sanitize(str(configured) if configured else self.context.door_name)

    def start(self, info: ScanInfo) -> None:
        kind = str(self.context.env.get(self.enable_env, "sps")).strip().lower()
        if kind not in BACKENDS:
            raise ValueError(f"SharedMemory must be 'sps' or 'shm', not {kind!r}")
        backend = BACKENDS[kind](self.program)
        columns = scan_columns(info)
        self._names = [c.name for c in columns]
        self._rows = max(1, info.npoints or DEFAULT_ROWS)
        self._check_size(self._rows)
        create = (SCAN_ARRAY, self._rows, len(columns), "scan", scan_env(info, columns),
                  [c.label for c in columns])
        try:
            backend.create(*create)
        except SegmentInUse as exc:
            assert isinstance(backend, ShmBackend)  # the only backend that raises it
            taken, own = backend.program, backend.use_own_program()
            self.context.message(Level.WARNING, (
                f"{exc} (program {taken!r}, another server or `macroserver run`?); "
                f"this scan's shared memory is published as program {own!r} instead "
                f"(set {PROGRAM_ENV} to choose a name)"))
            backend.create(*create)
        for column in info.columns_with(Role.SPECTRUM):
            array = sanitize(f"MCA_{column.name}".upper())
            backend.create(array, 1, column.shape[0], "mca", None, [column.label])
            self._spectra[column.name] = (array, column.shape[0])
        self._backend = backend

    def record(self, point: Point) -> None:
        backend = self._backend
        assert backend is not None, "record() before start()"
        if point.index >= self._rows:
            self._rows = max(2 * self._rows, point.index + 1)
            self._check_size(self._rows)
            backend.resize(SCAN_ARRAY, self._rows, keep=point.index)
        row = np.array([point.values.get(n) for n in self._names], dtype=np.float64)
        backend.put_point(SCAN_ARRAY, point.index, row)
        for column, (array, length) in self._spectra.items():
            spectrum = point.values.get(column)
            if spectrum is not None:
                values = np.asarray(spectrum, dtype=np.float64).ravel()[:length]
                backend.put_point(array, 0, np.pad(values, (0, length - len(values))))

    def _check_size(self, rows: int) -> None:
        size = rows * len(self._names) * 8
        if size > MAX_SEGMENT_BYTES:
            raise ValueError(
                f"shared memory for {rows:,} points x {len(self._names)} columns would take "
                f"{size / 2**20:,.0f} MiB, more than {MAX_SEGMENT_BYTES >> 20} MiB; the scan "
                "is not published to shared memory (its files are written as usual)")

    def end(self, end: ScanEnd) -> None:
        if self._backend is not None:  # None when start() failed: nothing was published
            self._backend.put_env(SCAN_ARRAY, {
                "ended": "1",
                "aborted": "0" if end.status is EndStatus.DONE else "1",
                "status": end.status_text,
            })
