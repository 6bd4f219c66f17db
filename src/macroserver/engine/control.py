"""Stop, abort and pause requests reaching a running macro.

Requests come from another thread (the Door's command, Ctrl-C in the local runner).
Pause takes effect at the next `checkpoint` (between points). Stop and abort take
effect within one poll interval wherever the macro waits (`wait_until`), also in the
middle of a long count or move, which they halt (as Sardana's stop halts the motion);
elsewhere at the next `checkpoint`. No asynchronous exceptions are injected.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, ClassVar, Iterator

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
    """The flags one macro run checks; one instance per run. It also carries the
    answer to a question the macro asked (`Macro.input`), which comes from a client."""

    def __init__(self, on_pause: Callable[[bool], None] | None = None) -> None:
        self._answer: Any = None
        self._answered = threading.Event()
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._on_pause = on_pause or (lambda paused: None)
        self._stop_deferred = 0  # > 0: a stop request waits (post-scan hooks)
        # no request of any kind so far: `checkpoint`, called at every scan point, returns
        # at once (a plain attribute; set False by every request, never back)
        self._quiet = True

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    def request_stop(self) -> None:
        self._stop.set()
        self._running.set()
        self._quiet = False

    def request_abort(self) -> None:
        self._abort.set()
        self._running.set()
        self._quiet = False

    def request_pause(self) -> None:
        self._running.clear()
        self._quiet = False

    def request_resume(self) -> None:
        self._running.set()

    def requested(self) -> EndStatus | None:
        """ABORTED or STOPPED when an abort or a stop was requested, else None."""
        if self._abort.is_set():
            return EndStatus.ABORTED
        return EndStatus.STOPPED if self._stop.is_set() else None

    def check_abort(self) -> None:
        if self._abort.is_set():
            raise AbortRequested("aborted by request")

    def _stopping(self) -> bool:
        return self._stop.is_set() and not self._stop_deferred

    def check_interrupt(self) -> None:
        """Raise on stop or abort, without pausing (for motions that cannot wait)."""
        self.check_abort()
        if self._stopping():
            raise StopRequested("stopped by request")

    @contextlib.contextmanager
    def stop_deferred(self) -> Iterator[None]:
        """Run the block to its end even if a stop is requested (post-scan hooks closing a
        shutter after Ctrl-C); an abort still ends it; the stop takes effect after it."""
        self._stop_deferred += 1
        try:
            yield
        finally:
            self._stop_deferred -= 1

    def checkpoint(self) -> None:
        """Raise on stop or abort; block here while paused."""
        if self._quiet:
            return
        self.check_interrupt()
        if not self._running.is_set():
            self._on_pause(True)
            self._running.wait()
            self._on_pause(False)
            self.checkpoint()

    def wait_until(self, done: Callable[[float], bool], halt: Callable[[], None]) -> None:
        """Call `done(timeout)` until it returns True; on stop or abort call `halt` (stop
        the motion or count waited for) and raise."""
        while not done(POLL_INTERVAL):
            if self._abort.is_set() or self._stopping():
                halt()
                self.check_abort()
                raise StopRequested("stopped by request")

    def answer(self, answer: Any) -> None:
        """A client's answer to the pending question."""
        self._answer = answer
        self._answered.set()

    def expect_answer(self) -> None:
        """Forget any earlier answer; call before the question goes out."""
        self._answered.clear()
        self._answer = None

    def wait_answer(self, timeout: float | None) -> tuple[bool, Any]:
        """(answered, answer); ends early (and raises) on abort or stop."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def done(poll: float) -> bool:
            if self._answered.wait(poll):
                return True
            return deadline is not None and time.monotonic() >= deadline

        self.wait_until(done, lambda: None)
        return self._answered.is_set(), self._answer

    def sleep(self, seconds: float) -> None:
        """Sleep, ending early (and raising) on stop or abort."""
        deadline = time.monotonic() + seconds
        self.wait_until(
            lambda timeout: self._abort.wait(min(timeout, deadline - time.monotonic()))
            or time.monotonic() >= deadline,
            lambda: None,
        )
