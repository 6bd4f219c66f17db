"""One browser's event stream: each message written by the thread that has it, at once.

The hub calls `deliver` from the Tango event thread with the bytes of a change. While the
browser keeps up, they go straight into its socket with a non-blocking write: no hand-off
to the connection's own thread, which at integration time 0 would wait for the GIL
behind the event thread at every point. What the socket does not take (a slow browser,
a full buffer) is kept in order and written by the connection's thread (`serve`) with
blocking writes; until that backlog is written, later messages queue behind it. A
browser more than `backlog` bytes behind is closed: EventSource reconnects by itself and
starts again from a fresh snapshot, so it never sees a gap.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Callable

BACKLOG = 32 << 20  # bytes a slow browser may lag; then it is closed and reconnects
KEEPALIVE_LINE = b": keepalive\n\n"


class EventStream:
    """Thread-safe: `deliver` and `close` from any thread, `serve` in the connection's."""

    def __init__(self, connection: socket.socket, backlog: int = BACKLOG) -> None:
        if connection.gettimeout() is None:  # a socket with a timeout is non-blocking
            raise ValueError("an event stream needs a connection with a timeout: "
                             "deliver must never block the thread that calls it")
        self._connection = connection
        self._fd = connection.fileno()
        self._backlog = backlog
        self._lock = threading.Condition()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._direct = False  # deliver may write itself (nothing pending, serve waiting)
        self.closed = False

    def deliver(self, data: bytes) -> bool:
        """Write `data` now if the socket takes it, else queue the rest; False once the
        stream is closed (the browser left, or fell too far behind)."""
        with self._lock:
            if self.closed:
                return False
            if self._direct:
                try:
                    sent = os.write(self._fd, data)
                except BlockingIOError:
                    sent = 0
                except OSError:  # the browser went away
                    self._close()
                    return False
                if sent == len(data):
                    return True
                data = data[sent:]
                self._direct = False
            self._pending.append(data)
            self._pending_bytes += len(data)
            if self._pending_bytes > self._backlog:
                self._close()
                return False
            self._lock.notify()
            return True

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        """Also ends a blocked `serve` write at once: the browser sees the end and
        reconnects."""
        if not self.closed:
            self.closed = True
            self._pending.clear()
            self._pending_bytes = 0
            self._lock.notify()
            try:
                self._connection.shutdown(socket.SHUT_RDWR)
            except OSError:  # already gone
                pass

    def serve(self, write: Callable[[bytes], None], keepalive: float) -> None:
        """Write the backlog with `write` (blocking) whenever there is one, a comment
        line after `keepalive` seconds without one; return once closed. Raises what
        `write` raises (the stream is then closed)."""
        try:
            while True:
                with self._lock:
                    if not self._pending and not self.closed:
                        self._direct = True
                        self._lock.wait(keepalive)
                        if not self._pending and not self.closed:
                            self._pending.append(KEEPALIVE_LINE)  # idle: proxies keep it
                    if self.closed:
                        return
                    data = b"".join(self._pending)
                    self._pending.clear()
                    self._pending_bytes = 0
                    self._direct = False
                write(data)
        finally:
            self.close()
