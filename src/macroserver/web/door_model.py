"""What the page shows about one door, and how each event changes it.

`DoorModel` holds a door's state, macro status, Output and its current scan (table rows,
newest spectra, image). Its `apply_*` methods change it and return the messages for the
browsers; they know nothing of Tango or threads (the hub calls them under its lock).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from macroserver.packets import per_point
from macroserver.web.images import FrameRequest
from macroserver.web.messages import Message

OUTPUT_LINES = 200
STATE_LOG = 50


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (int, float, bool))


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
        self.image_pending: FrameRequest | None = None  # frame to read next
        self.image_request: FrameRequest | None = None  # newest frame asked
        self.image_last_read = 0.0
        #: column -> Tango attribute holding its newest value (the channel's own device)
        self.sources: dict[str, str] = {}
        #: False when the door's environment says JsonRecorder False (no points published)
        self.publishes_points = True

    def snapshot(self) -> Message:
        return {
            "name": self.name, "state": self.state, "state_error": self.state_error,
            "state_log": [{"t": t, "state": s} for t, s in self.state_log],
            "macro": self.macro, "output": list(self.output),
            "macro_server": self.macro_server, "scan": self.scan,
            "spectra": self.spectra, "image": self.image,
            "publishes_points": self.publishes_points,
        }

    # -- door attributes ----------------------------------------------------------------

    def apply_state(self, state: str, error: str) -> list[Message]:
        if state == self.state and error == self.state_error:
            return []
        self.state, self.state_error = state, error
        now = time.time()
        if not self.state_log or self.state_log[-1][1] != state:
            self.state_log.append((now, state))
        return [{"kind": "state", "door": self.name, "state": state, "error": error,
                 "t": now}]

    def apply_macro_status(self, status: dict[str, Any]) -> list[Message]:
        self.macro = status
        return [{"kind": "macro", "door": self.name, "macro": status}]

    def apply_output(self, lines: list[str]) -> list[Message]:
        self.output.extend(lines)
        return [{"kind": "output", "door": self.name, "lines": lines}]

    def apply_macro_server(self, server: str) -> list[Message]:
        self.macro_server = server
        return [{"kind": "door_info", "door": self.name, "macro_server": server}]

    def apply_environment(self, env: dict[str, Any]) -> list[Message]:
        """Whether this door publishes points: `<door>.JsonRecorder`, else `JsonRecorder`,
        on while neither is defined (docs/web.md)."""
        device = self.name.split("://", 1)[1].split("/", 1)[1] if "://" in self.name else self.name
        value = env.get("JsonRecorder", True)
        for key, item in env.items():
            if key.lower() == f"{device.lower()}.jsonrecorder":
                value = item
        publishes = value is not False
        if publishes == self.publishes_points:
            return []
        self.publishes_points = publishes
        return [{"kind": "publishing", "door": self.name, "publishes_points": publishes}]

    # -- the scan (RecordData packets, docs/json-packets.md) ------------------------------

    def apply_record(self, packet: dict[str, Any]) -> tuple[list[Message], bool]:
        """The messages, and whether a frame read is now pending (`image_pending`)."""
        kind, data = packet.get("type"), packet.get("data") or {}
        if kind == "data_desc":
            self.scan = {"macro_id": packet.get("macro_id"), "desc": data, "rows": [],
                         "end": None}
            self.spectra = {}
            self.image = None
            self.image_pending = self.image_request = None
            return [{"kind": "desc", "door": self.name, "scan": self.scan}], False
        if kind == "record_data" and self.scan is not None:
            return self._apply_points([(data, packet.get("taken"))])
        if kind == "record_block" and self.scan is not None:
            return self._apply_points([(p["data"], p.get("taken")) for p in per_point(packet)])
        if kind == "record_end" and self.scan is not None:
            self.scan["end"] = data
            read = self.image_request is not None
            if read:  # the last frame, flushed at the end
                self.image_pending = self.image_request
            return [{"kind": "end", "door": self.name, "end": data}], read
        return [], False

    def _apply_points(self, points: list[tuple[dict[str, Any], Any]]
                      ) -> tuple[list[Message], bool]:
        """One `points` message for what came in one packet (a coalesced block: every
        point's row and `taken`, the newest spectrum of each column, which is all the
        page and the snapshot keep), then any image message."""
        assert self.scan is not None
        rows: list[dict[str, Any]] = []
        taken: list[Any] = []
        spectra: dict[str, Any] = {}
        images: list[Message] = []
        asked = self.image_request
        for data, when in points:
            row = {k: v for k, v in data.items() if _scalar(v)}
            self.scan["rows"].append(row)
            rows.append(row)
            taken.append(when)
            point_nb = data.get("point_nb", len(self.scan["rows"]) - 1)
            for name, value in data.items():
                if isinstance(value, dict) and isinstance(value.get("values"), list):
                    spectra[name] = self.spectra[name] = {"point_nb": point_nb,
                                                          "values": value["values"]}
            note = self._apply_frame_ref(data, int(point_nb))
            if note is not None:
                images.append(note)
        return ([{"kind": "points", "door": self.name, "rows": rows, "taken": taken,
                  "spectra": spectra}, *images], self.image_request is not asked)

    def _apply_frame_ref(self, data: dict[str, Any], point_nb: int) -> Message | None:
        """Asks for the point's frame (`image_pending`), or says once per column that it
        cannot be read (the image message)."""
        images = {k: v for k, v in data.items()
                  if isinstance(v, dict) and (len(v.get("shape") or []) == 2
                                              or "dataset" in v)}  # a linked frame
        if not images:
            return None
        column, ref = next(iter(images.items()))
        request = self._frame_request(column, ref, point_nb)
        if request is not None:
            self.image_pending = self.image_request = request
            return None
        if self.image is None or self.image.get("column") != column:
            self.image = {"column": column, "shape": ref.get("shape"), "point_nb": None,
                          "url": None, "note": "no file holds it and its device is unknown"}
            return {"kind": "image", "door": self.name, "image": self.image}
        return None

    def _frame_request(self, column: str, ref: dict[str, Any], point_nb: int
                       ) -> FrameRequest | None:
        """Where the frame is: a self-saving detector's own file, the scan's NeXus file,
        else the channel's own Tango device (None when none of them is known)."""
        if "dataset" in ref and ref.get("file"):
            return FrameRequest(str(ref["file"]), "", column, point_nb,
                                dataset=str(ref["dataset"]),
                                frame_index=int(ref.get("index") or 0))
        path, entry = ref.get("ref") or "", ref.get("entry") or ""
        if path and entry:
            return FrameRequest(path, entry, column, point_nb)
        source = self.sources.get(column)
        return FrameRequest("", "", column, point_nb, source=source) if source else None

    def apply_frame(self, image: dict[str, Any], png: bytes) -> list[Message]:
        """A frame read (`images.frame_png`); a failed read keeps the last good frame."""
        if png:
            self.image_seq += 1
            self.image_png = png
            image["url"] = f"/image?door={self.name}&seq={self.image_seq}"
        elif self.image and self.image.get("url"):
            return []
        self.image = image
        return [{"kind": "image", "door": self.name, "image": image}]
