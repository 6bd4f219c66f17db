"""Stop, abort and pause requests reaching a running macro.

Requests come from another thread (the Door's command, Ctrl-C in the local runner).
Stop and pause take effect at the next `checkpoint` (between points); abort takes
effect within one poll interval wherever the macro waits (`wait_until`), also in the
middle of a long count or move. No asynchronous exceptions are injected.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, ClassVar

from macroserver.records import EndStatus

POLL_INTERVAL = 0.05


class MacroInterrupted(Exception):
    """Base of the exceptions that end a macro on request; `status` says how it ended."""

    status: ClassVar[EndStatus] = EndStatus.ABORTED


class StopRequested(MacroInterrupted):
    status = EndStatus.STOPPED


class AbortRequested(MacroInterrupted):
    status = EndStatus.ABORTED


class MacroControl:
    """The flags one macro run checks; one instance per run."""

    def __init__(self, on_pause: Callable[[bool], None] | None = None) -> None:
        self._stop = False
        self._abort = threading.Event()
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._on_pause = on_pause or (lambda paused: None)

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def request_stop(self) -> None:
        self._stop = True
        self._running.set()

    def request_abort(self) -> None:
        self._abort.set()
        self._running.set()

    def request_pause(self) -> None:
        self._running.clear()

    def request_resume(self) -> None:
        self._running.set()

    def check_abort(self) -> None:
        if self._abort.is_set():
            raise AbortRequested("aborted by request")

    def checkpoint(self) -> None:
        """Raise on stop or abort; block here while paused."""
        self.check_abort()
        if self._stop:
            raise StopRequested("stopped by request")
        if not self._running.is_set():
            self._on_pause(True)
            self._running.wait()
            self._on_pause(False)
            self.checkpoint()

    def wait_until(self, done: Callable[[float], bool], on_abort: Callable[[], None]) -> None:
        """Call `done(timeout)` until it returns True; on abort call `on_abort` and raise."""
        while not done(POLL_INTERVAL):
            if self._abort.is_set():
                on_abort()
                raise AbortRequested("aborted by request")

    def sleep(self, seconds: float) -> None:
        """Sleep, ending early (and raising) on abort."""
        deadline = time.monotonic() + seconds
        self.wait_until(
            lambda timeout: self._abort.wait(min(timeout, deadline - time.monotonic()))
            or time.monotonic() >= deadline,
            lambda: None,
        )
