"""The one interface through which a running macro talks to whoever started it.

The local runner prints these; the Door turns each call into a Tango change event.
Implementations must be thread-safe: recorders call them from their own workers.
"""

from __future__ import annotations

import enum
import sys
import threading
from typing import Any, Callable, Protocol, TextIO


class Level(enum.StrEnum):
    """Message streams, named as the Door attributes that carry them."""

    OUTPUT = "Output"
    INFO = "Info"
    WARNING = "Warning"
    ERROR = "Error"
    DEBUG = "Debug"
    CRITICAL = "Critical"


class MacroListener(Protocol):
    """Receives what a macro produces: messages, record packets, status and result."""

    def message(self, level: Level, text: str) -> None:
        """One message (it may hold several lines); one Door event per call."""

    def record_data(self, codec: str, payload: bytes) -> None:
        """An encoded record packet (the JSON recorder's `utf8_json` packets)."""

    def status(self, status: dict[str, Any]) -> None:
        """Macro status: id, state (start/step/finish/stop/abort/exception/pause/resume), range."""

    def result(self, values: list[str]) -> None:
        """The macro's result as strings, once, when it returned one."""

    def input_request(self, request: dict[str, Any]) -> None:
        """A question for the user (`Macro.input`, Sardana's Input data: type, prompt,
        data_type, default_value, macro_id, ...); the answer reaches the macro through
        its `MacroControl`."""


class NullListener:
    """Discards everything; for benchmarks and embedded use."""

    def message(self, level: Level, text: str) -> None:
        pass

    def record_data(self, codec: str, payload: bytes) -> None:
        pass

    def status(self, status: dict[str, Any]) -> None:
        pass

    def result(self, values: list[str]) -> None:
        pass

    def input_request(self, request: dict[str, Any]) -> None:
        pass  # nobody to ask: the question times out to its default


class ConsoleListener(NullListener):
    """Prints Output/Info to stdout and Warning/Error to stderr, as the local runner does."""

    def __init__(
        self, out: TextIO | None = None, err: TextIO | None = None, debug: bool = False
    ) -> None:
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._debug = debug
        self._lock = threading.Lock()
        #: where answers to a macro's questions go (the runner's `answer`); None: nobody
        #: answers, a question with a timeout takes its default
        self.answer: Callable[[dict[str, Any]], None] | None = None

    def message(self, level: Level, text: str) -> None:
        if level is Level.DEBUG and not self._debug:
            return
        stream = self._err if level in (Level.WARNING, Level.ERROR, Level.CRITICAL) else self._out
        prefix = "" if level in (Level.OUTPUT, Level.INFO) else f"{level.value}: "
        if text.startswith(prefix):  # the runner's "Error: <why>" is not "Error: Error: "
            prefix = ""
        with self._lock:
            stream.write(prefix + text + "\n")
            stream.flush()

    def input_request(self, request: dict[str, Any]) -> None:
        """Ask on the terminal (stdin) and answer at once; end of input cancels."""
        if request.get("type") != "input" or self.answer is None:
            return
        with self._lock:
            self._out.write(str(request.get("prompt") or "? "))
            self._out.flush()
        line = sys.stdin.readline()
        self.answer({"input": line.rstrip("\n")} if line else {"cancel": True})
