"""One of our own macros as a Sardana-style macro sees it: the scan it created
(`createMacro("ascan", ...)`, then `hooks`, `runMacro`, `getResult`) or the scan a hook
macro runs in (`self.getParentMacro()` in a general hook: its `name`, `motors`,
`integ_time` ..., every parameter by its name, as Sardana's scan macros keep them)."""

from __future__ import annotations

from typing import Any

from macroserver.macros import Macro as EngineMacro
from macroserver.macros import Motor
from macroserver.sardana_api import elements


def _adapted(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_adapted(v) for v in value]
    return elements.adapt(value)


def _flat(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [item for v in value for item in _flat(v)]
    return [value]


class MacroView:
    """Sardana's members on one of our macros; its other attributes are the macro's, and
    setting one (`hooks`) sets it on the macro."""

    def __init__(self, macro: EngineMacro) -> None:
        object.__setattr__(self, "_macro", macro)
        object.__setattr__(self, "_result", None)

    def __getattr__(self, name: str) -> Any:
        macro = object.__getattribute__(self, "_macro")
        values = self.parameters()
        if name in values:
            return _adapted(values[name])
        return getattr(macro, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._macro, name, value)  # hooks: the engine's setter on the macro

    def parameters(self) -> dict[str, Any]:
        """The macro's parameter values by name (repeats as lists)."""
        return {p.name: v for p, v in zip(self._macro.params, self._macro.arguments)}

    @property
    def name(self) -> str:
        return self._macro.name

    _name = name

    @property
    def motors(self) -> list[Any]:
        """The motors among its parameters (a scan's moveables), in order."""
        return [elements.adapt(v) for v in _flat(self._macro.arguments) if isinstance(v, Motor)]

    def perform(self, *values: Any) -> Any:
        object.__setattr__(self, "_result", self._macro.perform(*values))
        return self._result

    def getResult(self) -> Any:  # noqa: N802 (Sardana's names)
        return self._result

    def hasResult(self) -> bool:  # noqa: N802
        return bool(self._macro.results)

    def getName(self) -> str:  # noqa: N802
        return self._macro.name

    def getParameters(self) -> list[Any]:  # noqa: N802
        return _adapted(list(self._macro.arguments))

    def getParentMacro(self) -> Any:  # noqa: N802
        return sardana_view(self._macro.parent)

    def getData(self) -> Any:  # noqa: N802
        return getattr(self._macro, "data", None)

    @property
    def data(self) -> Any:
        return self.getData()


def sardana_view(macro: EngineMacro | None) -> Any:
    """A macro as Sardana-style code sees it: itself if it is one, else a `MacroView`."""
    if macro is None or hasattr(macro, "getParentMacro"):
        return macro
    return MacroView(macro)


__all__ = ["MacroView", "sardana_view"]
