"""The shell's built-in commands (help, showscan, www, debug, exit): what is typed at the
prompt but is not a macro of the door."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import tango

from macroserver.cli.completion import Catalogue, help_text, suggestions
from macroserver.cli.console import terminal_width
from macroserver.cli.exitcodes import EXIT_ERROR, EXIT_OK
from macroserver.cli.showscan import (
    OnlineScan,
    ShowScanError,
    default_png_path,
    load_scan,
    plot_text,
    save_frame_pngs,
    save_png,
)
from macroserver.tango.client import DoorClient
from macroserver.wire import error_text

if TYPE_CHECKING:
    from macroserver.cli.shell import Shell

BUILTIN_HELP = {
    "help": "help [macro]: list the commands, or show a macro's parameters (also: ascan?)",
    "showscan": "showscan [ScanID | online] [--png PATH]: plot the last (or given) scan "
                "from its NeXus/SPEC file as a PNG and a text plot; 'online' plots live "
                "from the JSON recorder (JsonRecorder True)",
    "simulate": "simulate <scan macro line>: what the scan would do (points, motor paths, "
                "limits, files and free space, duration) without running it; nothing "
                "moves, nothing is counted, nothing is written",
    "www": "www: the details of the last error",
    "debug": "debug [on|off]: show or hide the Debug stream",
    "exit": "exit (or quit, or Ctrl-D): leave the shell",
}
KEYS_HELP = ("Keys: Tab completes, Up/Down history, Ctrl-R searches it; "
             "Ctrl-C stops a running macro, twice aborts it; Ctrl-D leaves.")
ONLINE_REDRAW = 0.25  # seconds between checks for new points of the live plot


def builtin_arguments(catalogue: Catalogue) -> dict[str, list[str]]:
    """Tab completion of the built-ins: the words each one takes."""
    return {
        "help": sorted(set(catalogue.macros) | set(BUILTIN_HELP)),
        "showscan": ["online", *catalogue.scan_ids],
        "simulate": sorted(catalogue.macros),
        "debug": ["on", "off"],
        "www": [], "exit": [], "quit": [],
    }


def closest(catalogue: Catalogue, name: str) -> list[str]:
    """The macro and command names nearest a mistyped one, for 'Did you mean'."""
    return suggestions(name, [*catalogue.macros, *BUILTIN_HELP])


def run_builtin(shell: Shell, command: str, args: list[str]) -> int | None:
    """Run `command` if it is built in; None when it is not (it is then a macro)."""
    handler = BUILTINS.get(command)
    return None if handler is None else handler(shell, args)


def show_help(shell: Shell, name: str) -> int:
    """All commands with their one-line description, or one macro's parameters."""
    catalogue = shell.conn.catalogue
    if not name:
        lines = ["Macros:"]
        width = max((len(n) for n in catalogue.macros), default=0)
        for macro_name in sorted(catalogue.macros):
            doc = (catalogue.macros[macro_name].get("description") or "").split("\n")[0]
            lines.append(f"  {macro_name:<{width}}  {doc}")
        lines += ["", "Shell commands:"]
        lines += [f"  {text}" for text in BUILTIN_HELP.values()]
        lines += ["", KEYS_HELP]
        shell.console.lines(lines)
        return EXIT_OK
    if name in BUILTIN_HELP:
        shell.console.lines([BUILTIN_HELP[name]])
        return EXIT_OK
    if name not in catalogue.macros:
        shell.conn.refresh_catalogue()
    if name not in catalogue.macros:
        close = closest(catalogue, name)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        shell.console.error(f"No macro '{name}'.{hint}")
        return EXIT_ERROR
    shell.console.lines(help_text(catalogue.macros[name]).split("\n"))
    return EXIT_OK


def _help(shell: Shell, args: list[str]) -> int:
    return show_help(shell, args[0] if args else "")


def _www(shell: Shell, _args: list[str]) -> int:
    shell.console.lines((shell.last_error or "No error so far.").split("\n"), "Error")
    return EXIT_OK


def _debug(shell: Shell, args: list[str]) -> int:
    if args:
        shell.debug = args[0].lower() in ("on", "true", "1")
    shell.console.note(f"Debug stream {'shown' if shell.debug else 'hidden'}")
    return EXIT_OK


