"""Running one scan's recorders: a worker thread and a bounded queue each.

A slow recorder does not slow acquisition until its queue is full; then the scan waits,
so no point is dropped from a file. A recorder that raises is reported on the Error
stream, gets `end` with status failed (to close its file) and is disabled for the rest
of the scan; the others go on. A critical recorder's failure makes `check()` raise, so
the engine stops the scan cleanly. One that stops taking points for `hang_timeout`
seconds is declared hung and left behind.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from pathlib import Path
from typing import Any

from macroserver.errors import MacroServerError
from macroserver.recorders.base import Recorder, RecorderContext
from macroserver.recorders.registry import Selection
from macroserver.records import EndStatus, Point, PointBlock, ScanEnd, ScanInfo
from macroserver.streams import Level, MacroListener

#: Least time between two idle `flush()` calls of a recorder (the data at risk grows by
#: at most this much); a recorder that went idle is flushed within this time.
FLUSH_GAP = 0.05
#: Points waiting in one recorder's queue take at most about this much memory (the
#: recorder's `queue_size` is lowered for big frames: 256 4-Mpixel images would be 8 GiB).
MAX_QUEUE_BYTES = 64 << 20


def point_bytes(info: ScanInfo) -> int:
    """Approximate size of one point's values (8 bytes per value)."""
    return sum(8 * math.prod(c.shape) for c in info.columns)


class RecorderFailed(MacroServerError):
    """A critical recorder failed; the scan stops with this reason."""

    reason = "RecorderFailed"


