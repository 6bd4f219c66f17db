"""The rest of Sardana's `Macro` members that libraries call: logging levels and
loggers, libraries, the door and server, ancestors' state, reserving objects, raw
record data."""

from __future__ import annotations

import logging
import threading
from typing import Any, Sequence

from macroserver.sardana_api import elements
from macroserver.sardana_api.mixin import MacroBase


class MoreAPI(MacroBase):
    """Sardana members with a plain answer on our server."""

    Critical, Error, Warning, Info, Debug = (logging.CRITICAL, logging.ERROR,
                                             logging.WARNING, logging.INFO, logging.DEBUG)
    Fatal, Trace = logging.FATAL, logging.DEBUG - 5
    DftLogLevel = logging.INFO

    # -- logging -----------------------------------------------------------------------

    def getLogger(self) -> logging.Logger:  # noqa: N802 (Sardana's names)
        """A Python logger named after the macro (the server log)."""
        return logging.getLogger(f"macroserver.macro.{self.name}")

    getLogObj = getRootLog = getLogger

    def getLogName(self) -> str:  # noqa: N802
        return self.getLogger().name

    getLogFullName = getLogName

    def getLogLevel(self) -> int:  # noqa: N802
        return self.getLogger().getEffectiveLevel()

    def setLogLevel(self, level: int) -> None:  # noqa: N802
        self.getLogger().setLevel(level)

    # -- libraries, door, server ---------------------------------------------------------

    def getMacroLibraries(self, filter: str | None = None) -> dict[str, list[str]]:  # noqa: A002, N802
        """Library name → its macros."""
        import re

        libraries: dict[str, list[str]] = {}
        for name in self.server.macros.names():
            library = self.server.macros.get(name).library()
            if filter is None or re.match(filter, library):
                libraries.setdefault(library, []).append(name)
        return libraries

    getMacroLibs = getMacroLibraries

    def getMacroLibrary(self, lib_name: str) -> list[str] | None:  # noqa: N802
        return self.getMacroLibraries().get(lib_name)

    getMacroLib = getMacroLibrary

    def getMacroServer(self) -> Any:  # noqa: N802
        return self.server

    getManager = getMacroServer

    @property
    def macro_server(self) -> Any:
        return self.server

    manager = macro_server

    @property
    def door(self) -> str:
        return self.context.door_name

    def getDoorObj(self) -> str:  # noqa: N802
        return self.context.door_name

    @property
    def macro_command(self) -> str:
        return self.context.command

    def getMacroThread(self) -> threading.Thread:  # noqa: N802
        return threading.current_thread()

    def getMacroThreadID(self) -> int | None:  # noqa: N802
        return threading.get_ident()

    def getMacroStatus(self) -> dict[str, Any]:  # noqa: N802
        return {"id": self.context.macro_id, "name": self.name, "step": self.context.step,
                "range": [0.0, 100.0]}

    # -- ancestors' state ----------------------------------------------------------------

    def isAnyAncestorStopped(self) -> bool:  # noqa: N802
        """A macro and the macros it runs share one stop request."""
        return self.context.control.stop_requested

    def isAnyAncestorExecutingOnStop(self) -> bool:  # noqa: N802
        return False

    def isProcessingStop(self) -> bool:  # noqa: N802
        return self.context.control.stop_requested

    # -- objects -------------------------------------------------------------------------

    def addObj(self, obj: Any, priority: int = 0) -> Any:  # noqa: N802
        """Reserve an element for this macro (other doors' macros cannot use it)."""
        inner = obj._inner if isinstance(obj, elements.Element) else obj
        self.reserve(inner)
        return obj

    def addObjs(self, obj_list: Sequence[Any]) -> list[Any]:  # noqa: N802
        return [self.addObj(o) for o in obj_list]

    def returnObj(self, obj: Any) -> None:  # noqa: N802
        """Reservations end with the macro."""

    def sendRecordData(self, data: Any, codec: str = "utf8_json") -> None:  # noqa: N802
        """Raw data on the Door's RecordData (JSON-encoded unless bytes)."""
        import json

        payload = data if isinstance(data, bytes) else json.dumps(data, default=str).encode()
        self.context.listener.record_data(codec, payload)
