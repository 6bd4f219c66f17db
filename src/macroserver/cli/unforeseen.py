"""The last guard of the commands that read files from anywhere (`verify`, `convert`,
`catalogue`): an error no reader foresaw (a damaged HDF5 object, a layout no program of
ours writes) becomes one line naming the file and what went wrong, with the exit status
of an unusable input, instead of a Python traceback; `--debug` shows the traceback."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from macroserver.errors import MacroServerError


class UnforeseenFileError(MacroServerError):
    """A file the command could not handle, for a reason no check of ours names."""

    reason = "UnforeseenFileError"


def add_debug_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true",
                        help="on an unexpected error, show Python's traceback")


@contextmanager
def unforeseen_errors(doing: str, debug: bool) -> Iterator[None]:
    """Turn any error but ours (already one line), Ctrl-C and a closed output into an
    UnforeseenFileError saying `doing` (e.g. "cannot verify scans.h5"); with `debug`,
    let it through with its traceback."""
    try:
        yield
    except (MacroServerError, BrokenPipeError):
        raise
    except Exception as exc:
        if debug:
            raise
        what = ": ".join([type(exc).__name__, *str(exc).split("\n")[:1]])
        raise UnforeseenFileError(
            f"{doing}: {what.strip()} (a damaged file, or a layout this command does not "
            "know; --debug shows the traceback)") from None
