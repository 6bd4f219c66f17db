"""`sardana.macroserver.msparameter`: parameter types and Sardana's `param_def` form.

`Type.Float` and the string `"Float"` name the same type; any `Type.X` exists (a type
we cannot resolve takes the word as typed, so a library using it still loads and runs).
Element types hand the macro adapters with Sardana's methods (`elements.py`). A
`param_def` (and `result_def`) entry is `[name, type, default, description]`: default
`None` makes it mandatory, `Optional` optional (it arrives as None); a type that is a
list of entries (or an old `ParamRepeat`) is a repeat, nested repeats included, with an
optional `{"min": .., "max": ..}` as its last member.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from macroserver.macros import (
    BOOLEAN,
    ENV_NAME,
    FLOAT,
    INTEGER,
    REQUIRED,
    MacroServerError,
    MissingParam,
    Param,
    ParamDef,
    ParamError,
    ParamType,
    Repeat,
    UnknownElement,
)
from macroserver.sardana_api import elements

WrongParam = ParamError
WrongParamType = ParamError
SupernumeraryParam = ParamError
UnknownParamObj = UnknownElement
MissingRepeat = MissingParam
SupernumeraryRepeat = ParamError


class OptionalParamClass:
    """`Optional`: the default of a parameter that may be left out (it arrives as None)."""

    def __repr__(self) -> str:
        return "Optional"


Optional = OptionalParamClass()


def _json(text: Any, pool: Any) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None


def _word(text: Any, pool: Any) -> Any:
    return text


_ELEMENT_KINDS: dict[str, Callable[[Any, Any], Any]] = {
    **dict.fromkeys(("Motor", "Moveable", "PseudoMotor", "MotorParam"), elements.motor),
    **dict.fromkeys(("ExpChannel", "CTExpChannel", "ZeroDExpChannel", "OneDExpChannel",
                     "TwoDExpChannel", "PseudoCounter", "Acquirable"), elements.channel),
    "MeasurementGroup": elements.measurement_group,
    "Countable": elements.countable,
}
_OWN = {"Float": FLOAT, "Integer": INTEGER, "Boolean": BOOLEAN, "Env": ENV_NAME,
        "JSON": ParamType("JSON", _json)}


def is_element_type(kind: ParamType) -> bool:
    """Whether values of `kind` are elements (looked up by name in the pool)."""
    return kind.convert in _ELEMENT_KINDS.values()


def param_type(name: str) -> ParamType:
    """The type named `name` (Sardana's type names)."""
    if name in _OWN:
        return _OWN[name]
    return ParamType(name, _ELEMENT_KINDS.get(name, _word))


class TypeNames:
    """`Type`: `Type.Float`, `Type.Motor`, ... (any name: see the module's docstring)."""

    def __init__(self) -> None:
        self._types: dict[str, ParamType] = {}

    def __getattr__(self, name: str) -> ParamType:
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in self._types:
            self._types[name] = param_type(name)
        return self._types[name]

    def addType(self, name: str) -> None:  # noqa: N802 (Sardana's name)
        getattr(self, name)

    def removeType(self, name: str) -> None:  # noqa: N802
        self._types.pop(name, None)


Type = TypeNames()


class ParamRepeat:
    """The old repeat form: `ParamRepeat(["motor", Type.Motor, None, ""], ..., min=1)`."""

    def __init__(self, *members: Sequence[Any], min: int = 1, max: int | None = None) -> None:
        self.members = list(members)
        self.min, self.max = min, max


def _type_of(entry_type: Any) -> ParamType:
    if isinstance(entry_type, ParamType):
        return entry_type
    if isinstance(entry_type, str):
        return getattr(Type, entry_type)
    name = getattr(entry_type, "__name__", None)  # a type given as a class: str, float...
    if name in ("str", "float", "int", "bool"):
        return {"str": param_type("String"), "float": FLOAT, "int": INTEGER,
                "bool": BOOLEAN}[name]
    raise MacroServerError(f"{entry_type!r} is not a parameter type")


def _repeat(name: str, members: Any, default: Any, description: str) -> Repeat:
    limits: dict[str, Any] = {}
    if isinstance(members, ParamRepeat):
        limits = {"min": members.min, "max": members.max}
        members = members.members
    members = list(members)
    if members and isinstance(members[-1], dict):
        limits = members.pop()
    low = limits.get("min", 1)
    if default is Optional:
        low = 0
    return Repeat(name, [convert_entry(m) for m in members], min=low, max=limits.get("max"),
                  description=description)


def convert_entry(entry: Sequence[Any]) -> ParamDef:
    """One `param_def` entry as our `Param` or `Repeat`; a clear error when malformed."""
    if isinstance(entry, (str, bytes)) or len(entry) < 2:
        raise MacroServerError(f"parameter definition {entry!r} is not "
                               "[name, type, default, description]")
    name, kind = entry[0], entry[1]
    default = entry[2] if len(entry) > 2 else None
    description = str(entry[3]) if len(entry) > 3 else ""
    if isinstance(kind, (list, tuple, ParamRepeat)):
        return _repeat(name, kind, default, description)
    if default is None:
        default = REQUIRED
    elif default is Optional:
        default = None
    return Param(str(name), _type_of(kind), default, description)


def convert_definition(definition: Any) -> list[ParamDef]:
    """A whole `param_def`/`result_def` (None or empty: no parameters)."""
    entries = list(definition or ())
    return [convert_entry(entry) for entry in entries]


__all__ = [
    "WrongParam", "MissingParam", "SupernumeraryParam", "UnknownParamObj", "WrongParamType",
    "MissingRepeat", "SupernumeraryRepeat", "TypeNames", "Type", "ParamType", "ParamRepeat",
    "Optional", "OptionalParamClass",
]
