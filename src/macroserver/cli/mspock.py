"""mspock: the spock-style shell for a Door.

    mspock [--door NAME] [-c COMMAND ...]

Every macro of the MacroServer is a command (`ascan theta 0 0.5 5 1`, `senv ...`,
`wa`); a few commands are built in (`help`, `showscan`, `www`, `debug`, `exit`).
Interactive sessions use prompt_toolkit (prompt with the door and its state, tab
completion by parameter type, history kept across sessions); `-c` runs commands one
after the other without a prompt and exits with the status of the first that did not
finish (0 done, 1 error, 2 stopped, 3 aborted), its error on stderr.

prompt_toolkit rather than IPython: what users type here is macros, not Python (the
server never evaluates client input), prompt_toolkit gives completion, history, a
refreshing prompt and a bottom toolbar with little code, and it behaves predictably in
a pseudo-terminal, which is how the shell is tested.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

import tango

from macroserver.cli.completion import Catalogue, ShellCompleter, help_text, suggestions
from macroserver.cli.showscan import (
    OnlineScan,
    ShowScanError,
    default_png_path,
    load_scan,
    plot_text,
    save_png,
)
from macroserver.tango.client import DoorClient, RunOutcome

EXIT_OK, EXIT_ERROR, EXIT_STOPPED, EXIT_ABORTED = 0, 1, 2, 3
EXIT_FOR_STATE = {"finish": EXIT_OK, "exception": EXIT_ERROR, "stop": EXIT_STOPPED,
                  "abort": EXIT_ABORTED}
PROBE_INTERVAL = 1.0

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

BUILTIN_HELP = {
    "help": "help [macro]: list the commands, or show a macro's parameters (also: ascan?)",
    "showscan": "showscan [ScanID | online] [--png PATH]: plot the last (or given) scan "
                "from its NeXus/SPEC file as a PNG and a text plot; 'online' plots live "
                "from the JSON recorder (JsonRecorder True)",
    "www": "www: the details of the last error",
    "debug": "debug [on|off]: show or hide the Debug stream",
    "exit": "exit (or quit, or Ctrl-D): leave the shell",
}


def state_dir() -> Path:
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "tango-macroserver" / "mspock"


def history_path() -> Path:
    """MSPOCK_HISTORY, or the per-user state folder."""
    override = os.environ.get("MSPOCK_HISTORY")
    return Path(override).expanduser() if override else state_dir() / "history"


# -- output ---------------------------------------------------------------------------

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
            width = shutil.get_terminal_size((80, 24)).columns - 1
            out.write("\x1b[7m" + text[:width] + RESET if self.color else text[:width])
            self._shown = True

    def lines(self, lines: Sequence[str], level: str = "Output") -> None:
        to_err = self.split_errors and level in ("Warning", "Error")
        with self._lock:
            out = self._out()
            self._clear_status(out)
            stream = sys.stderr if to_err else out
            if to_err:
                out.flush()
            for line in lines:
                stream.write(self._paint(line, level) + "\n")
            stream.flush()
            self._draw_status(out)
            out.flush()

    def note(self, text: str) -> None:
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
        with self._lock:
            self._status = None
            self._clear_status(self._out())
            self._out().flush()


@dataclass
class Progress:
    """Points done, percentage and timing of the running macro, for the status line."""

    name: str
    started: float = field(default_factory=time.monotonic)
    percent: float = 0.0
    rows: int = 0
    npoints: int | None = None
    table: bool = False

    def output(self, lines: Sequence[str]) -> None:
        for line in lines:
            words = line.split()
            if "#Pt No" in line or (words and words[0] == "#Pt"):
                self.table = True
            elif self.table and words and words[0].lstrip("-").isdigit():
                self.rows += 1

    def text(self) -> str:
        elapsed = time.monotonic() - self.started
        parts = [self.name]
        if self.table:
            total = f"/{self.npoints}" if self.npoints else ""
            parts.append(f"{self.rows}{total} points")
        fraction = self.percent / 100.0
        if self.npoints and self.table:
            fraction = max(fraction, self.rows / self.npoints)
        if fraction > 0:
            parts.append(f"{100 * fraction:.0f}%")
        parts.append(f"elapsed {_duration(elapsed)}")
        if 0 < fraction < 1:
            parts.append(f"remaining ~{_duration(elapsed * (1 - fraction) / fraction)}")
        parts.append("Ctrl-C stops")
        return " | ".join(parts)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


# -- the door -------------------------------------------------------------------------

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
        """Connect (subscribe, read macros and elements); False when the door does not answer."""
        try:
            client = DoorClient(self.name, timeout_ms=5000)
            on_stream, on_status, on_record = self._callbacks
            client.on_stream(on_stream)
            client.on_status(on_status)
            client.on_record(on_record)
            client.connect()
            self.catalogue.load(client.elements(), client.environment())
            self._env_read = time.monotonic()
            state = str(client.state())
        except (tango.DevFailed, OSError, ValueError):
            return False
        self.client, self.online, self.state = client, True, state
        return True

    def update_state(self) -> None:
        """Read the door's state now (the prompt shows it)."""
        client = self.client
        if client is not None:
            try:
                self.state = str(client.state())
            except tango.DevFailed:
                pass

    def refresh_env(self, max_age: float = 2.0) -> None:
        if self.client is None or time.monotonic() - self._env_read < max_age:
            return
        try:
            self.catalogue.load_env(self.client.environment())
            self._env_read = time.monotonic()
        except tango.DevFailed:
            pass

    def refresh_catalogue(self) -> None:
        if self.client is not None:
            try:
                self.catalogue.load(self.client.elements(), self.client.environment())
            except tango.DevFailed:
                pass

    def start_watching(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="mspock-door-watch",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
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
        raise SystemExit(
            f"mspock: cannot read the Tango database (TANGO_HOST="
            f"{os.environ.get('TANGO_HOST', 'unset')}): {_reason(exc)}\n"
            "Start a system with 'macroserver up' or give the door with --door / MSPOCK_DOOR.") from None
    if not names:
        raise SystemExit("mspock: no Door in the Tango database; give one with --door or "
                         "MSPOCK_DOOR")
    note = "" if len(names) == 1 else (
        f"{len(names)} doors in the database ({', '.join(names)}); using {names[0]} "
        "(choose with --door or MSPOCK_DOOR)")
    return names[0], note


def _reason(exc: tango.DevFailed) -> str:
    errors = exc.args
    first = errors[0] if errors else None
    return getattr(first, "desc", str(exc)).strip()


# -- the shell ------------------------------------------------------------------------

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
            try:
                progress.percent = float(status.get("step") or 0.0)
            except (TypeError, ValueError):
                pass

    def _on_record(self, packet: dict[str, Any]) -> None:
        progress = self.progress
        if progress is not None and packet.get("type") == "data_desc":
            progress.npoints = (packet.get("data") or {}).get("npoints")
        if self.online_plot is not None:
            self.online_plot.feed(packet)

    # -- commands --

    def builtin_arguments(self) -> dict[str, list[str]]:
        catalogue = self.conn.catalogue
        return {
            "help": sorted(set(catalogue.macros) | set(BUILTIN_HELP)),
            "showscan": ["online", *catalogue.scan_ids],
            "debug": ["on", "off"],
            "www": [], "exit": [], "quit": [],
        }

    def execute(self, line: str) -> int:
        line = line.strip()
        if not line or line.startswith("#"):
            return EXIT_OK
        if line.endswith("?") and " " not in line:
            return self.help(line[:-1])
        try:
            words = shlex.split(line)
        except ValueError as exc:
            self.console.error(f"cannot parse the line: {exc}")
            return EXIT_ERROR
        command, args = words[0], words[1:]
        if command == "help":
            return self.help(args[0] if args else "")
        if command == "showscan":
            return self.showscan(args)
        if command == "www":
            self.console.lines((self.last_error or "No error so far.").split("\n"), "Error")
            return EXIT_OK
        if command == "debug":
            if args:
                self.debug = args[0].lower() in ("on", "true", "1")
            self.console.note(f"Debug stream {'shown' if self.debug else 'hidden'}")
            return EXIT_OK
        if command in ("exit", "quit"):
            raise EOFError
        catalogue = self.conn.catalogue
        if command not in catalogue.macros and self.conn.online:
            self.conn.refresh_catalogue()
        if command not in catalogue.macros:
            if not self.conn.online:
                return self._offline()
            close = suggestions(command, [*catalogue.macros, *BUILTIN_HELP])
            hint = f" Did you mean: {', '.join(close)}?" if close else " Type 'help' for the list."
            self.console.error(f"Unknown command '{command}'.{hint}")
            return EXIT_ERROR
        return self.run_macro(line, command)

    def _offline(self) -> int:
        self.console.error(f"Door {self.conn.name} is offline (its server does not answer); "
                           "the command was not run. Waiting for the server to come back.")
        return EXIT_ERROR

    def help(self, name: str) -> int:
        catalogue = self.conn.catalogue
        if not name:
            lines = ["Macros:"]
            width = max((len(n) for n in catalogue.macros), default=0)
            for macro_name in sorted(catalogue.macros):
                doc = (catalogue.macros[macro_name].get("description") or "").split("\n")[0]
                lines.append(f"  {macro_name:<{width}}  {doc}")
            lines += ["", "Shell commands:"]
            lines += [f"  {text}" for text in BUILTIN_HELP.values()]
            lines += ["", "Keys: Tab completes, Up/Down history, Ctrl-R searches it; "
                      "Ctrl-C stops a running macro, twice aborts it; Ctrl-D leaves."]
            self.console.lines(lines)
            return EXIT_OK
        if name in BUILTIN_HELP:
            self.console.lines([BUILTIN_HELP[name]])
            return EXIT_OK
        if name not in catalogue.macros:
            self.conn.refresh_catalogue()
        if name not in catalogue.macros:
            close = suggestions(name, [*catalogue.macros, *BUILTIN_HELP])
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            self.console.error(f"No macro '{name}'.{hint}")
            return EXIT_ERROR
        self.console.lines(help_text(catalogue.macros[name]).split("\n"))
        return EXIT_OK

    # -- running a macro --

    def run_macro(self, line: str, name: str) -> int:
        client = self.conn.client
        if client is None or not self.conn.online:
            return self._offline()
        self.progress = Progress(name)
        ticker_stop = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(ticker_stop,), daemon=True)
        try:
            try:
                outcome = client.start(line)
            except tango.DevFailed as exc:
                self.last_error = _reason(exc)
                self.console.error(f"Error: {self.last_error}")
                return EXIT_ERROR
            ticker.start()
            state = self._wait(client, outcome)
        finally:
            ticker_stop.set()
            if ticker.is_alive():
                ticker.join(timeout=2)
            self.console.clear_status()
            self.progress = None
            self.conn.update_state()
        return self._report(line, outcome, state)

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            progress = self.progress
            if progress is not None and time.monotonic() - progress.started > 1.0:
                self.console.set_status(progress.text)

    def _wait(self, client: DoorClient, outcome: RunOutcome) -> str:
        presses = 0
        while True:
            try:
                try:
                    client.wait(outcome, timeout=0.1)
                    return outcome.state
                except TimeoutError:
                    if not self.conn.online:
                        return "lost"
            except KeyboardInterrupt:
                presses += 1
                while True:  # a Ctrl-C pressed while the previous one is handled counts too
                    try:
                        if not self._escalate(client, presses):
                            return "abandoned"
                        break
                    except KeyboardInterrupt:
                        presses += 1

    def _escalate(self, client: DoorClient, presses: int) -> bool:
        try:
            if presses == 1:
                self.console.note("Ctrl-C received: Stopping...")
                client.stop()
            elif presses == 2:
                self.console.note("2nd Ctrl-C received: Aborting...")
                client.abort()
            elif presses == 3:
                self.console.note("3rd Ctrl-C received: Releasing...")
                client.door.ReleaseMacro()
            else:
                self.console.error("The macro does not end (probably still in its abort "
                                   "handling); no longer waiting for it.")
                return False
        except tango.DevFailed as exc:
            self.console.error(f"Error: {_reason(exc)}")
        return True

    def _report(self, line: str, outcome: RunOutcome, state: str) -> int:
        if state == "lost":
            self.console.error(f"Connection to door {self.conn.name} lost while '{line}' "
                               "was running; how it ended is unknown.")
            return EXIT_ERROR
        if state == "abandoned":
            return EXIT_ABORTED
        code = EXIT_FOR_STATE.get(state, EXIT_ERROR)
        if state == "exception":
            self.last_error = outcome.error or self.last_error
            if not outcome.messages.get("Error"):
                self.console.error(f"Error: {outcome.error}")
        elif state == "stop":
            self.console.error(f"'{line}' was stopped.")
        elif state == "abort":
            self.console.error(f"'{line}' was aborted.")
        return code

    # -- showscan --

    def showscan(self, args: list[str]) -> int:
        parser = argparse.ArgumentParser(prog="showscan", add_help=False, exit_on_error=False)
        parser.add_argument("which", nargs="?", default="")
        parser.add_argument("--png", default=None)
        try:
            options = parser.parse_args(args)
        except (argparse.ArgumentError, SystemExit):
            self.console.error(BUILTIN_HELP["showscan"])
            return EXIT_ERROR
        client = self.conn.client
        if client is None or not self.conn.online:
            return self._offline()
        if options.which == "online":
            return self.showscan_online(client)
        scan_id: int | None = None
        if options.which:
            try:
                scan_id = int(options.which)
            except ValueError:
                self.console.error(f"showscan: '{options.which}' is not a ScanID or 'online'")
                return EXIT_ERROR
        try:
            data = load_scan(client.environment(), scan_id)
        except (ShowScanError, OSError) as exc:
            self.console.error(f"showscan: {exc}")
            return EXIT_ERROR
        png = Path(options.png).expanduser() if options.png else default_png_path(data.scan_id)
        try:
            save_png(data, png)
        except OSError as exc:
            self.console.error(f"showscan: cannot write {png}: {exc}")
            return EXIT_ERROR
        width = shutil.get_terminal_size((80, 24)).columns
        self.console.lines(plot_text(data, min(width, 100) - 2).split("\n"))
        self.console.note(f"Scan #{data.scan_id} read from {data.source}; plot written to {png}")
        return EXIT_OK

    def showscan_online(self, client: DoorClient) -> int:
        env = client.environment()
        if not env.get("JsonRecorder"):
            self.console.error('showscan online needs the JSON recorder, which is off: '
                               'use "senv JsonRecorder True" to enable it')
            return EXIT_ERROR
        plot = OnlineScan()
        self.online_plot = plot
        self.console.note(f"Plotting the scans of door {self.conn.name} live "
                          "(Ctrl-C leaves).")
        drawn, height = -1, 0
        tty = sys.stdout.isatty()
        try:
            while True:
                if plot.version != drawn and (tty or plot.ended):
                    width = min(shutil.get_terminal_size((80, 24)).columns, 100) - 2
                    text = plot.render(width)
                    prefix = f"\x1b[{height}F\x1b[J" if (tty and height) else ""
                    sys.stdout.write(prefix + text + "\n")
                    sys.stdout.flush()
                    height = text.count("\n") + 1
                    drawn = plot.version
                if plot.ended and not self.interactive:
                    return EXIT_OK
                if not self.conn.online:
                    return self._offline()
                time.sleep(0.25)
        except KeyboardInterrupt:
            self.console.note("showscan online: left.")
            return EXIT_OK
        finally:
            self.online_plot = None


