"""Sardana's macro API on our engine: a facility's macro library runs here unchanged.

Macro files in MacroPath written against `sardana.macroserver.macro` get Sardana's import
names from this package (`importer.py`: served to those files only, so a real Sardana in
the same process is untouched). Their classes and `@macro` functions become our macros
(`base.py`), with Sardana's members (`api_*.py`) and element adapters (`elements.py`).
The engine knows none of this: the server hands `prepare_module` to its macro registry.
docs/sardana-macros.md says how to bring a library over and what differs.
"""

from macroserver.sardana_api.importer import SERVED_MODULES, prepare_module
from macroserver.sardana_api.template import NEW_MACRO_TEMPLATE

__all__ = ["NEW_MACRO_TEMPLATE", "SERVED_MODULES", "prepare_module"]
