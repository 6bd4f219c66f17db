"""The Tango side of `macroserver web`: what every door is doing, kept up to date by events.

`Hub` finds the doors through the Tango database (`TANGO_HOST`), subscribes to each door's
State, MacroStatus, Output and RecordData (the JsonRecorder packets) and to the
Environment of each door's MacroServer (for ScanHistory), keeps a `DoorModel` per door
and hands every change to the connected browsers as small JSON messages (`kind` + fields).

It only reads: it never writes an attribute and calls no command on a door but
ProbeEvents, which pushes a token only this process reads (`tango/event_probe.py`):
`discover` (and so `start`, before `macroserver web` listens) returns once a door's
subscriptions receive events, so a scan started from then on reaches the page from its
first event (ZeroMQ drops what a server publishes before it applied a new subscription).

Images are not in the JSON packets (2D values arrive as `{"shape", "ref"}`): the hub reads
the newest frame at most every `IMAGE_INTERVAL` seconds per door and serves it as a PNG:
from the NeXus file `ref` names (SWMR mode), a self-saving detector's own file, or, when
the scan writes no file, the channel's own Tango device (its `Value`, found through the
MacroServer's `Elements`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Protocol

from macroserver.packets import decode
from macroserver.web.door_model import DoorModel
from macroserver.web.images import frame_png
from macroserver.web.messages import Message, dumps, event_data
from macroserver.web.tango_events import (
    Subscriptions,
    channel_sources,
    device,
    encoded_text,
    event_error,
    exported_doors,
    has_value,
    read_value,
    wait_live,
)
from macroserver.wire import error_text, lines_from_wire

HISTORY = 20
IMAGE_INTERVAL = 0.5  # seconds between two reads of the image file per door
REDISCOVER_INTERVAL = 10.0


class Client(Protocol):
    """A browser's event stream (`web/stream.py`)."""

    def deliver(self, data: bytes) -> bool:
        """Take `data` (server-sent events) in order; False once it takes no more."""

    def close(self) -> None:
        """Take no more; its connection ends."""


