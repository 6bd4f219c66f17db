"""Text on the Tango wire is UTF-8, in both directions.

Tango's DevString carries bytes. PyTango turns them into `str` as Latin-1 (each byte one
character) and encodes `str` as Latin-1 when it sends, so `ü` sent as UTF-8 by a client
arrived as `Ã¼`, and text outside Latin-1 (`日本`) raised UnicodeError in the sender.
These functions are the one place where our server and our client turn PyTango's
strings into the text they mean and back. Text that is not valid UTF-8 (a client that
sent Latin-1) is kept as PyTango decoded it, so it is never garbled twice. The module
imports nothing of tango, so every layer (the Tango-backed elements too) can use it.
"""

from __future__ import annotations

from typing import Any, Iterable


def from_wire(text: str | bytes) -> str:
    """The text a PyTango string (or raw bytes) holds, read as UTF-8."""
    if isinstance(text, bytes):
        raw = text
    else:
        try:
            raw = text.encode("latin-1")
        except UnicodeEncodeError:
            return text  # not a PyTango wire string: already the text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def to_wire(text: str) -> str:
    """`text` as a string PyTango sends as its UTF-8 bytes."""
    return text.encode("utf-8", "backslashreplace").decode("latin-1")


def lines_from_wire(lines: Iterable[str | bytes]) -> list[str]:
    return [from_wire(line) for line in lines]


def lines_to_wire(lines: Iterable[str]) -> list[str]:
    return [to_wire(line) for line in lines]


def error_text(exc: BaseException) -> str:
    """One line for a person: a Tango DevFailed's first description (the cause, without
    Tango's stack), read as UTF-8; any other exception's text (else its class name).

    Recognises DevFailed by its errors' `desc`, so callers need not import tango."""
    errors = getattr(exc, "args", ())
    if errors and hasattr(errors[0], "desc"):
        return description(errors[0])
    return str(exc) or type(exc).__name__


def description(error: Any) -> str:
    """The text of one Tango DevError (of a DevFailed, or of an error event)."""
    return from_wire(str(error.desc)).strip()
