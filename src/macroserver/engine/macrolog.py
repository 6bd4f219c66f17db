"""Sardana's macro logging (`logmacro`): what a door's macros say, kept in a file.

With `LogMacro` true, each macro started on a door writes its Output, Info, Warning,
Error and Critical lines to `session_<door>.log` in `LogMacroDir` (inside the data
roots; by default ScanDir, else the first data root). `LogMacroMode` true starts a new
file for every macro, keeping the previous ones as `.1` ... `.100` (Sardana's
rotation); false or unset appends. A log that cannot be written is a Warning; the macro
runs anyway.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from macroserver.datafiles import DataPathError, Folder
from macroserver.streams import Level, MacroListener

if TYPE_CHECKING:
    from macroserver.engine.core import MacroServerCore
    from macroserver.engine.environment import EnvView

BACKUPS = 100
"""Earlier logs kept when every macro starts a new one (LogMacroMode true)."""


def log_name(door: str) -> str:
    """`session_door_x_1.log` for door `door/x/1` (Sardana's file name)."""
    return "session_" + door.replace(":", "_").replace("/", "_") + ".log"


class LoggingListener:
    """Passes everything on to `inner`, and appends the macro's messages to `fd`."""

    def __init__(self, inner: MacroListener, fd: int) -> None:
        self.inner = inner
        self._fd = fd
        self._lock = threading.Lock()

    def message(self, level: Level, text: str) -> None:
        if level is not Level.DEBUG:
            with self._lock:
                if self._fd >= 0:
                    os.write(self._fd, (text + "\n").encode("utf-8", "replace"))
        self.inner.message(level, text)

    def record_data(self, codec: str, payload: bytes) -> None:
        self.inner.record_data(codec, payload)

    def status(self, status: dict[str, Any]) -> None:
        self.inner.status(status)

    def result(self, values: list[str]) -> None:
        self.inner.result(values)

    def input_request(self, request: dict[str, Any]) -> None:
        self.inner.input_request(request)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def macro_log(server: "MacroServerCore", env: "EnvView", door: str,
              listener: MacroListener) -> LoggingListener | None:
    """The listener that also logs to the door's file, when `LogMacro` asks for one."""
    if env.get("LogMacro") is not True:
        return None
    folder_name = env.get("LogMacroDir") or env.get("ScanDir") or (
        server.data_roots.roots[0] if server.data_roots.roots else None)
    name = log_name(door)
    try:
        if not folder_name:
            raise DataPathError("no LogMacroDir, ScanDir or data root to write it in")
        path = server.data_roots.resolve_dir(str(folder_name))
        with Folder(path, server.config.file_policy) as folder:
            if env.get("LogMacroMode") is True and folder.exists(name):
                for index in range(BACKUPS - 1, 0, -1):
                    if folder.exists(f"{name}.{index}"):
                        folder.replace(f"{name}.{index}", f"{name}.{index + 1}")
                folder.replace(name, f"{name}.1")
            fd = folder.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    except (DataPathError, OSError) as exc:
        listener.message(Level.WARNING, f"LogMacro is on but {name} cannot be written: {exc}")
        return None
    return LoggingListener(listener, fd)