class Hub:
    """Tango events in, browser messages out. Thread-safe; every method may block briefly."""

    def __init__(self, door_names: Iterable[str] | None = None) -> None:
        self._fixed = list(door_names) if door_names else None
        self._lock = threading.RLock()
        self._clients: list[Client] = []
        self.doors: dict[str, DoorModel] = {}
        self.histories: dict[str, list[dict[str, Any]]] = {}
        self._subscriptions = Subscriptions()
        self._server_proxies: dict[str, Any] = {}
        self._environments: dict[str, dict[str, Any]] = {}  # newest, per MacroServer
        self._stop = threading.Event()
        self._image_wakeup = threading.Event()
        self._threads: list[threading.Thread] = []
        self.discovery_error = ""

    # -- clients ----------------------------------------------------------------------

    def connect(self, client: Client) -> bytes:
        """The snapshot message (server-sent event); every later message goes to
        `client`, consistent with it."""
        with self._lock:
            self._clients.append(client)
            return event_data([self.snapshot()])

    def disconnect(self, client: Client) -> None:
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)

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

    def image_png(self, door: str) -> bytes:
        with self._lock:
            model = self.doors.get(door)
            return model.image_png if model is not None else b""

    def scan_file(self, path: str) -> Path | None:
        """`path` if it is a file a listed scan wrote (its ScanDir/ScanFile in a
        MacroServer's ScanHistory, which the server only writes inside its data roots),
        a regular file reached without a symbolic link; else None."""
        with self._lock:
            listed = {str(Path(h["ScanDir"]) / f) for history in self.histories.values()
                      for h in history if isinstance(h.get("ScanDir"), str)
                      for f in (h.get("ScanFile") or []) if isinstance(f, str)}
        if path not in listed:
            return None
        candidate = Path(path)
        try:
            real = Path(os.path.realpath(candidate, strict=True))
        except OSError:
            return None
        return candidate if real == candidate and real.is_file() else None

    def _send(self, *messages: Message) -> None:
        """Called with the lock held, so messages keep the order of the model changes;
        encoded at once (the model they point into changes afterwards), once for every
        client, and what one event brought goes out in one write."""
        if not messages:
            return
        data = event_data(list(messages))
        for client in list(self._clients):
            if not client.deliver(data):  # gone, or too slow: EventSource reconnects
                self._clients.remove(client)

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
        self._subscriptions.close()
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()
        for thread in self._threads:
            thread.join(timeout=2)

    def discover(self) -> None:
        """Subscribe to doors not yet known (exported in the database now)."""
        try:
            names = self._fixed if self._fixed is not None else exported_doors()
            self.discovery_error = ""
        except Exception as exc:  # noqa: BLE001 - DevFailed or a bad TANGO_HOST
            self.discovery_error = f"cannot list the doors: {error_text(exc)}"
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
                    self._send(*self.doors[name].apply_state("UNKNOWN", error_text(exc)))

    def _rediscover_loop(self) -> None:
        while not self._stop.wait(REDISCOVER_INTERVAL):
            self.discover()

    def _watch_door(self, name: str) -> None:
        proxy = device(name)
        model = self.doors[name]
        subscribe = self._subscriptions.add
        subscribe(proxy, "State", lambda ev: self._on_state(model, ev))
        subscribe(proxy, "MacroStatus", lambda ev: self._on_macro_status(model, ev))
        subscribe(proxy, "Output", lambda ev: self._on_output(model, ev))
        subscribe(proxy, "RecordData", lambda ev: self._on_record(model, ev))
        try:
            server = str(proxy.read_attribute("MacroServer").value)
        except Exception:  # noqa: BLE001 - door down now; history comes once it is up
            return
        with self._lock:
            self._send(*model.apply_macro_server(server))
            self._send(*model.apply_environment(self._environments.get(server.lower(), {})))
        if server and server.lower() not in self._server_proxies:
            server_proxy = device(server)
            self._server_proxies[server.lower()] = server_proxy
            subscribe(server_proxy, "Environment", lambda ev: self._on_environment(server, ev))
        wait_live(proxy)  # also the Environment's when one process serves both (ours)
        if server:
            try:  # where 1D/2D values are when no file holds them
                model.sources = channel_sources(self._server_proxies[server.lower()])
            except Exception:  # noqa: BLE001 - images then come from files only
                model.sources = {}

    # -- Tango events -------------------------------------------------------------------

    def _on_state(self, model: DoorModel, event: Any) -> None:
        with self._lock:
            if event.err:
                self._send(*model.apply_state("UNKNOWN", event_error(event)))
            elif has_value(event):
                self._send(*model.apply_state(str(event.attr_value.value), ""))

    def _on_macro_status(self, model: DoorModel, event: Any) -> None:
        value = encoded_text(event)
        if not value:
            return
        with self._lock:
            self._send(*(m for status in json.loads(value)
                         for m in model.apply_macro_status(status)))

    def _on_output(self, model: DoorModel, event: Any) -> None:
        if not has_value(event):
            return
        lines = lines_from_wire(event.attr_value.value)
        with self._lock:
            self._send(*model.apply_output(lines))

    def _on_record(self, model: DoorModel, event: Any) -> None:
        value = encoded_text(event)
        if not value:
            return
        packet = decode(value)
        with self._lock:
            messages, read_frame = model.apply_record(packet)
            self._send(*messages)
        if read_frame:  # after the writes: the frame read would take the GIL from them
            self._image_wakeup.set()

    def _on_environment(self, server: str, event: Any) -> None:
        value = encoded_text(event)
        if not value:
            return
        env = json.loads(value).get("new", {})
        history = env.get("ScanHistory") or []
        history = [h for h in history if isinstance(h, dict)][-HISTORY:]
        with self._lock:
            self._environments[server.lower()] = env
            for model in self.doors.values():
                if model.macro_server.lower() == server.lower():
                    self._send(*model.apply_environment(env))
            if self.histories.get(server) == history:
                return
            self.histories[server] = history
            self._send({"kind": "history", "macro_server": server, "history": history})

    # -- images -------------------------------------------------------------------------

    def _image_loop(self) -> None:
        """Reads the frames the doors ask for, at most one per door every IMAGE_INTERVAL."""
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
                image, png = frame_png(pending, read_value)
                with self._lock:
                    self._send(*model.apply_frame(image, png))
