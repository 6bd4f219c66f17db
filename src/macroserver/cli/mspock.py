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

The shell is split by concept: `door` (which door, connecting, reconnecting), `console`
(coloured output under a status line), `progress` (the status line's content),
`interrupt` (Ctrl-C while a macro runs), `commands` (the built-ins), `shell` (a line to a
built-in or a macro run), `prompt` (the interactive session); this module parses the
arguments and picks how lines are read.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence

from macroserver.cli.console import Console
from macroserver.cli.door import NoDoor, choose_door
from macroserver.cli.exitcodes import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNUSABLE,
    Parser,
    add_version_option,
    handle_sigint,
)
from macroserver.cli.prompt import run_prompt
from macroserver.cli.shell import Shell


def build_parser() -> argparse.ArgumentParser:
    """mspock's command line."""
    parser = Parser(
        prog="mspock", description="The spock-style shell of tango-macroserver: every macro "
        "is a command. Exit status with -c: 0 done, 1 error, 2 stopped, 3 aborted, "
        "4 door not usable.")
    parser.add_argument("--door", help="door device (default: MSPOCK_DOOR, or the door of "
                        "the Tango database)")
    parser.add_argument("-c", dest="commands", action="append", default=[], metavar="COMMAND",
                        help="run COMMAND and exit (may be repeated: run in order, stop at "
                        "the first that does not finish)")
    parser.add_argument("--no-color", action="store_true", help="no ANSI colours "
                        "(also with NO_COLOR set)")
    parser.add_argument("--wait", type=float, default=10.0, metavar="SECONDS",
                        help="with -c: how long to wait for the door to answer (10 s)")
    add_version_option(parser)
    return parser


def _run_lines(shell: Shell, lines: Iterable[str], stop_at_failure: bool) -> int:
    """Run lines without a prompt (-c, or stdin); the status of the last one run."""
    status = EXIT_OK
    for line in lines:
        try:
            status = shell.execute(line)
        except EOFError:
            break
        if stop_at_failure and status != EXIT_OK:
            break
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """The `mspock` console script: interactive on a terminal, else -c or stdin lines."""
    args = build_parser().parse_args(argv)
    handle_sigint()
    try:
        door, note = choose_door(args.door)
    except NoDoor as exc:
        print(exc, file=sys.stderr)
        return EXIT_UNUSABLE
    interactive = not args.commands and sys.stdin.isatty()
    tty = sys.stdout.isatty()
    color = tty and not args.no_color and not os.environ.get("NO_COLOR")
    console = Console(color=color, status_line=interactive and tty,
                      split_errors=not interactive)
    shell = Shell(door, console, interactive)
    if note and interactive:
        console.note(note)
    elif note:  # -c or stdin: say which door runs the commands, on stderr
        print(f"mspock: {note}", file=sys.stderr, flush=True)
    if not shell.conn.open_within(0 if interactive else max(0.0, args.wait)):
        if not interactive:
            console.error(f"mspock: door {door} does not answer")
            return EXIT_UNUSABLE
        console.error(f"Door {door} does not answer; waiting for its server "
                      "(commands are refused until then).")
    shell.conn.start_watching()
    try:
        if interactive:
            console.note(f"mspock on door {door}. Type 'help' for the commands, "
                         "Tab to complete.")
            return run_prompt(shell)
        if args.commands:
            return _run_lines(shell, args.commands, stop_at_failure=True)
        return _run_lines(shell, sys.stdin, stop_at_failure=False)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        shell.conn.close()


if __name__ == "__main__":
    sys.exit(main())
