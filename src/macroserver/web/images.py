"""Image frames for the page: the newest frame of a 2D column (images are never in the
JSON packets), read from the scan's NeXus file, a self-saving detector's own file, or,
when no file is written, the channel's own Tango device; encoded as a colour-mapped PNG."""

from __future__ import annotations

import math
import struct
import zlib
from typing import Any, Callable, NamedTuple

import numpy as np

from macroserver.wire import error_text

IMAGE_MAX_SIDE = 512  # larger frames are decimated before encoding


class FrameRequest(NamedTuple):
    """Which frame to show, `column`'s at point `point_nb`: from NeXus entry `entry` of
    the file at `path` (as the NeXus recorder reported them); or from `dataset` of that
    file (a self-saving detector's own file, `frame_index` the frame's index in it); or,
    when no file holds it, the newest value of the Tango attribute `source` (the
    channel's own device)."""

    path: str
    entry: str
    column: str
    point_nb: int
    dataset: str = ""
    source: str = ""
    frame_index: int = 0


def _colormap() -> np.ndarray:
    """256 × RGB, viridis-like, from a few anchors."""
    anchors = np.array([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98),
                        (253, 231, 37)], dtype=float)
    positions = np.linspace(0, 255, len(anchors))
    levels = np.arange(256)
    return np.stack([np.interp(levels, positions, anchors[:, i]) for i in range(3)],
                    axis=1).astype(np.uint8)


COLORMAP = _colormap()


def png_image(frame: np.ndarray) -> tuple[bytes, float | None, float | None]:
    """An RGB PNG of a 2D frame (linear scale, min..max of its finite values)."""
    data = np.asarray(frame, dtype=np.float64)
    step = max(1, math.ceil(max(data.shape) / IMAGE_MAX_SIDE))
    data = data[::step, ::step]
    finite = np.isfinite(data)
    lo = hi = None
    # annotated: numpy's stubs type np.zeros(<shape of unknown length>) as 0-d
    levels: np.ndarray = np.zeros(data.shape, dtype=np.uint8)
    if finite.any():
        lo, hi = float(data[finite].min()), float(data[finite].max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        levels = np.where(finite, np.clip((data - lo) * scale, 0, 255), 0).astype(np.uint8)
    rgb = COLORMAP[levels]  # h × w × 3
    height, width = levels.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8), rgb.reshape(height, width * 3)],
                          axis=1)  # filter byte 0 before each row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
           + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))
    return png, lo, hi


def read_frame(request: FrameRequest) -> tuple[np.ndarray, int]:
    """The frame of `point_nb` (or the newest one flushed before it) from a NeXus file:
    from the column's dataset, or for a self-saving detector (whose column holds frame
    numbers) from the virtual dataset that links its files; or from the detector's own
    file when `dataset` names the frames there."""
    import h5py

    try:  # compressed datasets (Blosc, bitshuffle) need the filters registered
        import hdf5plugin  # noqa: F401
    except ImportError:
        pass
    from macroserver.recorders.nexus import nexus_name

    path, entry, column, point_nb = request.path, request.entry, request.column, request.point_nb
    with h5py.File(path, "r", swmr=True, locking=False) as f:
        if request.dataset:
            dataset = f[request.dataset]
            if dataset.shape[0] <= request.frame_index:
                raise LookupError(f"frame {request.frame_index} not written yet")
            return _two_d(dataset[request.frame_index], column, path), point_nb
        measurement = f[f"{entry}/measurement"]
        name = column if column in measurement else nexus_name(column, column)
        dataset = measurement[name]
        rows = dataset.shape[0]  # points recorded
        linked = f.get(f"{entry}/instrument/{name}/data")
        if dataset.ndim == 1 and isinstance(linked, h5py.Dataset) and linked.ndim == 3:
            dataset = linked  # a self-saving detector: its frames through the link
        if rows == 0:
            raise LookupError("no frame written yet")
        index = min(point_nb, rows - 1)
        frame = dataset[index]
    return _two_d(frame, column, path), index


def _two_d(frame: Any, column: str, where: str) -> np.ndarray:
    frame = np.asarray(frame)
    while frame.ndim > 2:
        frame = frame[0]
    if frame.ndim != 2:
        raise LookupError(f"{column} is not an image in {where}")
    return frame


def frame_png(request: FrameRequest, read_source: Callable[[str], Any] | None = None
              ) -> tuple[dict[str, Any], bytes]:
    """The page's `image` fields (without `url`) and the PNG of the requested frame;
    on failure no PNG and a `note` saying why. `read_source` reads a Tango attribute
    (for a request without a file)."""
    image: dict[str, Any] = {"column": request.column, "point_nb": None, "url": None,
                             "note": ""}
    png = b""
    where = request.path or request.source
    try:
        if request.path:
            frame, index = read_frame(request)
        elif request.source and read_source is not None:
            frame, index = _two_d(read_source(request.source), request.column,
                                  request.source), request.point_nb
        else:
            raise LookupError("no file and no device holds it")
        png, lo, hi = png_image(frame)
        image.update(point_nb=index, shape=list(frame.shape), min=lo, max=hi)
    except Exception as exc:  # noqa: BLE001 - file not there/flushed yet, no h5py...
        image["note"] = f"cannot read the frame from {where or 'anywhere'}: {error_text(exc)}"
    return image, png
