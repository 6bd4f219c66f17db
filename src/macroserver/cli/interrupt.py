"""Ctrl-C while a macro runs: each press asks the door for more (stop, abort, release), the
fourth stops waiting, so the shell stays usable even when a macro never ends."""

from __future__ import annotations

import enum
from collections.abc import Callable

import tango

from macroserver.cli.console import Console
from macroserver.records import EndStatus
from macroserver.tango.client import DoorClient, RunOutcome
from macroserver.wire import error_text

POLL = 0.1  # seconds between checks that the door still answers


class NoEnd(enum.Enum):
    """Why the shell stopped waiting before it saw how the macro ended."""

    LOST = "lost"  # the door went away
    ABANDONED = "abandoned"  # a 4th Ctrl-C


def wait_for_macro(client: DoorClient, outcome: RunOutcome, console: Console,
                   online: Callable[[], bool]) -> EndStatus | NoEnd:
    """How the macro ended, or why the shell no longer waits for it."""
    presses = 0
    while True:
        try:
            try:
                client.wait(outcome, timeout=POLL)
                assert outcome.status is not None
                return outcome.status
            except TimeoutError:
                if not online():
                    return NoEnd.LOST
        except KeyboardInterrupt:
            presses += 1
            while True:  # a Ctrl-C pressed while the previous one is handled counts too
                try:
                    if not _escalate(client, console, presses):
                        return NoEnd.ABANDONED
                    break
                except KeyboardInterrupt:
                    presses += 1


def _escalate(client: DoorClient, console: Console, presses: int) -> bool:
    try:
        if presses == 1:
            console.note("Ctrl-C received: Stopping...")
            client.stop()
        elif presses == 2:
            console.note("2nd Ctrl-C received: Aborting...")
            client.abort()
        elif presses == 3:
            console.note("3rd Ctrl-C received: Releasing...")
            client.door.ReleaseMacro()
        else:
            console.error("The macro does not end (probably still in its abort "
                          "handling); no longer waiting for it.")
            return False
    except tango.DevFailed as exc:
        console.error(f"Error: {error_text(exc)}")
    return True
