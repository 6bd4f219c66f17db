"""State change events of a Tango device, used only to wake a State poll early.

A move or a count ends when it ends: polling State with growing pauses (up to 20 ms)
noticed the end up to a pause late, dead time at every point of a scan whose motor
really moves (issue 21). A device that pushes State change events (our Pool-like
devices, or a device whose own server polls State) wakes the waiting poll as soon as
its State changes. The poll still reads State itself: an event that comes late, never
or out of date costs at most the pause it would have slept anyway, and cannot end a
wait early. A device without such events is polled as before; its subscription is
tried once.
"""

from __future__ import annotations

import threading

import tango


class StateWake:
    """A wake-up set by every State change event of one device (errors included: the
    poll then reads the device and reports what failed)."""

    def __init__(self) -> None:
        self._changed = threading.Event()

    @classmethod
    def subscribe(cls, proxy: tango.DeviceProxy) -> StateWake | None:
        """The wake-up of `proxy`'s State, None when the device sends no State events
        (a generic device whose State is not polled by its server: Tango refuses)."""
        wake = cls()
        try:
            proxy.subscribe_event("State", tango.EventType.CHANGE_EVENT, wake._on_event)
        except tango.DevFailed:
            return None
        return wake

    def _on_event(self, _event: tango.EventData) -> None:
        self._changed.set()

    def arm(self) -> None:
        """Forget earlier events: call before reading State, so that a change after the
        read wakes the next `sleep` and none before it does."""
        self._changed.clear()

    def sleep(self, seconds: float) -> None:
        """Sleep up to `seconds`, less if State changed since `arm`."""
        self._changed.wait(seconds)
