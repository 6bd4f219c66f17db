"""JSON recorder: Sardana-shaped `data_desc` / `record_data` / `record_end` packets.

Packets go to `context.listener.record_data("utf8_json", bytes)` (the Door's `RecordData`).
Unlike Sardana's, they are strict RFC 8259 JSON (NaN and ±Inf become `null`, numpy types
become plain numbers), carry a `schema_version`, and keep 1D/2D columns: spectra of at
most `MAX_INLINE_VALUES` values are sent inline as `{"shape": [n], "ref": ..., "values":
[...]}`, larger arrays and images as `{"shape": [...], "ref": <data file or null>}`. See
docs/json-packets.md.
"""

from __future__ import annotations

import time
from typing import Any, Callable, ClassVar

import numpy as np
import orjson

from macroserver import strictjson
from macroserver.metadata.sidecar import snapshot_record
from macroserver.recorders.base import Recorder, RecorderContext
from macroserver.recorders.coalesce import COALESCE_GAP, Coalescer
from macroserver.records import (
    Column,
    LinkedFrames,
    Point,
    PointBlock,
    Role,
    ScanEnd,
    ScanInfo,
    Written,
)

SCHEMA_VERSION = 1
CODEC = "utf8_json"
#: Largest 1D column sent inline; above it (and for every 2D column) a description is sent.
MAX_INLINE_VALUES = 1024


def encode(packet: dict[str, Any]) -> bytes:
    """Strict JSON bytes for `packet`."""
    return strictjson.dumps_bytes(packet)


