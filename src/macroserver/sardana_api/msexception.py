"""`sardana.macroserver.msexception` as macro files import it.

A stop or abort reaches a macro as our engine's `StopRequested`/`AbortRequested`; Sardana's
names are those very classes, so `except StopException` in a facility's macro catches
what our engine raises, and a macro raising one ends the run the same way.
"""

from __future__ import annotations

from macroserver.macros import (
    AbortRequested,
    EnvError,
    MacroInterrupted,
    MacroServerError,
    ParamError,
    StopRequested,
    UnknownMacro,
)

MacroServerException = MacroServerError
InterruptException = MacroInterrupted
StopException = StopRequested
AbortException = AbortRequested
MacroWrongParameterType = ParamError


class MacroServerExceptionList(MacroServerError):
    """Several errors reported together."""


class UnknownEnv(EnvError, KeyError):
    """`getEnv` of a variable that is not set in any scope the macro sees."""

    def __str__(self) -> str:
        return Exception.__str__(self)


class MissingEnv(UnknownEnv):
    """An environment variable a macro needs is not set."""


class UnknownMacroLibrary(MacroServerError):
    """A macro library that is not loaded (Sardana's name, for libraries' `except` clauses)."""


class UnknownRecorder(MacroServerError):
    """A recorder name that is not known (Sardana's name, for libraries' `except` clauses)."""


class UnknownRecorderLibrary(MacroServerError):
    """An unknown recorder library (Sardana's name, for libraries' `except` clauses)."""


class LibraryError(MacroServerError):
    """A macro library that cannot be loaded."""


class ReleaseException(AbortRequested):
    """The macro was released by its client (Sardana's ReleaseMacro)."""


class InputCancelled(StopRequested):
    """The user cancelled the answer to `input`."""


__all__ = [
    "MacroServerException", "MacroServerExceptionList", "MissingEnv", "UnknownEnv",
    "UnknownMacro", "UnknownMacroLibrary", "UnknownRecorder", "UnknownRecorderLibrary",
    "MacroWrongParameterType", "LibraryError", "InterruptException", "StopException",
    "AbortException", "ReleaseException", "InputCancelled",
]
