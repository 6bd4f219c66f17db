"""Change events of element devices, whoever moves the element.

A motor moved by a macro never passes through its Tango device, so the device cannot
push events when it is written to: one thread per server looks at every watched device
ten times a second and lets each push what changed (State, Position while moving).
Looking costs a position read per motor; nothing is pushed while nothing changes.
A device that started to move or count while a client follows its State is followed
until it is done (`follow`: the thread waits on the element itself, which wakes it when
the move or count ends), so that the client waiting on its State events hears of the
end at once, not up to a period late (issue 21: dead time).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

import tango

PERIOD = 0.1  # seconds between looks: Sardana's motors report positions at about this rate
FOLLOW_PERIOD = 0.001  # seconds between looks at a followed device's State
log = logging.getLogger(__name__)


class Watched(Protocol):
    def push_changes(self) -> None:
        """Push change events for what changed since the last call."""

    def wait_done(self, timeout: float) -> bool:
        """Wait up to `timeout` for the device's move or count to end; True once it has."""

    def follow_state(self) -> bool:
        """Push State if it changed; True while the device moves or counts."""


class ElementWatch:
    """The thread that calls `push_changes` of every watched device, in turn."""

    def __init__(self, period: float = PERIOD) -> None:
        self._period = period
        self._devices: list[Watched] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._soon: list[Watched] | None = []  # to look at now; None: every device
        self._following: list[Watched] = []  # busy devices whose State a client follows
        self._thread: threading.Thread | None = None

    def add(self, device: Watched) -> None:
        with self._lock:
            self._devices.append(device)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="element-events",
                                                 daemon=True)
                self._thread.start()

    def discard(self, device: Watched) -> None:
        with self._lock:
            if device in self._devices:
                self._devices.remove(device)
            if device in self._following:
                self._following.remove(device)

    def follow(self, device: Watched) -> None:
        """Look at `device`'s State every FOLLOW_PERIOD until it is done (it just started
        to move or count, and a client follows its State)."""
        with self._lock:
            if device not in self._following:
                self._following.append(device)
        self._wake.set()

    def look_now(self, *devices: Watched) -> None:
        """Look at once at `devices` (a move just started), not at the next period; with
        none, at every device. Only the devices named are looked at early: looking at all
        of them made each point of a scan driven through these devices pay for two looks
        at every device of the server (issue 21: dead time, docs/performance.md)."""
        with self._lock:
            if not devices:
                self._soon = None
            elif self._soon is not None:
                self._soon.extend(d for d in devices if d not in self._soon)
        self._wake.set()

    def _loop(self) -> None:
        with tango.EnsureOmniThread():
            next_look = next_follow = time.monotonic()
            while True:
                pause = next_look - time.monotonic()
                if self._following:  # (the elements' waits in _follow take most of it)
                    pause = min(pause, next_follow - time.monotonic())
                self._wake.wait(max(0.0, pause))
                self._wake.clear()
                with self._lock:
                    soon, self._soon = self._soon, []
                    devices = list(self._devices)
                    following = list(self._following)
                if following:
                    next_follow = time.monotonic() + FOLLOW_PERIOD
                    self._follow(following)
                every = soon is None or time.monotonic() >= next_look
                if soon is not None and not every:
                    devices = [d for d in soon if d in devices]
                for device in devices:
                    try:
                        device.push_changes()
                    except Exception:  # one failing device must not silence the others
                        log.exception("cannot push the events of %s", device)
                if every:  # a full period of rest after looking at all, however long it took
                    next_look = time.monotonic() + self._period

    def _follow(self, devices: list[Watched]) -> None:
        """Wait for each device's end (up to FOLLOW_PERIOD: an element's own wait wakes
        when it ends, not at the next look) and push its State."""
        for device in devices:
            try:
                device.wait_done(FOLLOW_PERIOD)
                busy = device.follow_state()
            except Exception:  # one failing device must not silence the others
                log.exception("cannot push the State of %s", device)
                busy = False
            if not busy:
                with self._lock:
                    if device in self._following:
                        self._following.remove(device)


WATCH = ElementWatch()
"""The watch of this server process."""
