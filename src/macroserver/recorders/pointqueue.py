"""The queue between a scan and one recorder: bounded in items and in bytes, cheap per item.

Every point passes through one of these per recorder, so what a put and a get cost is
paid (number of recorders) times per point, under the GIL the scan shares with them.
`queue.Queue` runs its condition machinery on every call (a `notify` builds a deque
even when nobody waits) and wakes its getter through `threading.Condition`. Here a put
and a get are a deque append and popleft under one plain lock; the recorder's thread,
the only getter, sleeps on a lock of its own that the put releases only when it waits,
and a full queue (rare: a recorder behind) uses an ordinary condition.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class PointQueue(Generic[T]):
    """(item, bytes) entries, full at `maxsize` items or `max_bytes` bytes; `get` returns
    the item. An entry is taken whenever the queue holds less than the bounds, so one
    larger than `max_bytes` still goes through (alone). One thread gets (the recorder's);
    any thread may put. `unfinished_tasks` counts entries put and not yet `task_done`;
    `all_tasks_done` (a condition on the queue's lock) is notified when it falls to 0
    while someone waits for it (`idle_waiters` says how many)."""

    def __init__(self, maxsize: int, max_bytes: int) -> None:
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self.bytes = 0
        self.unfinished_tasks = 0
        self.idle_waiters = 0
        self._entries: deque[tuple[T, int]] = deque()
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._putters = 0  # threads waiting for room
        self.all_tasks_done = threading.Condition(self._lock)
        # the getter's own wake-up: locked when it goes to sleep, released by one put
        self._wake = threading.Lock()
        self._sleeping = False

    def _full(self) -> bool:
        return len(self._entries) >= self.maxsize or self.bytes >= self.max_bytes

    def put(self, entry: tuple[T, int], block: bool = True,
            timeout: float | None = None) -> None:
        """Append `entry`; when full, queue.Full at once (`block` False) or after
        `timeout` seconds (None: wait as long as it takes)."""
        with self._lock:  # _full() written out: this runs per point and recorder
            if len(self._entries) >= self.maxsize or self.bytes >= self.max_bytes:
                if not block:
                    raise queue.Full
                self._wait_for_room(timeout)
            self._entries.append(entry)
            self.bytes += entry[1]
            self.unfinished_tasks += 1
            if self._sleeping:
                self._sleeping = False
                self._wake.release()

    def _wait_for_room(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._putters += 1
        try:
            while self._full():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise queue.Full
                self._not_full.wait(remaining)
        finally:
            self._putters -= 1

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        """The oldest item; when empty, queue.Empty at once (`block` False) or after
        `timeout` seconds (None: wait as long as it takes)."""
        with self._lock:
            if not self._entries:
                if not block:
                    raise queue.Empty
                self._sleep_until_put(timeout)
            item, size = self._entries.popleft()
            self.bytes -= size
            if self._putters:
                self._not_full.notify()
            return item

    def get_nowait(self) -> T:
        return self.get(block=False)

    def _sleep_until_put(self, timeout: float | None) -> None:
        """With the lock held: wait until an entry is there (queue.Empty after
        `timeout`). A put releases `_wake` once per sleep; it is locked before each
        sleep (a wake-up that came after a timeout leaves it released)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._entries:
            remaining = -1.0 if deadline is None else deadline - time.monotonic()
            if deadline is not None and remaining <= 0:
                raise queue.Empty
            self._wake.acquire(False)
            self._sleeping = True
            self._lock.release()
            try:
                self._wake.acquire(True, remaining)
            finally:
                self._lock.acquire()
                self._sleeping = False

    def task_done(self) -> None:
        """One entry got has been handled."""
        with self._lock:
            self.unfinished_tasks -= 1
            if not self.unfinished_tasks and self.idle_waiters:
                self.all_tasks_done.notify_all()
