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
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import NoReturn

from macroserver.records import EndStatus

EXIT_OK, EXIT_ERROR, EXIT_STOPPED, EXIT_ABORTED, EXIT_UNUSABLE = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
EXIT_FOR_STATUS = {EndStatus.DONE: EXIT_OK, EndStatus.FAILED: EXIT_ERROR,
                   EndStatus.STOPPED: EXIT_STOPPED, EndStatus.ABORTED: EXIT_ABORTED}


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors on EXIT_UNUSABLE (argparse's own 2 means stopped here)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_UNUSABLE, f"{self.prog}: error: {message}\n")


def handle_sigint() -> None:
    """Ctrl-C raises KeyboardInterrupt even when the process was started with SIGINT
    ignored (a script's background job, some launchers): Python keeps an inherited
    "ignore", and the tool could then not be stopped with Ctrl-C or `kill -INT`."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