class _Worker:
    """One recorder, its queue and its thread."""

    def __init__(self, recorder: Recorder, critical: bool, listener: MacroListener,
                 max_points: int | None = None) -> None:
        self.recorder = recorder
        self.name = type(recorder).name or type(recorder).__name__
        self.critical = critical
        self.listener = listener
        size = type(recorder).queue_size
        self.queue: queue.Queue[Any] = queue.Queue(
            maxsize=max(1, min(size, max_points) if max_points else size))
        self.failure: str | None = None
        self.dirty = False  # handled items not flushed yet
        self.thread = threading.Thread(target=self._loop, name=f"recorder-{self.name}", daemon=True)

    def _loop(self) -> None:
        handle, flush = self._handle, self.recorder.flush
        get, get_nowait = self.queue.get, self.queue.get_nowait
        # Only recorders that buffer get flush(): once their queue has run empty, at most
        # every FLUSH_GAP s (per point, HDF5's flush cost more than writing a 2D frame).
        buffering = type(self.recorder).flush is not Recorder.flush
        flushed_at = 0.0
        while True:
            if self.dirty:
                wait = flushed_at + FLUSH_GAP - time.monotonic()
                try:
                    item = get(timeout=wait) if wait > 0 else get_nowait()
                except queue.Empty:
                    if self.failure is None:
                        try:
                            flush()
                        except Exception as exc:
                            self._fail(None, exc)
                    self.dirty = False
                    flushed_at = time.monotonic()
                    continue
            else:
                item = get()
            if self.failure is None:
                try:
                    handle(item)
                    self.dirty = buffering and not isinstance(item, ScanEnd)
                except Exception as exc:  # isolate: report, close, disable
                    self._fail(item, exc)
            self.queue.task_done()
            if isinstance(item, ScanEnd):
                return

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every item put so far was handled; False on timeout."""
        deadline = time.monotonic() + timeout
        done = self.queue.all_tasks_done
        with done:
            while (self.queue.unfinished_tasks or self.dirty) and self.failure is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.thread.is_alive():
                    return False
                done.wait(min(remaining, 0.1))
        return True

    def _handle(self, item: Any) -> None:
        if type(item) is Point:
            self.recorder.record(item)
        elif type(item) is PointBlock:
            self.recorder.record_block(item)
        elif isinstance(item, ScanInfo):
            self.recorder.start(item)
        else:
            self.recorder.end(item)

    def _fail(self, item: Any, exc: Exception) -> None:
        where = f"at point {item.index}" if type(item) is Point else (
            f"at points {item.first}-{item.first + len(item) - 1}"
            if type(item) is PointBlock else
            "at scan start" if isinstance(item, ScanInfo) else
            "writing buffered points" if item is None else "at scan end")
        path = getattr(self.recorder.context, "path", None)
        name = f"{self.name} ({path})" if path is not None else self.name
        self.failure = f"recorder {name} failed {where}: {type(exc).__name__}: {exc}"
        consequence = "the scan stops" if self.critical else "it is disabled for this scan"
        self.listener.message(Level.ERROR, f"{self.failure}; {consequence}")
        if not isinstance(item, ScanEnd):
            try:
                self.recorder.end(ScanEnd(EndStatus.FAILED, time.time(), -1, self.failure))
            except Exception as close_exc:
                self.listener.message(
                    Level.ERROR, f"recorder {self.name} could not close cleanly: {close_exc}")

    def put(self, item: Any, hang_timeout: float) -> None:
        try:
            self.queue.put(item, timeout=hang_timeout)
        except queue.Full:
            self.failure = (
                f"recorder {self.name} took no data for {hang_timeout:g} s (hung?)")
            self.listener.message(
                Level.ERROR, f"{self.failure}; it is disabled for this scan")


class RecorderManager:
    """Fans one scan's records out to its recorders."""

    def __init__(
        self,
        selection: Selection,
        listener: MacroListener,
        critical: frozenset[str] = frozenset(),
        hang_timeout: float = 60.0,
    ) -> None:
        self._selection = selection
        self._listener = listener
        self._critical = critical
        # bounded: threading/queue timeouts overflow beyond ~1e9 s (a RecorderTimeout of
        # 1e308 written straight into the environment file must not break the scan's end)
        self._hang_timeout = min(hang_timeout, 86400.0)
        self._workers: list[_Worker] = []

    def _create(self, cls: type[Recorder], context: RecorderContext,
                max_points: int | None = None) -> None:
        name = cls.name or cls.__name__
        critical = cls.critical or name in self._critical or cls.__name__ in self._critical
        try:
            recorder = cls(context)
        except Exception as exc:
            message = f"recorder {name} could not be created: {type(exc).__name__}: {exc}"
            if critical:
                raise RecorderFailed(message) from exc
            self._listener.message(Level.ERROR, message + "; the scan goes on without it")
            return
        self._workers.append(_Worker(recorder, critical, self._listener, max_points))

    def start(self, info: ScanInfo) -> None:
        max_points = max(2, MAX_QUEUE_BYTES // max(1, point_bytes(info)))
        for cls, context in self._selection.chosen:
            self._create(cls, context, max_points)
        for worker in self._workers:
            worker.thread.start()
            worker.put(info, self._hang_timeout)

    def record(self, point: Point) -> None:
        for worker in self._workers:
            if worker.failure is None:
                worker.put(point, self._hang_timeout)

    def record_block(self, block: PointBlock) -> None:
        """Hand consecutive points over at once (one queue item per recorder)."""
        for worker in self._workers:
            if worker.failure is None:
                worker.put(block, self._hang_timeout)

    def check(self) -> None:
        """Raise RecorderFailed if a critical recorder has failed."""
        for worker in self._workers:
            if worker.critical and worker.failure is not None:
                raise RecorderFailed(worker.failure)

    def settle(self) -> None:
        """After the last point: let critical recorders catch up, then `check()`.

        A critical recorder failing on one of the last points would otherwise go
        unnoticed, and the scan would end `done` although its file is broken.
        """
        deadline = time.monotonic() + self._hang_timeout
        for worker in self._workers:
            if worker.critical and worker.failure is None:
                worker.wait_idle(max(0.0, deadline - time.monotonic()))
        self.check()

    def files_written(self) -> list[tuple[Path, str]]:
        """The files the recorders that finished wrote (after `end`)."""
        files: list[tuple[Path, str]] = []
        for worker in self._workers:
            if not worker.thread.is_alive():
                try:
                    files += worker.recorder.files_written()
                except Exception as exc:
                    self._listener.message(
                        Level.WARNING, f"recorder {worker.name} cannot list its files: {exc}")
        return files

    def end(self, end: ScanEnd) -> None:
        """Deliver `end` to every recorder and wait until they have all finished."""
        deadline = time.monotonic() + self._hang_timeout
        for worker in self._workers:
            if worker.thread.is_alive():
                try:
                    worker.queue.put(end, timeout=max(0.1, deadline - time.monotonic()))
                except queue.Full:
                    pass
        for worker in self._workers:
            worker.thread.join(timeout=max(0.1, deadline - time.monotonic()))
            if worker.thread.is_alive():
                self._listener.message(
                    Level.ERROR, f"recorder {worker.name} did not finish within "
                    f"{self._hang_timeout:g} s; its file may be incomplete")
