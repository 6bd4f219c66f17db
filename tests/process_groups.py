"""Child processes that start their own children (`macroserver up`: a database, device
servers), started in a process group of their own so a test's clean-up ends them all,
even when the test failed before the parent could stop its children."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any


def ignore_sigint() -> None:
    """preexec_fn: start the child with SIGINT ignored, as a script's background job is."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_group(args: list[str], **kwargs: Any) -> subprocess.Popen:
    """Popen in a new session (its own process group, led by the child)."""
    return subprocess.Popen(args, start_new_session=True, **kwargs)


def kill_group(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGKILL the child's whole process group (the child, and what it started) and reap
    the child. Only the group this test started: its id is the child's pid."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout)


def read_until(process: subprocess.Popen, needle: str, timeout: float) -> list[str]:
    """Lines of the child's stdout (a pipe) until one holds `needle`; bounded."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    buffer = ""
    while time.monotonic() < deadline:
        try:
            chunk = os.read(process.stdout.fileno(), 65536).decode(errors="replace")
        except BlockingIOError:
            chunk = ""
        if chunk:
            buffer += chunk
            *complete, buffer = buffer.split("\n")
            lines += complete
            if any(needle in line for line in lines):
                return lines
        elif process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} not printed within {timeout} s: {lines} {buffer}")
