"""Catalogue sidecars written behind the scans: a scan's end does not wait for the
checksums of its files (about 1.5 s per GiB here), and the next scan's start waits
for what is left, so no file is appended to while it is being hashed."""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Callable

log = logging.getLogger(__name__)


class SidecarQueue:
    """Runs submitted jobs in order in one background thread."""

    def __init__(self) -> None:
        self._jobs: deque[Callable[[], object]] = deque()
        self._busy = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, job: Callable[[], object]) -> None:
        with self._cond:
            self._jobs.append(job)
            self._busy += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="sidecars",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Until every submitted job has run; False if `timeout` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._busy == 0, timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._jobs))
                job = self._jobs.popleft()
            try:
                job()
            except Exception:  # a job reports its own problems; this is a bug's last net
                log.exception("catalogue sidecar job failed")
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()
