"""The macro server without Tango: configuration, environment, macros and recorders.

One `MacroServerCore` is shared by all doors of a server (or by the local runner);
each door gets its own `MacroRunner`, which runs one macro at a time.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from macroserver.config import ServerConfig
from macroserver.datafiles import DataPathError, DataRoots
from macroserver.engine.control import MacroControl
from macroserver.engine.environment import ServerEnvironment
from macroserver.engine.lastscan import LastScans
from macroserver.engine.macro import Macro, MacroContext
from macroserver.engine.overheads import FILE_NAME, OverheadStore
from macroserver.engine.parser import MAX_LINE, bind, command_line, tokenize, tokens_from_args
from macroserver.engine.registry import MacroRegistry
from macroserver.engine.reservations import Reservations
from macroserver.engine.sidecars import SidecarQueue
from macroserver.engine.xmlcommand import is_xml, tokens_from_xml
from macroserver.env import Environment, scoped_name
from macroserver.errors import ParamError
from macroserver.plugins import ModulePreparer
from macroserver.recorders.h5recovery import recover_scan_files
from macroserver.recorders.registry import RecorderRegistry
from macroserver.statedir import state_dir_of
from macroserver.streams import MacroListener

MAX_MACRO_ID = 64
log = logging.getLogger(__name__)


def check_macro_id(macro_id: str) -> str:
    """A client's macro id: short, printable, no spaces (Sardana's are UUIDs)."""
    if not macro_id or len(macro_id) > MAX_MACRO_ID or not macro_id.isprintable() or any(
            c.isspace() for c in macro_id):
        raise ParamError(f"macro id {macro_id[:MAX_MACRO_ID]!r} is not usable: give 1 to "
                         f"{MAX_MACRO_ID} printable characters without spaces")
    return macro_id


#: What a new environment starts with (a deviation from Sardana's empty one, docs/web.md).
NEW_ENVIRONMENT = {"JsonRecorder": True}


class MacroServerCore:
    """Elements, environment, data roots and the macro and recorder registries."""

    def __init__(
        self,
        config: ServerConfig,
        env: Environment,
        extra_data_roots: Iterable[Path] = (),
        extra_macro_path: Iterable[Path] = (),
        extra_recorder_path: Iterable[Path] = (),
        scan_dir_fallback: bool = False,
        prepare_macro_file: ModulePreparer | None = None,
    ) -> None:
        self.config = config
        #: the instance's state folder (statedir.py), the environment file's folder:
        #: whatever the instance keeps between runs goes in it; None only for an
        #: in-memory environment (tests), which keeps nothing
        self.state_dir: Path | None = state_dir_of(env.path) if env.path is not None else None
        self.pool = config.pool
        # points published from the first scan, and defined, so that Sardana's clients
        # (which ask to set it when it is missing) see it on (docs/web.md)
        env.start_with(NEW_ENVIRONMENT)
        #: the environment; `env.update` is the one way to change it (checked, atomic)
        self.env = ServerEnvironment(env, self)
        if self.state_dir is not None:  # the motors' calibration is kept there too
            self.pool.keep_state(self.state_dir)
        self.data_roots = DataRoots([*config.data_roots, *extra_data_roots])
        self.macro_path = [*config.macro_path, *extra_macro_path]
        #: given each MacroPath file's module before it runs (macroserver.sardana_api's
        #: import names); None: plain Python
        self.prepare_macro_file = prepare_macro_file
        self.macros = MacroRegistry(self.macro_path, prepare_macro_file)
        self.reload_listeners: list[Callable[[], Callable[[], None]]] = []
        self.recorders = RecorderRegistry([*config.recorder_path, *extra_recorder_path])
        # A personal system (`macroserver run`, `up`) writes a scan whose ScanDir was
        # left outside the data roots (the user changed folder) into the first root, and
        # counts a measurement group left from another configuration with the first
        # one, with a Warning; a facility server refuses both.
        self.scan_dir_fallback = scan_dir_fallback
        #: the MetadataManager device read at scan start (configuration or device property)
        self.metadata_manager: str | None = config.metadata.manager
        #: called with each finished scan's catalogue document (the Tango attribute)
        self.scan_document_listeners: list[Callable[[dict[str, Any]], None]] = []
        #: writes each scan's catalogue sidecar after its end (checksums off its path)
        self.sidecars = SidecarQueue()
        self.reservations = Reservations()
        #: per-point overheads measured here, beside the environment file (forecasts)
        self.overheads = OverheadStore(env.path.parent / FILE_NAME if env.path else None)
        #: each door's last scan, for Sardana's RecordData read (`%macrodata`)
        self.last_scans = LastScans()

    def reload_macros(self) -> list[str]:
        """Load the macros again, new and changed files included (ReloadMacro,
        SetMacroCode, relmac); returns the load problems. A running macro keeps the class
        it started with. Each of `reload_listeners` is called before and returns what to
        call after (the Tango device sends the change it saw as an Elements event)."""
        after = [listener() for listener in self.reload_listeners]
        self.macros = MacroRegistry(self.macro_path, self.prepare_macro_file)
        for done in after:
            done()
        problems = [str(p) for p in self.macros.problems]
        for problem in problems:
            log.warning("macro reload: %s", problem)
        return problems

    def recover_scan_files(self, holder: str) -> list[str]:
        """Close the scan files a killed writer left open in the ScanDir folders of the
        environment (every scope); one message per file (also logged). Called at start."""
        folders = []
        for name, value in self.env.snapshot().items():
            if scoped_name(name)[1] == "ScanDir" and isinstance(value, str) and value:
                try:
                    folders.append(self.data_roots.resolve_dir(value))
                except DataPathError:
                    continue  # outside the data roots: not ours to touch
        return recover_scan_files(folders, holder)

    @property
    def load_problems(self) -> list[str]:
        """Plug-ins that could not be loaded (reported at start-up, never fatal)."""
        return [str(p) for p in (*self.macros.problems, *self.recorders.problems)]

    def parse(self, command: str | Sequence[str]) -> tuple[type[Macro], list[Any], str]:
        """Macro class, typed values and the normalised command line, or a clear error."""
        if not isinstance(command, str) and sum(len(arg) for arg in command) > MAX_LINE:
            raise ParamError(f"command is longer than {MAX_LINE} characters")
        text = command if isinstance(command, str) else (
            command[0] if len(command) == 1 else None)
        if text is not None and is_xml(text):  # Sardana clients: <macro name=...>
            tokens = tokens_from_xml(text)
        elif text is not None:
            tokens = tokenize(text)
        else:
            tokens = tokens_from_args(list(command))
        if not tokens:
            raise ParamError("empty command: give a macro name and its parameters")
        name = tokens[0]
        if not isinstance(name, str):
            raise ParamError("a command must start with a macro name, not a [ ] group")
        cls = self.macros.get(name)
        values = bind(cls.params, tokens[1:], self.pool)
        return cls, values, command_line(tokens)

    def new_context(
        self, listener: MacroListener, control: MacroControl, door_name: str, command: str,
        macro_id: str | None = None,
    ) -> MacroContext:
        """A run's context; `macro_id` is the client's id (checked), else a new one."""
        if macro_id is not None:
            check_macro_id(macro_id)
        return MacroContext(self, listener, control, door_name,
                            macro_id or uuid.uuid4().hex[:12], command)
