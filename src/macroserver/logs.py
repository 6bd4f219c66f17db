"""The device server's own log: what happened when no client was listening.

Every module logs to its module logger (`logging.getLogger(__name__)`), all below the
package logger `macroserver`. A device server (`macroserver serve`, also under Starter)
adds a `ServerLog`: a rotating file in its state folder with macro starts and ends and
their outcome, every recorder failure with its traceback and every refused client
request. `macroserver run` adds none; its console shows the same.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

PACKAGE = "macroserver"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_LEVEL = "INFO"
FORMAT = "%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s"
MAX_BYTES = 10 << 20
BACKUPS = 5


def set_level(level: str) -> None:
    """The threshold of every logger of the package (`--log-level`)."""
    if level.upper() not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    logging.getLogger(PACKAGE).setLevel(level.upper())


class ServerLog:
    """A rotating log file (10 MiB, 5 kept) receiving the package's log records for as
    long as it is open; the MacroServer device opens it at init and closes it at delete."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                            encoding="utf-8")
        self._handler.setFormatter(logging.Formatter(FORMAT))
        logging.getLogger(PACKAGE).addHandler(self._handler)

    def close(self) -> None:
        logging.getLogger(PACKAGE).removeHandler(self._handler)
        self._handler.close()
