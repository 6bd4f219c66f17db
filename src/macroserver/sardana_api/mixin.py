"""The base the Sardana API mixins are typed against: our engine's `Macro`.

At run time the mixins derive from `object` and are combined with our `Macro` in
`base.Macro`; for the type checker they derive from it, so `self.output` and the like
are known in them.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from macroserver.macros import Macro as MacroBase
else:
    MacroBase = object

__all__ = ["MacroBase"]
