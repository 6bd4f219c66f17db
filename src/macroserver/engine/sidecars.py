"""Catalogue sidecars written behind the scans: a scan's end does not wait for the
checksums of its files (about 1.5 s per GiB here), and no file is written to while it is
being hashed. A job names the files a later scan may write (the `ScanFile` ones, which
scans append to) and releases each once hashed; the next scan waits only for the files
it writes itself, which the job hashes first, not for the frames and per-scan files
behind them (issue 21: nothing of the previous scan stands in front of the next one)."""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from pathlib import Path
from typing import Callable, Iterable

log = logging.getLogger(__name__)

#: What a job gets: call it with a file the job will no longer read.
Release = Callable[[Path], None]


class SidecarQueue:
    """Runs submitted jobs in order in one background thread."""

    def __init__(self) -> None:
        self._jobs: deque[tuple[Callable[[Release], object], set[Path]]] = deque()
        self._busy = 0
        self._held: Counter[Path] = Counter()  # files queued or running jobs still read
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, job: Callable[[Release], object], holds: Iterable[Path] = ()) -> None:
        """Run `job(release)` behind the others; until it calls `release(path)` (or
        ends), `wait` for a path of `holds` waits for it."""
        held = set(holds)
        with self._cond:
            self._jobs.append((job, held))
            self._held.update(held)
            self._busy += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="sidecars",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def wait(self, timeout: float | None = None, paths: Iterable[Path] | None = None) -> bool:
        """Until no job still reads one of `paths` (None: until every submitted job has
        run); False if `timeout` passed first."""
        if paths is None:
            with self._cond:
                return self._cond.wait_for(lambda: self._busy == 0, timeout)
        wanted = set(paths)
        with self._cond:
            return self._cond.wait_for(lambda: not any(self._held[p] for p in wanted),
                                       timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._jobs))
                job, held = self._jobs.popleft()

            def release(path: Path) -> None:
                with self._cond:
                    if path in held:
                        held.discard(path)
                        self._held[path] -= 1
                        self._cond.notify_all()

            try:
                job(release)
            except Exception:  # a job reports its own problems; this is a bug's last net
                log.exception("catalogue sidecar job failed")
            with self._cond:
                self._held.subtract(held)
                self._held = +self._held  # drop the zero counts
                self._busy -= 1
                self._cond.notify_all()
