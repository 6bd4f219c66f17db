"""`sardana.macroserver.macros.scan`: the helpers custom scan macros import from Sardana's
standard scan macros (`getCallable`, `UNCONSTRAINED` and the scan modes). Its macro
classes (`ascan`, `aNscan`, ...) are not served: ours are written in our own API."""

from __future__ import annotations

from typing import Any, Callable

UNCONSTRAINED = "unconstrained"
StepMode, ContinuousMode, ContinuousHwTimeMode, HybridMode = "s", "c", "ct", "h"


def getCallable(repr: Any) -> Callable[..., Any]:  # noqa: A002, N802 (Sardana's names)
    """A motion constraint from its description: `UNCONSTRAINED` allows every move
    (f(x1, x2) is True); anything else gives a callable that decides nothing, as in
    Sardana 3.7.1."""
    if repr == UNCONSTRAINED:
        return lambda x1, x2: True
    return lambda *args: None


__all__ = ["UNCONSTRAINED", "getCallable", "StepMode", "ContinuousMode",
           "ContinuousHwTimeMode", "HybridMode"]
