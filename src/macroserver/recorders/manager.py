"""Running one scan's recorders: a worker thread and a bounded queue each.

A slow recorder does not slow acquisition until its queue is full; then the scan waits,
so no point is dropped from a file. A queue is bounded in items (`queue_size`, how far a
live recorder may trail) and in bytes (`MAX_QUEUE_BYTES`): a continuous scan hands over
blocks of many points as one item, and 256 blocks of images were gigabytes.

A recorder that raises is reported on the Error stream, gets `end` with status failed
(to close its file) and is disabled for the rest of the scan; the others go on. A
critical recorder's failure makes `check()` raise, so the engine stops the scan
cleanly. One that stops taking points for `hang_timeout` seconds is declared hung and
left behind.

The scan does not wait for the files to be opened: a file recorder that says where it
will write (`Recorder.destination`) opens its files in its own thread while the live
recorders start (the JSON description carries that destination) and the first points
are taken, queued meanwhile. Opening a file is the slow part of a scan's start (HDF5
objects, fsyncs), so the live recorders send the first point before the files open and
before the scan takes the next point (`_LiveFirst`, at most 50 ms each). A file that
then cannot be opened stops the scan, like a critical
recorder (the points taken stay in the other recorders' files); what fails before the
scan starts (`destination` itself, or the start of a recorder that does not say where
it writes) only disables that recorder, the scan going on without it.

The worker threads are kept between scans (`_Threads`): starting a thread waits until
it runs, four times before each scan's first point.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import queue
import threading
import time
from pathlib import Path
from typing import Callable

from macroserver.errors import MacroServerError
from macroserver.recorders.base import Recorder, RecorderContext
from macroserver.recorders.pointqueue import PointQueue
from macroserver.recorders.registry import Selection
from macroserver.records import EndStatus, Point, PointBlock, ScanEnd, ScanInfo, Written
from macroserver.streams import Level, MacroListener

log = logging.getLogger(__name__)
_LOG_LEVELS = {Level.ERROR: logging.ERROR, Level.WARNING: logging.WARNING,
               Level.INFO: logging.INFO, Level.OUTPUT: logging.INFO, Level.DEBUG: logging.DEBUG}

#: Points waiting in one recorder's queue take at most this much memory, plus the one
#: item put last (the queues share the points: the scan holds about the largest of them).
MAX_QUEUE_BYTES = 64 << 20


def point_bytes(info: ScanInfo) -> int:
    """Approximate size of one point's values (8 bytes per value)."""
    return sum(8 * math.prod(c.shape) for c in info.columns)


def _nothing() -> None:
    pass


class _Threads:
    """Daemon threads kept between scans to run the recorders' loops: a loop handed to
    an idle one starts at once, where `Thread.start` waits for the new thread to run
    (measured 0.3-15 ms each under load, four of them before a scan's first point)."""

    #: idle threads kept at most (the others end after their loop)
    KEEP = 16

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[tuple[Callable[[], None], str]]] = []

    def run(self, loop: Callable[[], None], name: str) -> None:
        """Run `loop` in a thread named `name`, an idle one if there is one."""
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(inbox,), name=name, daemon=True).start()
        inbox.put((loop, name))

    def _serve(self, inbox: queue.SimpleQueue[tuple[Callable[[], None], str]]) -> None:
        thread = threading.current_thread()
        while True:
            loop, thread.name = inbox.get()
            try:
                loop()
            except BaseException:  # the loop reports its recorder's errors itself
                log.exception("recorder thread %s failed", thread.name)
            thread.name = "recorder-idle"
            with self._lock:
                if len(self._idle) >= self.KEEP:
                    return
                self._idle.append(inbox)


_THREADS = _Threads()


class _LiveFirst:
    """Set once every live recorder (the table, the JSON stream) has handled the scan's
    first point. The scan waits for it after handing that point over, and the files
    before they open, each at most `LIVE_FIRST_WAIT`: in front of the first point's
    event, the live recorders' threads otherwise waited for the GIL at each hand-off,
    beside a scan thread that keeps it between points at integration time 0 and a
    NeXus start of ~130 HDF5 calls that hold it. The points taken meanwhile wait in the
    files' queues."""

    def __init__(self, count: int) -> None:
        self._left = count
        self._lock = threading.Lock()
        self._done = threading.Event()

    def one_done(self) -> None:
        with self._lock:
            self._left -= 1
            if self._left <= 0:
                self._done.set()

    def wait(self) -> None:
        self._done.wait(LIVE_FIRST_WAIT)

    def before(self, action: Callable[[], None]) -> Callable[[], None]:
        """`action`, once the live recorders are through (or after `LIVE_FIRST_WAIT`)."""
        def waited() -> None:
            self.wait()
            action()
        return waited


#: the longest a file waits for the live recorders' first point before it opens (s)
LIVE_FIRST_WAIT = 0.05


