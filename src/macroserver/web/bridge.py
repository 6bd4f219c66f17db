"""The Tango side of `macroserver web`: what every door is doing, kept up to date by events.

`Hub` finds the doors through the Tango database (`TANGO_HOST`), subscribes to each door's
State, MacroStatus, Output and RecordData (the JsonRecorder packets) and to the
Environment of each door's MacroServer (for ScanHistory), keeps a model of it all and
hands every change to the connected browsers as small JSON messages (`kind` + fields).

It only reads: it never calls a command on a door, never writes an attribute.

Images are not in the JSON packets (2D values arrive as `{"shape", "ref"}`): when `ref`
is an HDF5/NeXus file the hub reads the newest frame there (h5py, SWMR mode) at most
every `IMAGE_INTERVAL` seconds and serves it as a PNG; otherwise only the shape is shown.
"""

from __future__ import annotations

import json
import math
import queue
import struct
import threading
import time
import zlib
from collections import deque
from typing import Any, Callable, Iterable

import numpy as np

OUTPUT_LINES = 200
STATE_LOG = 50
HISTORY = 20
IMAGE_INTERVAL = 0.5  # seconds between two reads of the image file per door
IMAGE_MAX_SIDE = 512  # larger frames are decimated before encoding
CLIENT_QUEUE = 20000  # messages a slow browser may lag; then it is dropped and reconnects
REDISCOVER_INTERVAL = 10.0
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nxs", ".nx", ".nx5")

Message = dict[str, Any]


