"""The door mspock talks to: which one, connecting to it, and reconnecting when its
server comes back."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import tango

from macroserver.cli.completion import Catalogue
from macroserver.cli.console import Console
from macroserver.tango.client import DoorClient
from macroserver.tango.register import configured_tango_host
from macroserver.wire import error_text

PROBE_INTERVAL = 1.0
RETRY_INTERVAL = 0.5


class NoDoor(Exception):
    """No door to talk to (no database, none registered); the message says what to do."""


def choose_door(requested: str | None) -> tuple[str, str]:
    """The door to use and a note when it was picked among several."""
    if requested:
        return requested, ""
    if os.environ.get("MSPOCK_DOOR"):
        return os.environ["MSPOCK_DOOR"], ""
    try:
        db = tango.Database()
        names = sorted(db.get_device_exported_for_class("Door")) or sorted(
            db.get_device_name("*", "Door"))
    except tango.DevFailed as exc:
        host, origin = configured_tango_host()
        # said once: Tango's own text for an unset TANGO_HOST repeats the hint
        problem = ("TANGO_HOST is not set (not in the environment, ~/.tangorc or "
                   "/etc/tangorc)" if not host else
                   f"cannot read the Tango database at TANGO_HOST={host} (from {origin}): "
                   f"{error_text(exc)}")
        raise NoDoor(
            f"mspock: {problem}\n"
            "Start a system with 'macroserver up' (it prints the TANGO_HOST to export) or "
            "give the door with --door / MSPOCK_DOOR.") from None
    if not names:
        raise NoDoor("mspock: no Door in the Tango database; give one with --door or "
                         "MSPOCK_DOOR")
    note = "" if len(names) == 1 else (
        f"{len(names)} doors in the database ({', '.join(names)}); using {names[0]} "
        "(choose with --door or MSPOCK_DOOR)")
    return names[0], note


class DoorConnection:
    """A DoorClient that is replaced when the door's server goes away and comes back."""

    def __init__(self, name: str, console: Console,
                 on_stream: Callable[[str, list[str]], None],
                 on_status: Callable[[dict[str, Any]], None],
                 on_record: Callable[[dict[str, Any]], None]) -> None:
        self.name = name
        self.console = console
        self._callbacks = (on_stream, on_status, on_record)
        self.client: DoorClient | None = None
        self.online = False
        self.state = "OFFLINE"
        self.catalogue = Catalogue()
        self._env_read = 0.0
        self._probe: tango.DeviceProxy | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_change: Callable[[], None] = lambda: None

    def open(self) -> bool:
        """Connect (subscribe, read macros and elements); False when the door does not
        answer, with nothing left subscribed (a dropped client would still call our
        callbacks)."""
        try:
            client = DoorClient(self.name, timeout_ms=5000)
        except tango.DevFailed:
            return False
        on_stream, on_status, on_record = self._callbacks
        client.on_stream(on_stream)
        client.on_status(on_status)
        client.on_record(on_record)
        try:
            client.connect()
            self.catalogue.load(client.elements(), client.environment())
            self._env_read = time.monotonic()
            state = str(client.state())
        except (tango.DevFailed, OSError, ValueError):
            client.close()
            return False
        self.client, self.online, self.state = client, True, state
        return True

    def open_within(self, seconds: float) -> bool:
        """`open`, retried for `seconds`: scripts may start while the server is still starting."""
        connected = self.open()
        deadline = time.monotonic() + seconds
        while not connected and time.monotonic() < deadline:
            time.sleep(RETRY_INTERVAL)
            connected = self.open()
        return connected

    def live_client(self) -> DoorClient | None:
        """The client while the door answers, else None: commands are refused, not queued."""
        client = self.client
        return client if client is not None and self.online else None

    def update_state(self) -> None:
        """Read the door's state now (the prompt shows it)."""
        client = self.client
        if client is not None:
            try:
                self.state = str(client.state())
            except tango.DevFailed:
                pass

    def refresh_env(self, max_age: float = 2.0) -> None:
        """Re-read the environment names for completion, at most every `max_age` seconds."""
        if self.client is None or time.monotonic() - self._env_read < max_age:
            return
        try:
            self.catalogue.load_env(self.client.environment())
            self._env_read = time.monotonic()
        except tango.DevFailed:
            pass

    def refresh_catalogue(self) -> None:
        """Re-read macros and elements: one may have been added since we connected."""
        if self.client is not None:
            try:
                self.catalogue.load(self.client.elements(), self.client.environment())
            except tango.DevFailed:
                pass

    def start_watching(self) -> None:
        """Probe the door every second in the background, to notice loss and return."""
        self._thread = threading.Thread(target=self._watch, name="mspock-door-watch",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop watching and unsubscribe."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        if self.client is not None:
            self.client.close()

    def _answers(self) -> str | None:
        try:
            if self._probe is None:
                self._probe = tango.DeviceProxy(self.name)
                self._probe.set_timeout_millis(1500)
            return str(self._probe.state())
        except tango.DevFailed:
            return None

    def _watch(self) -> None:
        while not self._stop.wait(PROBE_INTERVAL):
            state = self._answers()
            if self.online:
                if state is None:
                    self.online, self.state = False, "OFFLINE"
                    self.console.error(
                        f"Connection to door {self.name} was lost: its server does not "
                        "answer. Waiting for it to come back...")
                    old, self.client = self.client, None
                    if old is not None:
                        threading.Thread(target=old.close, daemon=True).start()
                    self.on_change()
                elif state != self.state:
                    self.state = state
                    self.on_change()
            elif state is not None and self.open():
                self.console.note(f"Connection to door {self.name} re-established "
                                  f"(state {self.state}).")
                self.on_change()
