"""mspock's terminal output: stream lines coloured by level, under a redrawable status line."""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TextIO

COLORS = {
    "Output": "",
    "Info": "\x1b[36m",      # cyan
    "Warning": "\x1b[33m",   # yellow
    "Error": "\x1b[31;1m",   # bold red
    "Debug": "\x1b[2m",      # dim
    "Result": "\x1b[32m",    # green
    "note": "\x1b[35m",      # magenta: the shell's own messages
}
RESET = "\x1b[0m"
BLOCK_START, BLOCK_END = "<BLOCK>", "</BLOCK>"
"""Around lines that replace the previous block in place (Sardana's umv positions)."""


def terminal_width() -> int:
    """The terminal's columns, 80 when there is no terminal (pipes, cron)."""
    return shutil.get_terminal_size((80, 24)).columns


class Console:
    """Prints stream lines (coloured by level) under a status line that can be redrawn.

    The status line is the last line of the terminal while a macro runs; each message
    clears it, prints itself and redraws it, so the table above is never disturbed.
    """

    def __init__(self, color: bool, status_line: bool, split_errors: bool) -> None:
        self.color = color
        self.status_line = status_line
        self.split_errors = split_errors  # Warning/Error to stderr (non-interactive)
        self._lock = threading.RLock()
        self._status: Callable[[], str] | None = None
        self._shown = False
        self._in_block = False
        self._block_lines = 0  # lines of the last block still on screen

    @staticmethod
    def _out() -> TextIO:
        return sys.stdout  # looked up each time: prompt_toolkit may have patched it

    def _paint(self, text: str, level: str) -> str:
        code = COLORS.get(level, "") if self.color else ""
        return f"{code}{text}{RESET}" if code else text

    def _clear_status(self, out: TextIO) -> None:
        if self._shown:
            out.write("\r\x1b[2K")
            self._shown = False

    def _draw_status(self, out: TextIO) -> None:
        text = self._status() if (self.status_line and self._status) else ""
        if text:
            width = terminal_width() - 1
            out.write("\x1b[7m" + text[:width] + RESET if self.color else text[:width])
            self._shown = True

    def lines(self, lines: Sequence[str], level: str = "Output") -> None:
        """Print lines of one stream; Warning/Error go to stderr when split, for scripts."""
        to_err = self.split_errors and level in ("Warning", "Error")
        with self._lock:
            out = self._out()
            self._clear_status(out)
            stream = sys.stderr if to_err else out
            if to_err:
                out.flush()
            for line in lines:
                if line == BLOCK_START:  # a new block replaces the last one on a terminal
                    if self.status_line:
                        stream.write("\x1b[1A\x1b[2K" * self._block_lines)
                    self._in_block, self._block_lines = True, 0
                    continue
                if line == BLOCK_END:
                    self._in_block = False
                    continue
                self._block_lines = self._block_lines + 1 if self._in_block else 0
                stream.write(self._paint(line, level) + "\n")
            stream.flush()
            self._draw_status(out)
            out.flush()

    def note(self, text: str) -> None:
        """A message of the shell itself, coloured apart from the macro's streams."""
        self.lines(text.split("\n"), "note")

    def error(self, text: str) -> None:
        """An error of the shell itself: stderr when non-interactive."""
        if self.split_errors:
            with self._lock:
                self._out().flush()
                sys.stderr.write(text + "\n")
                sys.stderr.flush()
        else:
            self.lines(text.split("\n"), "Error")

    def set_status(self, provider: Callable[[], str]) -> None:
        """Show (and redraw after every message) the status line `provider()` returns."""
        if not self.status_line:
            return
        with self._lock:
            out = self._out()
            self._clear_status(out)
            self._status = provider
            self._draw_status(out)
            out.flush()

    def clear_status(self) -> None:
        """Remove the status line, so the prompt comes back on a clean line."""
        with self._lock:
            self._status = None
            self._clear_status(self._out())
            self._out().flush()
