"""What a macro author imports: the `Macro` base class and the typed parameters.

    from macroserver.macros import FLOAT, MOTOR, Macro, Param

The standard macros (`macroserver.macros.std`) are written against the same names.
"""

from macroserver.engine.macro import Macro, MacroContext
from macroserver.engine.params import (
    BOOLEAN,
    CHANNEL,
    COUNTABLE,
    ENV_NAME,
    FLOAT,
    INTEGER,
    LITERAL,
    MACRO_NAME,
    MEASUREMENT_GROUP,
    MOTOR,
    STRING,
    Param,
    ParamType,
    Repeat,
)

__all__ = [
    "BOOLEAN", "CHANNEL", "COUNTABLE", "ENV_NAME", "FLOAT", "INTEGER", "LITERAL", "MACRO_NAME",
    "MEASUREMENT_GROUP",
    "MOTOR", "STRING", "Macro", "MacroContext", "Param", "ParamType", "Repeat",
]
