"""The per-point overhead measured on this server, kept for the next forecast.

A scan's time beyond motion, integration and latency (reading channels, Tango calls,
recorders, the start and end) depends on the machine, the measurement group and the
recorders: no formula knows it. After each scan that ends done, the time it took beyond
its forecast's motion, integration and latency, per point, is kept under a key naming
the kind of scan, the group and the recorders, in `overheads.json` beside the
environment file (the instance's state folder). The next forecast of the same kind
uses it. The file is a cache of measurements, rewritten after every scan: it is not
synced to disk (two fsyncs per scan end, 5-20 ms on a busy disk, for figures the next
scans measure again; a damaged file is ignored with a warning).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Iterable

from macroserver.env import write_atomically

log = logging.getLogger(__name__)

FILE_NAME = "overheads.json"
#: Before any scan of a kind was measured: a typical in-process step scan's point.
DEFAULT_PER_POINT = 0.001
#: Weight of the newest measurement (the rest is the previous value): one odd scan
#: (a slow disk, a busy machine) moves the figure only half way.
NEWEST_WEIGHT = 0.5
MAX_KEYS = 1000


def overhead_key(kind: str, group: str, recorders: Iterable[str]) -> str:
    """The store's key for what a kind of scan costs with this group and these recorders
    (their order does not matter)."""
    return f"{kind}|{group}|{','.join(sorted(recorders))}"


def software_cycle_key(group: str) -> str:
    """The latency a continuous scan's software timing needs with `group`: the time to
    trigger and read a point beyond its integration (measured by each such scan)."""
    return overhead_key("software timing cycle", group, ())


class OverheadStore:
    """Measured seconds per point by key; in memory only when `path` is None."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._values: dict[str, float] = self._load()

    def _load(self) -> dict[str, float]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            return {str(k): float(v) for k, v in document.items() if float(v) >= 0}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("ignoring the measured overheads in %s: %s", self.path, exc)
            return {}

    def get(self, key: str) -> float | None:
        """Seconds per point measured for `key` (None: never measured here)."""
        with self._lock:
            return self._values.get(key)

    def update(self, key: str, measured: float) -> float:
        """Blend in a new measurement and save; returns the value kept."""
        measured = max(0.0, measured)
        with self._lock:
            old = self._values.get(key)
            value = measured if old is None else (
                NEWEST_WEIGHT * measured + (1 - NEWEST_WEIGHT) * old)
            self._values[key] = value
            if len(self._values) > MAX_KEYS:  # a key per group and recorder set: bounded
                self._values.pop(next(iter(self._values)))
            text = json.dumps(self._values, indent=1, sort_keys=True)
        if self.path is not None:
            try:
                write_atomically(self.path, text, ".overheads-", sync=False)
            except OSError as exc:
                log.warning("cannot save the measured overheads to %s: %s", self.path, exc)
        return value
