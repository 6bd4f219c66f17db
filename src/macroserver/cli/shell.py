"""One door's shell: turns a typed line into a built-in or a macro run, and the door's
events into console output, progress and the last error."""

from __future__ import annotations

import shlex
from typing import Any

import tango

from macroserver.cli.commands import closest, run_builtin, show_help
from macroserver.cli.console import Console
from macroserver.cli.door import DoorConnection
from macroserver.cli.exitcodes import EXIT_ABORTED, EXIT_ERROR, EXIT_FOR_STATUS, EXIT_OK
from macroserver.cli.interrupt import NoEnd, held_interrupts, wait_for_macro
from macroserver.cli.progress import Progress, StatusTicker
from macroserver.cli.showscan import OnlineScan
from macroserver.records import EndStatus
from macroserver.tango.client import RunOutcome
from macroserver.wire import error_text


class Shell:
    """Runs commands on one door: macros, and the built-ins."""

    def __init__(self, door: str, console: Console, interactive: bool) -> None:
        self.console = console
        self.interactive = interactive
        self.debug = False
        self.last_error = ""
        self.progress: Progress | None = None
        self.online_plot: OnlineScan | None = None
        self.conn = DoorConnection(door, console, self._on_stream, self._on_status,
                                   self._on_record)

    # -- callbacks from the door's events --

    def _on_stream(self, stream: str, lines: list[str]) -> None:
        if stream == "Debug" and not self.debug:
            return
        if self.online_plot is not None and stream == "Output":
            return  # the live plot replaces the table
        progress = self.progress
        if progress is not None and stream == "Output":
            progress.output(lines)
        if stream == "Error":
            self.last_error = "\n".join(lines)
        shown = [f"Result: {line}" for line in lines] if stream == "Result" else lines
        self.console.lines(shown, stream)

    def _on_status(self, status: dict[str, Any]) -> None:
        progress = self.progress
        if progress is not None and status.get("state") == "step":
            progress.status(status)

    def _on_record(self, packet: dict[str, Any]) -> None:
        progress = self.progress
        if progress is not None and packet.get("type") == "data_desc":
            progress.npoints = (packet.get("data") or {}).get("npoints")
        if self.online_plot is not None:
            self.online_plot.feed(packet)

    # -- commands --

    def execute(self, line: str) -> int:
        """Run one typed line; its exit status. Raises EOFError for exit/quit."""
        line = line.strip()
        if not line or line.startswith("#"):
            return EXIT_OK
        if line.endswith("?") and " " not in line:
            return show_help(self, line[:-1])
        try:
            words = shlex.split(line)
        except ValueError as exc:
            self.console.error(f"cannot parse the line: {exc}")
            return EXIT_ERROR
        command, args = words[0], words[1:]
        status = run_builtin(self, command, args)
        if status is not None:
            return status
        catalogue = self.conn.catalogue
        if command not in catalogue.macros and self.conn.online:
            self.conn.refresh_catalogue()
        if command not in catalogue.macros:
            if not self.conn.online:
                return self.offline()
            close = closest(catalogue, command)
            hint = f" Did you mean: {', '.join(close)}?" if close else " Type 'help' for the list."
            self.console.error(f"Unknown command '{command}'.{hint}")
            return EXIT_ERROR
        return self.run_macro(line, command)

    def offline(self) -> int:
        """Refuse a command while the door does not answer (it is not queued)."""
        self.console.error(f"Door {self.conn.name} is offline (its server does not answer); "
                           "the command was not run. Waiting for the server to come back.")
        return EXIT_ERROR

    # -- running a macro --

    def run_macro(self, line: str, name: str) -> int:
        """Start the macro, show its progress until it ends; its exit status."""
        client = self.conn.live_client()
        if client is None:
            return self.offline()
        self.progress = Progress(name)
        try:
            with StatusTicker(self.console, self.progress):
                try:
                    with held_interrupts() as pressed:
                        outcome = client.start(line)
                except tango.DevFailed as exc:
                    self.last_error = error_text(exc)
                    self.console.error(f"Error: {self.last_error}")
                    return EXIT_ERROR
                end = wait_for_macro(client, outcome, self.console, lambda: self.conn.online,
                                     len(pressed))
        finally:
            self.console.clear_status()
            self.progress = None
            self.conn.update_state()
        return self._report(line, outcome, end)

    def _report(self, line: str, outcome: RunOutcome, end: EndStatus | NoEnd) -> int:
        if end is NoEnd.LOST:
            self.console.error(f"Connection to door {self.conn.name} lost while '{line}' "
                               "was running; how it ended is unknown.")
            return EXIT_ERROR
        if end is NoEnd.ABANDONED:
            return EXIT_ABORTED
        code = EXIT_FOR_STATUS[end]
        if end is EndStatus.FAILED:
            self.last_error = outcome.error or self.last_error
            if not outcome.messages.get("Error"):
                self.console.error(f"Error: {outcome.error}")
        elif end is EndStatus.STOPPED:
            self.console.error(f"'{line}' was stopped.")
        elif end is EndStatus.ABORTED:
            self.console.error(f"'{line}' was aborted.")
        return code
