"""Texts that end up in data files, checked when they are set rather than when written.

HDF5 refuses a NUL inside a variable-length string (`VLEN strings do not support
embedded NULLs`), and other control characters (escape sequences, form feeds) break
SPEC files, terminals and viewers; a value taken now and refused at every later scan
would cost every file until someone notices. So a NUL or control character anywhere in
an environment or metadata value (in nested lists and dictionaries, keys included) is
refused with the place named. Tab, newline and carriage return stay allowed in values
(multi-line comments); keys and names take no control character at all.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from macroserver.errors import EnvError

_IN_VALUES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_IN_NAMES = re.compile(r"[\x00-\x1f\x7f]")
#: Nesting followed at most (deeper values are refused by the JSON encoding anyway).
MAX_DEPTH = 64


def control_character(text: str, in_name: bool = False) -> str | None:
    """What is wrong with `text` ("a NUL character", "the control character '\\x1b'"),
    or None; tab, newline and carriage return are wrong only `in_name`."""
    match = (_IN_NAMES if in_name else _IN_VALUES).search(text)
    if match is None:
        return None
    char = match.group()
    return "a NUL character" if char == "\x00" else f"the control character {char!r}"


def check_name(where: str, name: str) -> None:
    """EnvError if `name` (a key, a variable or element name) holds a control character."""
    problem = control_character(name, in_name=True)
    if problem:
        raise EnvError(f"{where}: the name {name!r} contains {problem}")


def check_text(where: str, value: Any, depth: int = 0) -> None:
    """EnvError naming `where` (and the key inside it) if a string anywhere in `value`
    holds a NUL or a control character other than tab, newline or carriage return."""
    if isinstance(value, str):
        problem = control_character(value)
        if problem:
            raise EnvError(f"{where} contains {problem} (in {value[:60]!r}); "
                           "data files cannot hold it")
    elif depth >= MAX_DEPTH:
        return
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                check_name(where, key)
            check_text(f"{where}[{key!r}]", item, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for index, item in enumerate(value):
            check_text(f"{where}[{index}]", item, depth + 1)
