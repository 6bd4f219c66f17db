"""Which recorders exist, and which of them a scan uses.

Recorder classes come from the entry-point group `macroserver.recorders` (our own five
included) and from the `RecorderPath` folders. A scan's selection follows Sardana's
environment names: non-file recorders by their `enable_env` variable, file recorders by
the extension of each `ScanFile` entry inside `ScanDir` (or by name via `ScanRecorder`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from macroserver.datafiles import DataPathError, DataRoots, FilePolicy
from macroserver.errors import EnvError, UnknownName
from macroserver.plugins import find_plugins
from macroserver.recorders.base import Recorder, RecorderContext
from macroserver.streams import Level, MacroListener

ENTRY_POINT_GROUP = "macroserver.recorders"


@dataclass
class Selection:
    """The recorders chosen for one scan, plus the hints to show the user."""

    chosen: list[tuple[type[Recorder], RecorderContext]] = field(default_factory=list)
    hints: list[tuple[Level, str]] = field(default_factory=list)

    @property
    def files(self) -> list[tuple[Path, str]]:
        return [
            (ctx.path, cls.format_name or cls.name) for cls, ctx in self.chosen if ctx.path
        ]


class RecorderRegistry:
    """Recorder classes by name and by file extension."""

    def __init__(self, recorder_path: Iterable[Path] = ()) -> None:
        classes, self.problems = find_plugins(ENTRY_POINT_GROUP, list(recorder_path), Recorder)
        self._by_name: dict[str, type[Recorder]] = {}
        self._by_extension: dict[str, type[Recorder]] = {}
        for cls in classes:  # folders come after entry points, so they override
            self._by_name[cls.name or cls.__name__] = cls
            self._by_name[cls.__name__] = cls
            for extension in cls.extensions:
                self._by_extension[extension.lower()] = cls
        self.switchable = [c for c in dict.fromkeys(self._by_name.values()) if not c.extensions]

    def names(self) -> list[str]:
        return sorted({cls.name or cls.__name__ for cls in self._by_name.values()})

    def by_name(self, name: str) -> type[Recorder]:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownName("recorder", name, self._by_name) from None

    def for_file(self, file_name: str) -> type[Recorder]:
        extension = os.path.splitext(file_name)[1].lower()
        try:
            return self._by_extension[extension]
        except KeyError:
            known = " ".join(sorted(self._by_extension)) or "none"
            raise EnvError(
                f"no recorder writes {extension or 'extension-less'} files such as "
                f"{file_name!r} (known extensions: {known}); rename the file or set ScanRecorder"
            ) from None

    def select(
        self,
        env: Mapping[str, Any],
        data_roots: DataRoots,
        listener: MacroListener,
        file_policy: FilePolicy,
        door_name: str = "local",
    ) -> Selection:
        """The recorders `env` asks for, each with its context; raise on unusable settings."""
        selection = Selection()

        def context(path: Path | None = None) -> RecorderContext:
            return RecorderContext(listener, env, path, file_policy, door_name)

        for cls in self.switchable:
            if cls.enable_env is None:
                selection.chosen.append((cls, context()))
            elif cls.enable_env not in env:
                if cls.enable_default:
                    selection.chosen.append((cls, context()))
                else:
                    selection.hints.append((Level.INFO, (
                        f"{cls.enable_env} is not defined. "
                        f'Use "senv {cls.enable_env} {cls.enable_example}" to enable it')))
            elif env[cls.enable_env]:
                selection.chosen.append((cls, context()))
        for cls, path in self._file_recorders(env, data_roots, selection):
            selection.chosen.append((cls, context(path)))
        return selection

    def _file_recorders(
        self, env: Mapping[str, Any], data_roots: DataRoots, selection: Selection
    ) -> list[tuple[type[Recorder], Path]]:
        scan_dir, scan_file = env.get("ScanDir"), env.get("ScanFile")
        for name, value in (("ScanDir", scan_dir), ("ScanFile", scan_file)):
            if not value:
                selection.hints.append((Level.WARNING, (
                    f"{name} is not defined. This operation will not be stored persistently. "
                    f'Use "newfile <ScanDir>/<ScanFile>" or "senv {name} ..." to enable it')))
                return []
        if not isinstance(scan_dir, str):  # a value stored before env.update checked it
            raise EnvError(f"ScanDir must be a folder name, not {scan_dir!r}")
        files = [scan_file] if isinstance(scan_file, str) else scan_file
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise EnvError(f"ScanFile must be a file name or a list of names, not {scan_file!r}")
        recorders = env.get("ScanRecorder") or []
        recorders = [recorders] if isinstance(recorders, str) else list(recorders)
        chosen = []
        for index, file_name in enumerate(files):
            try:
                path = data_roots.resolve_file(scan_dir, file_name)
            except DataPathError as exc:
                raise EnvError(str(exc)) from None
            named = recorders[index] if index < len(recorders) else None
            cls = self.by_name(named) if named else self.for_file(file_name)
            chosen.append((cls, path))
        return chosen
