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

BUSY_STATES = (tango.DevState.MOVING, tango.DevState.RUNNING)


class StateWake:
    """A wake-up set by a State change event of one device saying it is no longer busy,
    or failing (the poll then reads the device and reports what failed). A MOVING event
    (the move just started) wakes nothing: the poll knows that already."""

    def __init__(self) -> None:
        self._changed = threading.Event()
        #: the events announce the ends: the waits rely on them, polling every
        #: POLL_INTERVAL only in case one is lost (cleared by an end whose event never
        #: came, a server polling State slowly say; set again by the next end an event
        #: announces)
        self.trusted = True
        self._unannounced = False  # a poll found an end before its event came

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

    def _on_event(self, event: tango.EventData) -> None:
        if event.err or event.attr_value is None or event.attr_value.value not in BUSY_STATES:
            self._changed.set()

    def arm(self) -> None:
        """Forget earlier events: call before reading State, so that a change after the
        read wakes the next `sleep` and none before it does."""
        if self._unannounced:  # judged now: its event had the time of a scan step to come
            self.trusted = self._changed.is_set()
            self._unannounced = False
        self._changed.clear()

    def unannounced(self) -> None:
        """A poll found the device done before any event said so: a safety poll that
        came just before the event, or events that do not come. The next `arm` tells."""
        self._unannounced = True

    def sleep(self, seconds: float) -> bool:
        """Sleep up to `seconds`, less if the device said it is done since `arm`; True if
        it did."""
        if self._changed.wait(seconds):
            self.trusted = True
            return True
        return False
