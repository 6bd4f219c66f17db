"""Typed macro parameters, declared once per macro and checked before it runs.

A macro lists `Param`s (and `Repeat` groups such as `mv [m1 p1] [m2 p2]`). Each type
turns the text a user typed into a value, or raises `ParamError` naming the parameter
and the value; element types look the name up in the pool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from macroserver.elements.pool import Pool
from macroserver.env import check_name, parse_value
from macroserver.errors import EnvError, ParamError

REQUIRED: Any = object()
"""Default of a mandatory parameter."""

OPTIONAL_MARKER = {"___optional_parameter__": True}
"""`default_value` of an optional parameter without a default in Sardana's macro info
(a mandatory one has `default_value` null)."""


@dataclass(frozen=True)
class ParamType:
    """A named conversion from text to a typed value.

    `accepts_group`: the type takes a whole `[ ]` group as one value (a list literal)
    instead of the group being a repetition of parameters.
    """

    name: str
    convert: Callable[[Any, Pool], Any]
    accepts_group: bool = False

    def __repr__(self) -> str:
        return self.name


def _float(text: str, pool: Pool) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def _integer(text: str, pool: Pool) -> int:
    try:
        return int(text)
    except ValueError:
        value = float(text)
        if not value.is_integer():
            raise ValueError(f"{text!r} is not an integer") from None
        return int(value)


def _boolean(text: str, pool: Pool) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (true or false)")


def _env_name(text: str, pool: Pool) -> str:
    try:
        return check_name(text)
    except EnvError as exc:
        raise ValueError(str(exc)) from None


def _literal(token: Any, pool: Pool) -> Any:
    """A Python literal (`parse_value`), or a list from a `[ ]` group such as
    `['a.h5', 'b.dat']` or `[m1, c1]` (commas separate items, as users type them)."""
    if isinstance(token, str):
        return parse_value(token)
    items: list[Any] = []
    for part in token:
        if isinstance(part, list):
            items.append(_literal(part, pool))
        else:
            items.extend(parse_value(word) for word in part.split(",") if word.strip())
    return items


FLOAT = ParamType("Float", _float)
INTEGER = ParamType("Integer", _integer)
BOOLEAN = ParamType("Boolean", _boolean)
STRING = ParamType("String", lambda text, pool: text)
MOTOR = ParamType("Motor", lambda text, pool: pool.motor(text))
CHANNEL = ParamType("ExpChannel", lambda text, pool: pool.channel(text))
MEASUREMENT_GROUP = ParamType("MeasurementGroup", lambda text, pool: pool.measurement_group(text))
ENV_NAME = ParamType("Env", _env_name)
LITERAL = ParamType("Literal", _literal, accepts_group=True)
COUNTABLE = ParamType("Countable", lambda text, pool: pool.measurement_group(text))
"""What `ct` counts with: a measurement group (Sardana's Countable)."""
MACRO_NAME = ParamType("MacroClass", lambda text, pool: text)
"""A macro's name (the macro checks it against the server's macros)."""

PARAM_TYPES = (FLOAT, INTEGER, BOOLEAN, STRING, MOTOR, CHANNEL, MEASUREMENT_GROUP, ENV_NAME,
               LITERAL, COUNTABLE, MACRO_NAME)
"""Every parameter type (the MacroServer's TypeList)."""


@dataclass(frozen=True)
class Param:
    """One parameter: name, type, default (REQUIRED if mandatory) and description."""

    name: str
    type: ParamType
    default: Any = REQUIRED
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def convert(self, text: str | list[Any], pool: Pool) -> Any:
        """`text` is a word, or a `[ ]` group (a list of tokens) if the type accepts one."""
        try:
            return self.type.convert(text, pool)
        except (ValueError, OverflowError) as exc:
            raise ParamError(
                f"parameter {self.name} ({self.type.name}): cannot use {text!r}: {exc}"
            ) from None

    def describe(self) -> dict[str, Any]:
        """Sardana's parameter info: `default_value` null when mandatory."""
        if self.required:
            default = None
        elif self.default is None:
            default = OPTIONAL_MARKER
        else:
            default = self.default
        return {"name": self.name, "type": self.type.name, "default_value": default,
                "description": self.description, "min": None, "max": None}


@dataclass(frozen=True)
class Repeat:
    """A group of parameters given one or more times: `[m1 p1] [m2 p2]` or `m1 p1 m2 p2`;
    a member may itself be a repeat, given as a `[ ]` group (`[[m1 m2] 3] [[m3] 5]`)."""

    name: str
    params: Sequence["ParamDef"]
    min: int = 1
    max: int | None = None
    description: str = ""
    default: Any = field(default=REQUIRED)

    @property
    def required(self) -> bool:
        return self.min > 0

    def describe(self) -> dict[str, Any]:
        """Sardana's repeat info: `type` is the list of the repeated parameters."""
        return {"name": self.name, "type": [p.describe() for p in self.params],
                "default_value": None, "description": self.description,
                "min": self.min, "max": self.max}


ParamDef = Param | Repeat
