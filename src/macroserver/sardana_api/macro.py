"""`sardana.macroserver.macro`, as macro files import it (`from sardana.macroserver.macro
import Macro, Type, macro`)."""

from macroserver.sardana_api.api_output import ViewOption
from macroserver.sardana_api.base import FunctionMacro as MacroFunc
from macroserver.sardana_api.base import Macro, iMacro, imacro, macro
from macroserver.sardana_api.hooks import ExecMacroHook, Hookable
from macroserver.sardana_api.msexception import (
    AbortException,
    InterruptException,
    LibraryError,
    StopException,
)
from macroserver.sardana_api.msparameter import Optional, ParamRepeat, Type
from macroserver.sardana_api.tables import List, Table

__all__ = [
    "Hookable", "ExecMacroHook", "Macro", "macro", "iMacro", "imacro", "MacroFunc", "Type",
    "Table", "List", "ViewOption", "LibraryError", "Optional", "ParamRepeat",
    "StopException", "AbortException", "InterruptException",
]
