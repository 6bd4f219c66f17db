"""Waiting for a macro: Ctrl-C asks the door for more at each press (stop, abort, release),
the fourth stops waiting, so the shell stays usable even when a macro never ends; the
macro's questions (`Macro.input`) are asked at the terminal and answered."""

from __future__ import annotations

import enum
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


@contextmanager
def held_interrupts() -> Iterator[list[int]]:
    """Count the Ctrl-C presses made while the body runs instead of raising them.

    Around starting a macro: a KeyboardInterrupt raised as RunMacro returns (the macro
    already running, its first lines maybe shown) would leave the shell before it waits,
    and the macro would run on unstopped. The presses counted are handed to
    `wait_for_macro`. Only the main thread receives signals; elsewhere nothing is held."""
    presses: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield presses
        return
    previous = signal.signal(signal.SIGINT, lambda *_: presses.append(1))
    try:
        yield presses
    finally:
        signal.signal(signal.SIGINT, previous)


def wait_for_macro(client: DoorClient, outcome: RunOutcome, console: Console,
                   online: Callable[[], bool], early_presses: int = 0) -> EndStatus | NoEnd:
    """How the macro ended, or why the shell no longer waits for it. `early_presses`:
    Ctrl-C pressed while the macro was being started (see held_interrupts)."""
    presses = 0
    while True:
        try:
            if presses < early_presses:
                raise KeyboardInterrupt  # handled below as if pressed now
            try:
                client.wait(outcome, timeout=POLL)
                assert outcome.status is not None
                return outcome.status
            except TimeoutError:
                if not online():
                    return NoEnd.LOST
                answer_questions(client, console)
        except KeyboardInterrupt:
            presses += 1
            while True:  # a Ctrl-C pressed while the previous one is handled counts too
                try:
                    if not _escalate(client, console, presses):
                        return NoEnd.ABANDONED
                    break
                except KeyboardInterrupt:
                    presses += 1


def answer_questions(client: DoorClient, console: Console) -> None:
    """Ask the user what the running macro asks (`Macro.input`); end of input cancels
    the question (the macro stops), Ctrl-C stops the macro as always."""
    while not client.questions.empty():
        question = client.questions.get_nowait()
        console.clear_status()
        try:
            text: str | None = input(question.get("prompt") or "? ")
        except EOFError:
            text = None
        if text == "" and "default_value" in question:
            text = str(question["default_value"])
        try:
            client.answer(text)
        except tango.DevFailed as exc:  # the macro ended meanwhile
            console.error(f"Error: {error_text(exc)}")


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