# -- entry points ---------------------------------------------------------------------

def _interactive(shell: Shell) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.formatted_text import HTML
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.patch_stdout import patch_stdout
    from prompt_toolkit.styles import Style

    path = history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = shell.conn

    def message() -> HTML:
        if not conn.online:
            return HTML(f"<door>{conn.name}</door> <offline>(OFFLINE)</offline> &gt; ")
        return HTML(f"<door>{conn.name}</door> <state>[{conn.state}]</state> &gt; ")

    def toolbar() -> str:
        status = "offline: waiting for the server" if not conn.online else conn.state
        return f" {conn.name}: {status} | Tab completes | help, ascan? | Ctrl-D leaves"

    session: PromptSession = PromptSession(
        message=message, history=FileHistory(str(path)),
        completer=ShellCompleter(conn.catalogue, shell.builtin_arguments, conn.refresh_env),
        complete_while_typing=False, bottom_toolbar=toolbar, refresh_interval=0.5,
        style=Style.from_dict({"door": "ansiblue bold", "state": "ansigreen",
                               "offline": "ansired bold"}),
    )
    conn.on_change = lambda: session.app.invalidate() if session.app.is_running else None
    status = EXIT_OK
    while True:
        try:
            with patch_stdout(raw=True):
                line = session.prompt()
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        try:
            status = shell.execute(line)
        except EOFError:
            break
        except KeyboardInterrupt:
            shell.console.note("Interrupted.")
    return status


