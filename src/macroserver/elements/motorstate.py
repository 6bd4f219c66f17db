"""Simulated motors' calibration and dial positions, kept in the instance's state folder.

One JSON file (`motors.json` beside the environment file) replaced atomically at every
change, so a restart finds the offsets, signs, limits and defined positions set from the
shell or through the motor devices. A damaged file is refused with a clear message,
never silently replaced.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from macroserver.errors import ConfigError
from macroserver.metadata.sidecar import write_json_atomically

FILE_NAME = "motors.json"
FORMAT = "tango-macroserver-motors/1"


class MotorStateFile:
    """A `CalibrationStore` in one JSON file: `{"format", "motors": {name: document}}`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._motors: dict[str, dict[str, Any]] = {}
        if path.exists():
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
                if document.get("format") != FORMAT or not isinstance(document["motors"], dict):
                    raise ValueError(f"unknown format {document.get('format')!r}")
                self._motors = document["motors"]
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ConfigError(f"motor state file {path} is damaged ({exc}); repair it "
                                  f"or move it aside to start from the configuration") from None

    def load(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            document = self._motors.get(name)
            return dict(document) if isinstance(document, dict) else None

    def save(self, name: str, document: dict[str, Any]) -> None:
        with self._lock:
            motors = {**self._motors, name: document}
            write_json_atomically(self.path, {"format": FORMAT, "motors": motors})
            self._motors = motors
