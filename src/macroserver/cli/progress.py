"""The running macro's progress, fed by its events, shown on the console's status line."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Self

from macroserver.cli.console import Console
from macroserver.formatting import hms

SHOW_AFTER = 1.0  # seconds: short macros get no status line
REDRAW_EVERY = 0.5


@dataclass
class Progress:
    """Points done, percentage and timing of the running macro, for the status line."""

    name: str
    started: float = field(default_factory=time.monotonic)
    percent: float = 0.0
    rows: int = 0
    npoints: int | None = None
    table: bool = False
    #: the server's forecast of the time left (MacroStatus remaining_time), and when it came
    remaining: float | None = None
    remaining_at: float = 0.0

    def status(self, status: dict) -> None:
        """A MacroStatus 'step' event: the progress and the forecast time left."""
        try:
            self.percent = float(status.get("step") or 0.0)
            left = status.get("remaining_time")
            if left is not None:
                self.remaining, self.remaining_at = float(left), time.monotonic()
        except (TypeError, ValueError):
            pass

    def output(self, lines: Sequence[str]) -> None:
        """Count the scan table's rows in the Output stream: the points done."""
        for line in lines:
            words = line.split()
            if "#Pt No" in line or (words and words[0] == "#Pt"):
                self.table = True
            elif self.table and words and words[0].lstrip("-").isdigit():
                self.rows += 1

    def text(self) -> str:
        """The status line: points, percentage, elapsed and remaining time."""
        elapsed = time.monotonic() - self.started
        parts = [self.name]
        if self.table:
            total = f"/{self.npoints}" if self.npoints else ""
            parts.append(f"{self.rows}{total} points")
        fraction = self.percent / 100.0
        if self.npoints and self.table:
            fraction = max(fraction, self.rows / self.npoints)
        if fraction > 0:
            parts.append(f"{bar(fraction)} {100 * fraction:.0f}%")
        parts.append(f"elapsed {hms(elapsed)}")
        if self.remaining is not None and fraction < 1:  # the server's forecast
            left = self.remaining - (time.monotonic() - self.remaining_at)
            parts.append(f"remaining ~{hms(max(0.0, left))}")
        elif 0 < fraction < 1:
            parts.append(f"remaining ~{hms(elapsed * (1 - fraction) / fraction)}")
        parts.append("Ctrl-C stops")
        return " | ".join(parts)


BAR_WIDTH = 20


def bar(fraction: float) -> str:
    """A text progress bar: [#######.............]."""
    done = round(BAR_WIDTH * min(1.0, max(0.0, fraction)))
    return f"[{'#' * done}{'.' * (BAR_WIDTH - done)}]"


class StatusTicker:
    """Redraws the status line while a macro runs: the elapsed time moves without events."""

    def __init__(self, console: Console, progress: Progress) -> None:
        self.console = console
        self.progress = progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def _tick(self) -> None:
        while not self._stop.wait(REDRAW_EVERY):
            if time.monotonic() - self.progress.started > SHOW_AFTER:
                self.console.set_status(self.progress.text)