def _leave(_shell: Shell, _args: list[str]) -> int:
    raise EOFError  # the same as Ctrl-D: the prompt loop and -c both stop on it


def _plot_width() -> int:
    return min(terminal_width(), 100) - 2


def _showscan(shell: Shell, args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="showscan", add_help=False, exit_on_error=False)
    parser.add_argument("which", nargs="?", default="")
    parser.add_argument("--png", default=None)
    try:
        options = parser.parse_args(args)
    except (argparse.ArgumentError, SystemExit):
        shell.console.error(BUILTIN_HELP["showscan"])
        return EXIT_ERROR
    client = shell.conn.live_client()
    if client is None:
        return shell.offline()
    if options.which == "online":
        return _showscan_online(shell, client)
    scan_id: int | None = None
    if options.which:
        try:
            scan_id = int(options.which)
        except ValueError:
            shell.console.error(f"showscan: '{options.which}' is not a ScanID or 'online'")
            return EXIT_ERROR
    try:
        data = load_scan(client.environment(), scan_id)
    except (ShowScanError, OSError) as exc:
        shell.console.error(f"showscan: {exc}")
        return EXIT_ERROR
    png = Path(options.png).expanduser() if options.png else default_png_path(data.scan_id)
    try:
        save_png(data, png)
    except OSError as exc:
        shell.console.error(f"showscan: cannot write {png}: {exc}")
        return EXIT_ERROR
    shell.console.lines(plot_text(data, _plot_width()).split("\n"))
    shell.console.note(f"Scan #{data.scan_id} read from {data.source}; plot written to {png}")
    if data.nexus_entry:
        try:
            frames = save_frame_pngs(Path(data.source), data.nexus_entry, png)
        except (OSError, LookupError) as exc:
            shell.console.error(f"showscan: cannot read the detector frames: {exc}")
            return EXIT_ERROR
        for name, frame in frames:
            shell.console.note(f"Last frame of {name} (read through the NeXus link) "
                               f"written to {frame}")
    return EXIT_OK


def _showscan_online(shell: Shell, client: DoorClient) -> int:
    env = client.environment()
    if env.get("JsonRecorder", True) is False:  # on while not defined
        shell.console.error('showscan online needs the JSON recorder, which is off: '
                            'use "senv JsonRecorder True" to enable it')
        return EXIT_ERROR
    plot = OnlineScan()
    shell.online_plot = plot
    shell.console.note(f"Plotting the scans of door {shell.conn.name} live "
                       "(Ctrl-C leaves).")
    drawn, height = -1, 0
    tty = sys.stdout.isatty()
    try:
        while True:
            if plot.version != drawn and (tty or plot.ended):
                text = plot.render(_plot_width())
                prefix = f"\x1b[{height}F\x1b[J" if (tty and height) else ""
                sys.stdout.write(prefix + text + "\n")
                sys.stdout.flush()
                height = text.count("\n") + 1
                drawn = plot.version
            if plot.ended and not shell.interactive:
                return EXIT_OK
            if not shell.conn.online:
                return shell.offline()
            time.sleep(ONLINE_REDRAW)
    except KeyboardInterrupt:
        shell.console.note("showscan online: left.")
        return EXIT_OK
    finally:
        shell.online_plot = None


def _simulate(shell: Shell, args: list[str]) -> int:
    """The Door's SimulateMacro; exit status 1 when the scan would be refused."""
    if not args:
        shell.console.error(BUILTIN_HELP["simulate"])
        return EXIT_ERROR
    client = shell.conn.live_client()
    if client is None:
        return shell.offline()
    try:
        forecast, lines = client.simulate(shlex.join(args))
    except tango.DevFailed as exc:
        shell.last_error = error_text(exc)
        shell.console.error(f"Error: {shell.last_error}")
        return EXIT_ERROR
    shell.console.lines(lines)
    return EXIT_ERROR if forecast.get("refused") else EXIT_OK


BUILTINS: dict[str, Callable[[Shell, list[str]], int]] = {
    "help": _help, "showscan": _showscan, "simulate": _simulate, "www": _www, "debug": _debug,
    "exit": _leave, "quit": _leave,
}
