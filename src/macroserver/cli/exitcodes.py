"""Exit statuses of the command-line tools, one table for `macroserver` (run, up, demo,
register, verify, convert, web) and `mspock -c`, so a script can tell outcomes apart
whichever tool ran the macro (README, "Exit statuses").

    0    the macro (every macro) finished; the command did what it was asked
    1    a macro failed or was refused (bad input, limits); `verify` found a problem
    2    a macro was stopped
    3    a macro was aborted
    4    nothing could run: configuration, environment file, Tango database or door not
         usable, a command-line usage error
    130  Ctrl-C while no macro was running
    141  the reader of the output went away (`| head`), as for a program SIGPIPE ends
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import NoReturn

from macroserver.records import EndStatus

EXIT_OK, EXIT_ERROR, EXIT_STOPPED, EXIT_ABORTED, EXIT_UNUSABLE = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `cat big | head`
EXIT_FOR_STATUS = {EndStatus.DONE: EXIT_OK, EndStatus.FAILED: EXIT_ERROR,
                   EndStatus.STOPPED: EXIT_STOPPED, EndStatus.ABORTED: EXIT_ABORTED}


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors on EXIT_UNUSABLE (argparse's own 2 means stopped here)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_UNUSABLE, f"{self.prog}: error: {message}\n")


def add_version_option(parser: argparse.ArgumentParser) -> None:
    """`--version`: the installed package's version, as catalogues record it."""
    from macroserver.metadata.sidecar import program_label

    parser.add_argument("--version", action="version", version=program_label())


def output_closed() -> int:
    """After a BrokenPipeError on stdout (`macroserver verify --json ... | head`): say
    nothing more (stdout to /dev/null, so the interpreter's last flush does not fail
    again) and end as a program SIGPIPE ends."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def handle_sigint() -> None:
    """Ctrl-C raises KeyboardInterrupt even when the process was started with SIGINT
    ignored (a script's background job, some launchers): Python keeps an inherited
    "ignore", and the tool could then not be stopped with Ctrl-C or `kill -INT`."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