def _from_stdin(shell: Shell) -> int:
    status = EXIT_OK
    for line in sys.stdin:
        try:
            status = shell.execute(line)
        except EOFError:
            break
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mspock", description="The spock-style shell of tango-macroserver: every macro "
        "is a command. Exit status with -c: 0 done, 1 error, 2 stopped, 3 aborted.")
    parser.add_argument("--door", help="door device (default: MSPOCK_DOOR, or the door of "
                        "the Tango database)")
    parser.add_argument("-c", dest="commands", action="append", default=[], metavar="COMMAND",
                        help="run COMMAND and exit (may be repeated: run in order, stop at "
                        "the first that does not finish)")
    parser.add_argument("--no-color", action="store_true", help="no ANSI colours "
                        "(also with NO_COLOR set)")
    parser.add_argument("--wait", type=float, default=10.0, metavar="SECONDS",
                        help="with -c: how long to wait for the door to answer (10 s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    door, note = choose_door(args.door)
    interactive = not args.commands and sys.stdin.isatty()
    tty = sys.stdout.isatty()
    color = tty and not args.no_color and not os.environ.get("NO_COLOR")
    console = Console(color=color, status_line=interactive and tty,
                      split_errors=not interactive)
    shell = Shell(door, console, interactive)
    if note and interactive:
        console.note(note)
    connected = shell.conn.open()
    deadline = time.monotonic() + (0 if interactive else max(0.0, args.wait))
    while not connected and time.monotonic() < deadline:
        time.sleep(0.5)
        connected = shell.conn.open()
    if not connected:
        if not interactive:
            console.error(f"mspock: door {door} does not answer")
            return EXIT_ERROR
        console.error(f"Door {door} does not answer; waiting for its server "
                      "(commands are refused until then).")
    shell.conn.start_watching()
    try:
        if interactive:
            console.note(f"mspock on door {door}. Type 'help' for the commands, "
                         "Tab to complete.")
            return _interactive(shell)
        if args.commands:
            status = EXIT_OK
            for command in args.commands:
                try:
                    status = shell.execute(command)
                except EOFError:
                    break
                if status != EXIT_OK:
                    break
            return status
        return _from_stdin(shell)
    except KeyboardInterrupt:
        return 130
    finally:
        shell.conn.close()


if __name__ == "__main__":
    sys.exit(main())
