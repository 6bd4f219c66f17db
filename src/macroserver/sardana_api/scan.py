"""`sardana.macroserver.scan`: the scan classes custom scan macros build on.

The names exist so that a library importing them loads; running them on our scan
engine (SScan, CScan, ... with MoveableDesc) is being written (issue 18, item 4): until
then, building one raises an error that says so.
"""

from __future__ import annotations

from typing import Any

from macroserver.macros import MacroServerError


class _NotYet:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise MacroServerError(f"{type(self).__name__} is not available yet on this server: "
                               "custom Sardana scans cannot run here")


class MoveableDesc(_NotYet):
    pass


class ColumnDesc(_NotYet):
    pass


class GScan(_NotYet):
    pass


class SScan(GScan):
    pass


class CScan(GScan):
    pass


class CSScan(CScan):
    pass


class CTScan(CScan):
    pass


class HScan(SScan):
    pass


class TScan(GScan):
    pass


class ScanException(MacroServerError):
    pass


ScanSetupError = ScanException

__all__ = ["MoveableDesc", "ColumnDesc", "GScan", "SScan", "CScan", "CSScan", "CTScan",
           "HScan", "TScan", "ScanException", "ScanSetupError"]