def dumps(message: Message) -> str:
    """Strict JSON (never NaN/Infinity: browsers' JSON.parse refuses them)."""
    try:
        return json.dumps(message, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(_clean(message), allow_nan=False, separators=(",", ":"))


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


# -- images ---------------------------------------------------------------------------

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
    levels = np.zeros(data.shape, dtype=np.uint8)
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


def read_frame(path: str, serialno: Any, column: str, point_nb: int
               ) -> tuple[np.ndarray, int]:
    """The frame of `point_nb` (or the newest one flushed before it) from a NeXus file."""
    import h5py

    try:  # compressed datasets (Blosc, bitshuffle) need the filters registered
        import hdf5plugin  # noqa: F401
    except ImportError:
        pass
    from macroserver.recorders.nexus import nexus_name

    with h5py.File(path, "r", swmr=True, locking=False) as f:
        measurement = f[f"entry{serialno}/measurement"]
        name = column if column in measurement else nexus_name(column, column)
        dataset = measurement[name]
        rows = dataset.shape[0]
        if rows == 0:
            raise LookupError("no frame written yet")
        index = min(point_nb, rows - 1)
        frame = dataset[index]
    while frame.ndim > 2:
        frame = frame[0]
    if frame.ndim != 2:
        raise LookupError(f"{column} is not an image in {path}")
    return frame, index


# -- the model ------------------------------------------------------------------------

class DoorModel:
    """What the page shows about one door."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = "UNKNOWN"
        self.state_error = ""
        self.state_log: deque[tuple[float, str]] = deque(maxlen=STATE_LOG)
        self.macro: dict[str, Any] = {}
        self.output: deque[str] = deque(maxlen=OUTPUT_LINES)
        self.macro_server = ""
        self.scan: dict[str, Any] | None = None  # desc, rows, end, macro_id
        self.spectra: dict[str, Any] = {}  # column -> {point_nb, values}
        self.image: dict[str, Any] | None = None
        self.image_png = b""
        self.image_seq = 0
        self.image_pending: tuple[str, Any, str, int] | None = None  # frame to read next
        self.image_request: tuple[str, Any, str, int] | None = None  # newest frame asked
        self.image_last_read = 0.0

    def snapshot(self) -> Message:
        return {
            "name": self.name, "state": self.state, "state_error": self.state_error,
            "state_log": [{"t": t, "state": s} for t, s in self.state_log],
            "macro": self.macro, "output": list(self.output),
            "macro_server": self.macro_server, "scan": self.scan,
            "spectra": self.spectra, "image": self.image,
        }


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (int, float, bool))


class Hub:
    """Tango events in, browser messages out. Thread-safe; every method may block briefly."""

    def __init__(self, door_names: Iterable[str] | None = None,
                 proxy_factory: Callable[[str], Any] | None = None) -> None:
        self._fixed = list(door_names) if door_names else None
        self._proxy_factory = proxy_factory
        self._lock = threading.RLock()
        self._clients: list[queue.Queue] = []
        self.doors: dict[str, DoorModel] = {}
        self.histories: dict[str, list[dict[str, Any]]] = {}
        self._proxies: list[tuple[Any, int]] = []
        self._server_proxies: dict[str, Any] = {}
        self._stop = threading.Event()
        self._image_wakeup = threading.Event()
        self._threads: list[threading.Thread] = []
        self.discovery_error = ""

    # -- clients ----------------------------------------------------------------------

    def connect(self) -> tuple[str, queue.Queue]:
        """The snapshot (JSON text) and the queue of every later message (JSON texts),
        consistent with each other."""
        box: queue.Queue = queue.Queue(CLIENT_QUEUE)
        with self._lock:
            self._clients.append(box)
            return dumps(self.snapshot()), box

    def disconnect(self, box: queue.Queue) -> None:
        with self._lock:
            if box in self._clients:
                self._clients.remove(box)

    def snapshot(self) -> Message:
        with self._lock:
            return {
                "kind": "snapshot",
                "doors": [self.doors[n].snapshot() for n in sorted(self.doors)],
                "history": self.histories,
                "discovery_error": self.discovery_error,
            }

    def snapshot_json(self) -> str:
        with self._lock:
            return dumps(self.snapshot())

    def _send(self, message: Message) -> None:
        """Called with the lock held, so messages keep the order of the model changes;
        encoded at once, since the model they point into changes afterwards."""
        text = dumps(message)
        for box in list(self._clients):
            try:
                box.put_nowait(text)
            except queue.Full:  # too slow: drop it; EventSource reconnects for a snapshot
                self._clients.remove(box)
                box.queue.clear()
                box.put_nowait(None)

    # -- lifetime -----------------------------------------------------------------------

    def start(self) -> None:
        self.discover()
        for target in (self._rediscover_loop, self._image_loop):
            thread = threading.Thread(target=target, daemon=True, name=f"web-{target.__name__}")
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        self._stop.set()
        self._image_wakeup.set()
        for proxy, event_id in self._proxies:
            try:
                proxy.unsubscribe_event(event_id)
            except Exception:  # noqa: BLE001 - the device may be gone already
                pass
        self._proxies.clear()
        with self._lock:
            for box in self._clients:
                box.put_nowait(None)
            self._clients.clear()
        for thread in self._threads:
            thread.join(timeout=2)

    def _proxy(self, name: str) -> Any:
        if self._proxy_factory is not None:
            return self._proxy_factory(name)
        import tango

        proxy = tango.DeviceProxy(name)
        proxy.set_timeout_millis(3000)
        return proxy

    def _door_names(self) -> list[str]:
        if self._fixed is not None:
            return self._fixed
        import tango

        return sorted(tango.Database().get_device_exported_for_class("Door").value_string)

    def discover(self) -> None:
        """Subscribe to doors not yet known (exported in the database now)."""
        try:
            names = self._door_names()
            self.discovery_error = ""
        except Exception as exc:  # noqa: BLE001 - DevFailed or a bad TANGO_HOST
            self.discovery_error = f"cannot list the doors: {_error_text(exc)}"
            return
        for name in names:
            if name.lower() in (n.lower() for n in self.doors):
                continue
            with self._lock:
                self.doors[name] = DoorModel(name)
                self._send({"kind": "door", "door": self.doors[name].snapshot()})
            try:
                self._watch_door(name)
            except Exception as exc:  # noqa: BLE001
                with self._lock:
                    self._set_state(self.doors[name], "UNKNOWN", _error_text(exc))

    def _rediscover_loop(self) -> None:
        while not self._stop.wait(REDISCOVER_INTERVAL):
            self.discover()

    def _subscribe(self, proxy: Any, attr: str, callback: Callable[[Any], None]) -> None:
        import tango

        kwargs: dict[str, Any] = {}
        if hasattr(tango, "EventSubMode"):
            kwargs["sub_mode"] = tango.EventSubMode.AsyncRead
        else:  # PyTango < 10.1
            kwargs["stateless"] = True
        event_id = proxy.subscribe_event(attr, tango.EventType.CHANGE_EVENT, callback, **kwargs)
        self._proxies.append((proxy, event_id))

    def _watch_door(self, name: str) -> None:
        proxy = self._proxy(name)
        model = self.doors[name]
        self._subscribe(proxy, "State", lambda ev: self._on_state(model, ev))
        self._subscribe(proxy, "MacroStatus", lambda ev: self._on_macro_status(model, ev))
        self._subscribe(proxy, "Output", lambda ev: self._on_output(model, ev))
        self._subscribe(proxy, "RecordData", lambda ev: self._on_record(model, ev))
        try:
            server = str(proxy.read_attribute("MacroServer").value)
        except Exception:  # noqa: BLE001 - door down now; history comes once it is up
            return
        with self._lock:
            model.macro_server = server
            self._send({"kind": "door_info", "door": name, "macro_server": server})
        if server and server.lower() not in self._server_proxies:
            server_proxy = self._proxy(server)
            self._server_proxies[server.lower()] = server_proxy
            self._subscribe(server_proxy, "Environment",
                            lambda ev: self._on_environment(server, ev))

    # -- Tango events -------------------------------------------------------------------

    def _on_state(self, model: DoorModel, event: Any) -> None:
        with self._lock:
            if event.err:
                self._set_state(model, "UNKNOWN", _event_error(event))
            elif event.attr_value is not None and event.attr_value.value is not None:
                self._set_state(model, str(event.attr_value.value), "")

    def _set_state(self, model: DoorModel, state: str, error: str) -> None:
        if state == model.state and error == model.state_error:
            return
        model.state, model.state_error = state, error
        now = time.time()
        if not model.state_log or model.state_log[-1][1] != state:
            model.state_log.append((now, state))
        self._send({"kind": "state", "door": model.name, "state": state, "error": error,
                    "t": now})

    def _on_macro_status(self, model: DoorModel, event: Any) -> None:
        value = _encoded(event)
        if not value:
            return
        for status in json.loads(value):
            with self._lock:
                model.macro = status
                self._send({"kind": "macro", "door": model.name, "macro": status})

    def _on_output(self, model: DoorModel, event: Any) -> None:
        if event.err or event.attr_value is None or event.attr_value.value is None:
            return
        lines = [str(line) for line in event.attr_value.value]
        with self._lock:
            model.output.extend(lines)
            self._send({"kind": "output", "door": model.name, "lines": lines})

    def _on_record(self, model: DoorModel, event: Any) -> None:
        value = _encoded(event)
        if not value:
            return
        packet = json.loads(value)
        kind, data = packet.get("type"), packet.get("data") or {}
        with self._lock:
            if kind == "data_desc":
                model.scan = {"macro_id": packet.get("macro_id"), "desc": data, "rows": [],
                              "end": None}
                model.spectra = {}
                model.image = None
                model.image_pending = model.image_request = None
                self._send({"kind": "desc", "door": model.name, "scan": model.scan})
            elif kind == "record_data" and model.scan is not None:
                self._on_point(model, data)
            elif kind == "record_end" and model.scan is not None:
                model.scan["end"] = data
                if model.image_request is not None:  # the last frame, flushed at the end
                    model.image_pending = model.image_request
                    self._image_wakeup.set()
                self._send({"kind": "end", "door": model.name, "end": data})

    def _on_point(self, model: DoorModel, data: dict[str, Any]) -> None:
        assert model.scan is not None
        row = {k: v for k, v in data.items() if _scalar(v)}
        spectra = {k: v for k, v in data.items() if isinstance(v, list)}
        model.scan["rows"].append(row)
        point_nb = data.get("point_nb", len(model.scan["rows"]) - 1)
        for name, values in spectra.items():
            model.spectra[name] = {"point_nb": point_nb, "values": values}
        images = {k: v for k, v in data.items()
                  if isinstance(v, dict) and len(v.get("shape") or []) == 2}
        self._send({"kind": "point", "door": model.name, "row": row,
                    "spectra": {k: model.spectra[k] for k in spectra}})
        if images:
            column, ref = next(iter(images.items()))
            serialno = model.scan["desc"].get("serialno")
            path = ref.get("ref") or ""
            if path.lower().endswith(HDF5_SUFFIXES):
                model.image_pending = model.image_request = (path, serialno, column,
                                                             int(point_nb))
                self._image_wakeup.set()
            elif model.image is None or model.image.get("column") != column:
                model.image = {"column": column, "shape": ref.get("shape"), "point_nb": None,
                               "url": None, "note": "image not readable from "
                               + (path or "no file") + " (only HDF5/NeXus files are read)"}
                self._send({"kind": "image", "door": model.name, "image": model.image})

    def _on_environment(self, server: str, event: Any) -> None:
        value = _encoded(event)
        if not value:
            return
        history = json.loads(value).get("ScanHistory") or []
        history = [h for h in history if isinstance(h, dict)][-HISTORY:]
        with self._lock:
            if self.histories.get(server) == history:
                return
            self.histories[server] = history
            self._send({"kind": "history", "macro_server": server, "history": history})

    # -- images -------------------------------------------------------------------------

    def _image_loop(self) -> None:
        while not self._stop.is_set():
            self._image_wakeup.wait(1.0)
            self._image_wakeup.clear()
            for model in list(self.doors.values()):
                pending = model.image_pending
                wait = model.image_last_read + IMAGE_INTERVAL - time.monotonic()
                if pending is None:
                    continue
                if wait > 0:
                    self._stop.wait(wait)
                    self._image_wakeup.set()  # come back for the newest request
                    continue
                model.image_pending = None
                model.image_last_read = time.monotonic()
                self._read_image(model, *pending)

    def _read_image(self, model: DoorModel, path: str, serialno: Any, column: str,
                    point_nb: int) -> None:
        image: dict[str, Any] = {"column": column, "point_nb": None, "url": None, "note": ""}
        png = b""
        try:
            frame, index = read_frame(path, serialno, column, point_nb)
            png, lo, hi = png_image(frame)
            image.update(point_nb=index, shape=list(frame.shape), min=lo, max=hi)
        except Exception as exc:  # noqa: BLE001 - file not there/flushed yet, no h5py...
            image["note"] = f"cannot read the frame from {path}: {_error_text(exc)}"
        with self._lock:
            if png:
                model.image_seq += 1
                model.image_png = png
                image["url"] = f"/image?door={model.name}&seq={model.image_seq}"
            elif model.image and model.image.get("url"):
                return  # keep showing the last good frame
            model.image = image
            self._send({"kind": "image", "door": model.name, "image": image})

    def image_png(self, door: str) -> bytes:
        with self._lock:
            model = self.doors.get(door)
            return model.image_png if model is not None else b""


def _encoded(event: Any) -> str:
    """The text of a DevEncoded utf8_json event ("" for errors and empty values)."""
    if event.err or event.attr_value is None or event.attr_value.value is None:
        return ""
    _, data = event.attr_value.value
    if isinstance(data, (bytes, bytearray)):
        return bytes(data).decode("utf-8") if data else ""
    return str(data or "")


def _event_error(event: Any) -> str:
    try:
        return str(event.errors[0].desc).strip()
    except Exception:  # noqa: BLE001
        return "event error"


def _error_text(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if args and hasattr(args[0], "desc"):
        return str(args[0].desc).strip()
    return str(exc) or type(exc).__name__
