"""Errors a user or client can cause, each with a Tango-style `reason`.

The Tango layer turns these into DevFailed with `reason` and the message as description;
the local runner prints the message. Anything else escaping a macro is a bug or a
hardware failure and is reported with its type.
"""

from __future__ import annotations

import difflib
from typing import Iterable


class MacroServerError(Exception):
    """Base of all errors with a message meant for the user."""

    reason = "MacroServerError"


class UnknownName(MacroServerError):
    """A name (macro, element, environment variable) that does not exist."""

    reason = "UnknownName"

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind, self.name = kind, name
        close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}{hint}")


class UnknownMacro(UnknownName):
    reason = "UnknownMacro"

    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__("macro", name, known)


class UnknownElement(UnknownName):
    reason = "WrongParam"


class ParamError(MacroServerError):
    """A macro parameter that is missing, extra, malformed or out of range."""

    reason = "WrongParam"


class MissingParam(ParamError):
    reason = "MissingParam"


class ConfigError(MacroServerError):
    """The server configuration (TOML file, Tango properties) is wrong or unreadable."""

    reason = "ConfigError"


class EnvError(MacroServerError):
    """An environment variable that is missing or has a value that cannot be used."""

    reason = "EnvError"


class MacroBusy(MacroServerError):
    """A macro is already running on this door."""

    reason = "MacroRunning"


class WrongState(MacroServerError):
    """A command that makes no sense in the door's current state (Stop while idle)."""

    reason = "WrongState"


class ElementReserved(MacroServerError):
    """An element held by a macro running on another door (nothing was moved)."""

    reason = "ElementReserved"


class FileBusy(MacroServerError):
    """A data file another scan (another door or process) is writing right now."""

    reason = "FileBusy"