def encode_block(packet: dict[str, Any]) -> bytes:
    """Strict JSON of a packet whose columns are numpy arrays (NaN and inf as null)."""
    try:
        return orjson.dumps(packet, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:  # a value orjson does not take (a numpy scalar of an odd type...)
        return encode(packet)


def data_ref(info: ScanInfo) -> Written | None:
    """Where the arrays not sent inline are: the NeXus entry if a recorder writes one,
    else the first file written, else None (as the recorders reported, `info.written`)."""
    return next((w for w in info.written if w.entry), next(iter(info.written), None))


def _is_inline(column: Column) -> bool:
    return column.ndim == 0 or (column.ndim == 1 and column.shape[0] <= MAX_INLINE_VALUES)


def _linked(linked: LinkedFrames) -> dict[str, Any]:
    """Where a self-saving detector's frames are (its column holds references to them)."""
    return {"column": linked.column, "folder": str(linked.folder),
            "files": [name for name, _ in linked.files(linked.planned)],
            "dataset": linked.dataset, "frames_per_file": linked.frames_per_file,
            "shape": list(linked.frame_shape), "dtype": linked.frame_dtype,
            "planned": linked.planned}


class JsonRecorder(Recorder):
    """Streams the scan as strict-JSON packets for GUIs and web clients."""

    name: ClassVar[str] = "json"
    format_name: ClassVar[str] = "JSON packets"
    enable_env: ClassVar[str | None] = "JsonRecorder"
    #: Points are published unless `JsonRecorder` is False (Sardana: off until a client,
    #: spock, sets it; here the web view and showscan work on a fresh environment).
    enable_default: ClassVar[bool] = True
    queue_size: ClassVar[int] = 8
    flush_gap: ClassVar[float] = COALESCE_GAP

    def __init__(self, context: RecorderContext) -> None:
        super().__init__(context)
        self._info: ScanInfo | None = None
        self._ref: dict[str, Any] = {"ref": None}
        self._getters: list[tuple[str, Callable[[Point], Any]]] = []
        self._columns: tuple[Column, ...] = ()
        self._blocks = True
        self._points: Coalescer[tuple[dict[str, Any], float]] = Coalescer()

    def start(self, info: ScanInfo) -> None:
        self._info = info
        ref = data_ref(info)
        self._ref = {"ref": str(ref.path), "entry": ref.entry or None} if ref else {"ref": None}
        self._columns = info.columns
        self._getters = [(c.name, self._getter(c)) for c in info.columns]
        self._blocks = self.context.env.get("JsonRecordBlocks", True) is not False
        self._send("data_desc", self._data_desc(info))

    def record(self, point: Point) -> None:
        """A `record_data` packet at once, unless the previous packet left less than
        COALESCE_GAP ago: then the point waits for `flush` (or the next point after the
        gap) and goes out with the others in one `record_block` (recorders/coalesce.py).
        With `JsonRecordBlocks` False, every point at once (clients that know only
        Sardana's packets)."""
        data: dict[str, Any] = {"point_nb": point.index}
        for name, get in self._getters:
            data[name] = get(point)
        if not self._blocks:
            self._send("record_data", data, taken=point.timestamp)
            return
        self._send_points(self._points.add((data, point.timestamp)))

    def flush(self) -> None:
        """Send the points waiting."""
        self._send_points(self._points.take())

    def _send_points(self, points: list[tuple[dict[str, Any], float]]) -> None:
        """One `record_data`, or a `record_block` of several points (none: nothing)."""
        if len(points) == 1:
            data, taken = points[0]
            self._send("record_data", data, taken=taken)
        elif points:
            first = points[0][0]
            self._send("record_block", {name: [data[name] for data, _ in points]
                                        for name in first},
                       taken=[taken for _, taken in points])

    def record_block(self, block: PointBlock) -> None:
        """One `record_block` packet: each column a list of the block's values (one
        Tango event for the block). With `JsonRecordBlocks` False, one `record_data`
        per point instead, for clients that know only those (Sardana's)."""
        if not self._blocks:
            super().record_block(block)
            return
        self.flush()
        count = len(block)
        data: dict[str, Any] = {"point_nb": list(range(block.first, block.first + count))}
        for column, (name, get) in zip(self._columns, self._getters):
            if name == "point_nb":
                continue
            values = block.columns.get(name)
            if values is None:
                data[name] = [None] * count
            elif column.ndim == 0:
                data[name] = np.asarray(values)
            else:
                data[name] = [get(Point(block.first + i, {name: v}, 0.0))
                              for i, v in enumerate(values)]
        self._send("record_block", data, encode_block,
                   taken=[float(t) for t in block.timestamps])
        self._points.sent()

    def end(self, end: ScanEnd) -> None:
        self.flush()
        info = self._info  # None if start() failed; end() is still called
        start_time = info.start_time if info else end.end_time
        counting = info.integration_time * end.points if info else 0.0
        self._send("record_end", {
            "endtime": time.ctime(end.end_time),
            "deadtime": max(0.0, end.end_time - start_time - counting),
            "status": str(end.status),
            "reason": end.reason,
            "points": end.points,
            "stats": dict(end.stats),
        })

    def _getter(self, column: Column) -> Callable[[Point], Any]:
        """How one column's value is read from a point (chosen once, at start)."""
        name = column.name
        if column.role is Role.POINT_NB:
            return lambda point: point.index
        if column.role is Role.FRAME:
            return self._frame_getter(column)
        if column.ndim == 0:
            return lambda point: point.values.get(name)
        if _is_inline(column):
            return lambda point: self._inline_or_described(point.values.get(name), column)
        return lambda point: self._describe(point.values.get(name), column)

    def _frame_getter(self, column: Column) -> Callable[[Point], Any]:
        """A self-saving detector's frame: where to read it, `{file, dataset, index}`."""
        assert self._info is not None
        linked = next(lk for lk in self._info.linked if lk.column == column.name)
        folder, dataset, name = str(linked.folder), linked.dataset, column.name

        def reference(point: Point) -> Any:
            frame = point.values.get(name)
            if frame is None:
                return None
            file_name, index = linked.locate(int(frame))
            return {"file": f"{folder}/{file_name}", "dataset": dataset, "index": index,
                    "frame": int(frame)}

        return reference

    def _inline_or_described(self, value: Any, column: Column) -> Any:
        if value is None:
            return None
        if isinstance(value, np.ndarray) and value.size > MAX_INLINE_VALUES:
            return self._describe(value, column)
        # values inside the description: Sardana's showscan shows a column's value as
        # text and fails on a bare list of numbers (its JsonRecorder sends no 1D values)
        return {**self._describe(value, column), "values": value}

    def _describe(self, value: Any, column: Column) -> dict[str, Any]:
        shape = value.shape if isinstance(value, np.ndarray) else column.shape
        return {"shape": list(shape), **self._ref}

    def _data_desc(self, info: ScanInfo) -> dict[str, Any]:
        reference = info.ref_motors[0] if info.ref_motors else None
        column_desc = []
        for column in info.columns:
            desc = column.to_dict()
            desc["data_units"] = column.unit
            desc["value_ref_enabled"] = not _is_inline(column)
            if column.role is Role.MOTOR:
                desc["is_reference"] = column.name == reference
            column_desc.append(desc)
        return {
            "column_desc": column_desc,
            "ref_moveables": list(info.ref_motors),
            "estimatedtime": info.estimated_time,
            "total_scan_intervals": info.npoints - 1 if info.npoints else None,
            "npoints": info.npoints,
            "starttime": time.ctime(info.start_time),
            "title": info.title,
            "macro": info.macro,
            "user": info.user,
            "counters": list(info.counters),
            "scanfile": list(info.scan_files),
            "scandir": str(info.scan_dir) if info.scan_dir is not None else None,
            "serialno": info.scan_id,
            "max_inline_values": MAX_INLINE_VALUES,
            "metadata": info.metadata.to_dict(),
            "snapshot": [snapshot_record(item) for item in info.snapshot],
            "linked_frames": [_linked(lk) for lk in info.linked],
            "written": [w.to_dict() for w in info.written],
        }

    def _send(self, kind: str, data: dict[str, Any],
              encoder: Callable[[dict[str, Any]], bytes] = encode,
              taken: float | list[float] | None = None) -> None:
        """`taken`: when the point was measured (seconds since the epoch), a list for a
        block; clients measure their delay with it."""
        macro_id = self._info.macro_id if self._info else ""
        packet: dict[str, Any] = {"type": kind, "data": data, "macro_id": macro_id,
                                  "schema_version": SCHEMA_VERSION}
        if taken is not None:
            packet["taken"] = taken
        self.context.listener.record_data(CODEC, encoder(packet))
