"""Pushing change events from one thread per device, in order.

Macros and recorders produce messages from several Python threads; cppTango wants
events pushed from threads it knows (`tango.EnsureOmniThread`). An `EventPump` queues
every event and pushes them from its own thread: order is kept, and a short bounded
queue keeps memory flat and what clients see within milliseconds of the scan (the
producer waits when it is full, so a scan runs no faster than its events can be pushed).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

import tango

QUEUE_SIZE = 32
log = logging.getLogger(__name__)

Push = Callable[..., None]


class EventPump:
    """Calls `push(*args)` for every `send(*args)`, in order, from one omni thread."""

    def __init__(self, push: Push, name: str) -> None:
        self._push = push
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(QUEUE_SIZE)
        self._thread = threading.Thread(target=self._loop, name=f"events-{name}", daemon=True)
        self._thread.start()

    def send(self, *args: Any) -> None:
        self._queue.put(args)

    def _loop(self) -> None:
        with tango.EnsureOmniThread():
            while True:
                item = self._queue.get()
                if item is None:
                    return
                try:
                    self._push(*item)
                except Exception:  # a failed push must not stop the following ones
                    log.exception("cannot push event %s", item[0])

    def close(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