class RecorderFailed(MacroServerError):
    """A critical recorder failed; the scan stops with this reason."""

    reason = "RecorderFailed"


#: What goes through a recorder's queue, in this order: one ScanInfo, Points and
#: PointBlocks, one ScanEnd.
Item = ScanInfo | Point | PointBlock | ScanEnd


def _report(listener: MacroListener, level: Level, text: str,
            exc: BaseException | None = None) -> None:
    """Tell the macro's streams and the server log (with the traceback, if any)."""
    listener.message(level, text)
    log.log(_LOG_LEVELS[level], text, exc_info=exc)


def _where(item: Item) -> str:
    """Where in the scan a recorder failed, for the message."""
    if type(item) is Point:
        return f"at point {item.index}"
    if type(item) is PointBlock:
        return f"at points {item.first}-{item.first + len(item) - 1}"
    return "at scan start" if isinstance(item, ScanInfo) else "at scan end"


class _Worker:
    """One recorder, its queue and its thread.

    The scan's thread puts items and reads `failure`; the recorder's thread handles
    them. `failure` is set once, under `_lock`, by whichever thread sees it first;
    `_unflushed` is written by the recorder's thread only, under the queue's
    `all_tasks_done` condition that `wait_idle` waits on. `waits` (how often the scan
    found the queue full and had to wait) is the scan thread's own.
    """

    def __init__(self, recorder: Recorder, critical: bool, listener: MacroListener,
                 point_size: int = 8) -> None:
        self.recorder = recorder
        self.name = type(recorder).name or type(recorder).__name__
        self.critical = critical
        self.listener = listener
        self.point_size = max(1, point_size)
        self.queue: PointQueue[Item] = PointQueue(max(1, type(recorder).queue_size),
                                                  MAX_QUEUE_BYTES)
        self.waits = 0
        self._lock = threading.Lock()
        self._failure: str | None = None
        #: the failure stops the scan (a critical recorder, or one whose file could not
        #: be opened once the scan had started)
        self.stops_scan = critical
        #: where the recorder writes (`destination`, or `written()` after `start`)
        self.destination: list[Written] = []
        #: set once `start` has returned or failed
        self.started = threading.Event()
        #: the destination was known before `start`, which runs while the scan does
        self.opens_later = False
        #: called before `start` (the manager's `before_files`)
        self.before_start: Callable[[], None] = _nothing
        #: called once the first item after the ScanInfo was handled (or skipped)
        self.after_first: Callable[[], None] = _nothing
        self._idle = self.queue.all_tasks_done
        self._unflushed = False  # handled items not flushed yet
        self._launched = False
        self._done = threading.Event()  # its loop has returned

    def launch(self) -> None:
        """Start handling what is put in the queue, in a thread of its own."""
        self._launched = True
        _THREADS.run(self._run, f"recorder-{self.name}")

    def is_alive(self) -> bool:
        """Launched and not ended yet."""
        return self._launched and not self._done.is_set()

    def join(self, timeout: float) -> None:
        """Wait up to `timeout` s for the loop to end (after the scan's end was put)."""
        self._done.wait(timeout)

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._done.set()

    @property
    def failure(self) -> str | None:
        """Why the recorder was disabled (None while it works)."""
        return self._failure

    @property
    def writes_file(self) -> bool:
        return self.recorder.context.path is not None

    def _set_failure(self, text: str) -> bool:
        """Record the first failure; False if the recorder had failed already."""
        with self._lock:
            if self._failure is not None:
                return False
            self._failure = text
            return True

    def _set_unflushed(self, value: bool) -> None:
        with self._idle:
            self._unflushed = value
            if not value:
                self._idle.notify_all()

    def _loop(self) -> None:
        handle, flush = self._handle, self.recorder.flush
        get, get_nowait = self.queue.get, self.queue.get_nowait
        # Only recorders that buffer get flush(): once their queue has run empty, at most
        # every `flush_gap` s (per point, HDF5's flush cost more than writing a 2D frame).
        buffering = type(self.recorder).flush is not Recorder.flush
        gap = type(self.recorder).flush_gap
        flushed_at = 0.0
        after_first: Callable[[], None] | None = None
        while True:
            if self._unflushed:
                wait = flushed_at + gap - time.monotonic()
                try:
                    item = get(timeout=wait) if wait > 0 else get_nowait()
                except queue.Empty:
                    if self._failure is None:
                        try:
                            flush()
                        except Exception as exc:
                            self._fail("writing buffered points", exc, close=True)
                    self._set_unflushed(False)
                    flushed_at = time.monotonic()
                    continue
            else:
                item = get()
            if self._failure is None:
                try:
                    handle(item)
                    if buffering and not self._unflushed and not isinstance(item, ScanEnd):
                        self._set_unflushed(True)
                except Exception as exc:  # isolate: report, close, disable
                    self._fail(_where(item), exc, close=not isinstance(item, ScanEnd))
            if after_first is not None:
                after_first()
                after_first = None
            if isinstance(item, ScanInfo):
                self.started.set()  # also after a failure: nobody waits for nothing
                after_first = self.after_first
            self.queue.task_done()
            if isinstance(item, ScanEnd):
                return

    def wait_idle(self, timeout: float, flushed: bool = True) -> bool:
        """Wait until every item put so far was handled (and, if `flushed`, flushed);
        False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            self.queue.idle_waiters += 1
            try:
                while ((self.queue.unfinished_tasks or flushed and self._unflushed)
                       and self._failure is None):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self.is_alive():
                        return False
                    self._idle.wait(min(remaining, 0.1))
            finally:
                self.queue.idle_waiters -= 1
        return True

    def _handle(self, item: Item) -> None:
        if type(item) is Point:
            self.recorder.record(item)
        elif type(item) is PointBlock:
            self.recorder.record_block(item)
        elif isinstance(item, ScanInfo):
            self._start(item)
        elif isinstance(item, ScanEnd):
            self.recorder.end(item)

    def announce(self, info: ScanInfo) -> None:
        """Ask the recorder, in the scan's thread, where it will write (see `opens_later`);
        a failure disables it before the scan starts."""
        try:
            destination = self.recorder.destination(info)
        except Exception as exc:
            self._fail(_where(info), exc, close=True)
            return
        if destination is not None:
            self.destination, self.opens_later = destination, True

    def _start(self, info: ScanInfo) -> None:
        self.before_start()
        self.recorder.start(info)
        if not self.opens_later:
            self.destination = self.written()

    def written(self) -> list[Written]:
        """The recorder's `written()`; a failure to answer is a Warning."""
        try:
            return self.recorder.written()
        except Exception as exc:
            _report(self.listener, Level.WARNING, f"recorder {self.name} cannot say what it "
                    f"wrote: {type(exc).__name__}: {exc}")
            return []

    def _fail(self, where: str, exc: Exception, close: bool) -> None:
        path = self.recorder.context.path
        name = f"{self.name} ({path})" if path is not None else self.name
        failure = f"recorder {name} failed {where}: {type(exc).__name__}: {exc}"
        if self.opens_later and not self.started.is_set():
            self.stops_scan = True  # the scan started without this file: it stops
        if not self._set_failure(failure):
            return
        consequence = "the scan stops" if self.stops_scan else "it is disabled for this scan"
        _report(self.listener, Level.ERROR, f"{failure}; {consequence}", exc)
        if close:
            try:
                self.recorder.end(ScanEnd(EndStatus.FAILED, time.time(), -1, failure))
            except Exception as close_exc:
                _report(self.listener, Level.ERROR,
                        f"recorder {self.name} could not close cleanly: {close_exc}", close_exc)

    def size(self, item: Item) -> int:
        """The bytes `item` holds, about (what its place in the queue costs)."""
        if type(item) is Point:
            return self.point_size
        return self.point_size * len(item) if type(item) is PointBlock else 1

    def put(self, item: Item, hang_timeout: float, size: int | None = None) -> None:
        """Queue `item` (`size`: its bytes, when the caller knows them); when the queue is
        full, count it and wait up to `hang_timeout`, then declare the recorder hung."""
        entry = (item, self.size(item) if size is None else size)
        try:
            self.queue.put(entry, block=False)
            return
        except queue.Full:
            self.waits += 1
        try:
            self.queue.put(entry, timeout=hang_timeout)
        except queue.Full:
            if self._set_failure(f"recorder {self.name} took no data for {hang_timeout:g} s "
                                 "(hung?)"):
                _report(self.listener, Level.ERROR,
                        f"{self._failure}; it is disabled for this scan")


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
        self._live_first: _LiveFirst | None = None  # until the first point is out

    def _create(self, cls: type[Recorder], context: RecorderContext, point_size: int) -> None:
        name = cls.name or cls.__name__
        critical = cls.critical or name in self._critical or cls.__name__ in self._critical
        try:
            recorder = cls(context)
        except Exception as exc:
            message = f"recorder {name} could not be created: {type(exc).__name__}: {exc}"
            if critical:
                raise RecorderFailed(message) from exc
            _report(self._listener, Level.ERROR, message + "; the scan goes on without it")
            return
        self._workers.append(_Worker(recorder, critical, self._listener, point_size))

    def start(self, info: ScanInfo, before_files: Callable[[], None] = _nothing) -> ScanInfo:
        """Start every recorder. The file recorders say where they will write (most
        before opening their files, see the module's docstring; the others are started
        and waited for), then the others (the table, the JSON stream) start with that in
        `info.written`, then the files are opened, each calling `before_files` first
        (the engine writes the ScanID there). Returns that info (the engine passes it
        on)."""
        size = point_bytes(info)
        for cls, context in self._selection.chosen:
            self._create(cls, context, size)
        files = [worker for worker in self._workers if worker.writes_file]
        for worker in files:
            worker.before_start = before_files
            worker.announce(info)
        waited = [w for w in files if not w.opens_later and w.failure is None]
        self._launch(waited, info)
        deadline = time.monotonic() + self._hang_timeout
        for worker in waited:
            worker.wait_idle(max(0.0, deadline - time.monotonic()), flushed=False)
        info = dataclasses.replace(info, written=tuple(
            where for worker in files if worker.failure is None for where in worker.destination))
        live = [w for w in self._workers if not w.writes_file]
        later = [w for w in files if w.opens_later and w.failure is None]
        if live:
            first = self._live_first = _LiveFirst(len(live))
            for worker in live:
                worker.after_first = first.one_done
            for worker in later:
                worker.before_start = first.before(before_files)
        self._launch(live, info)
        self._launch(later, info)
        return info

    def _launch(self, workers: list[_Worker], info: ScanInfo) -> None:
        for worker in workers:
            worker.launch()
            worker.put(info, self._hang_timeout)

    def written(self) -> list[Written]:
        """Where the recorders that finished put the scan (after `end`)."""
        return [where for worker in self._workers
                if not worker.is_alive() and worker.failure is None
                for where in worker.written()]

    def record(self, point: Point) -> None:
        hang_timeout = self._hang_timeout
        for worker in self._workers:  # every point: no property, no size() call
            if worker._failure is None:
                worker.put(point, hang_timeout, worker.point_size)
        if self._live_first is not None:
            self._first_out()

    def _first_out(self) -> None:
        """After the first point: let the live recorders send it (`_LiveFirst`)."""
        first, self._live_first = self._live_first, None
        if first is not None:
            first.wait()

    def record_block(self, block: PointBlock) -> None:
        """Hand consecutive points over at once (one queue item per recorder)."""
        for worker in self._workers:
            if worker.failure is None:
                worker.put(block, self._hang_timeout)
        if self._live_first is not None:
            self._first_out()

    def check(self) -> None:
        """Raise RecorderFailed if a critical recorder has failed, or a file could not
        be opened once the scan had started."""
        for worker in self._workers:  # every point: no property
            if worker._failure is not None and worker.stops_scan:
                raise RecorderFailed(worker._failure)

    def settle(self) -> None:
        """After the last point: let critical recorders catch up and the files be
        opened, then `check()`.

        A critical recorder failing on one of the last points, or a file failing to
        open behind a short scan, would otherwise go unnoticed, and the scan would end
        `done` although its file is broken.
        """
        deadline = time.monotonic() + self._hang_timeout
        for worker in self._workers:
            if worker.failure is not None:
                continue
            if worker.critical:
                worker.wait_idle(max(0.0, deadline - time.monotonic()))
            elif worker.writes_file:
                worker.started.wait(max(0.0, deadline - time.monotonic()))
        self.check()

    def files_written(self) -> list[tuple[Path, str]]:
        """The files the recorders that finished wrote (after `end`)."""
        files: list[tuple[Path, str]] = []
        for worker in self._workers:
            if not worker.is_alive():
                try:
                    files += worker.recorder.files_written()
                except Exception as exc:
                    _report(self._listener, Level.WARNING,
                            f"recorder {worker.name} cannot list its files: {exc}")
        return files

    def end(self, end: ScanEnd) -> None:
        """Deliver `end` to every recorder and wait until they have all finished; say
        which recorders held the scan back (their queue was full) and how often."""
        deadline = time.monotonic() + self._hang_timeout
        waiting = []
        for worker in self._workers:
            if worker.is_alive():
                try:
                    worker.queue.put((end, 1), timeout=max(0.1, deadline - time.monotonic()))
                    waiting.append(worker)
                except queue.Full:
                    _report(self._listener, Level.ERROR,
                            f"recorder {worker.name} did not finish within "
                            f"{self._hang_timeout:g} s (its queue stayed full, it did not get "
                            "the end of the scan); its file may be incomplete")
        for worker in waiting:
            worker.join(max(0.1, deadline - time.monotonic()))
            if worker.is_alive():
                _report(self._listener, Level.ERROR,
                        f"recorder {worker.name} did not finish within "
                        f"{self._hang_timeout:g} s; its file may be incomplete")
        for worker in self._workers:
            if worker.waits:
                _report(self._listener, Level.DEBUG,
                        f"recorder {worker.name} held the scan back {worker.waits} times "
                        f"(its queue of {worker.queue.maxsize} items or "
                        f"{MAX_QUEUE_BYTES >> 20} MiB was full)")
