"""Where an instance keeps its state: one folder per instance, nothing shared.

An instance's environment, its MetadataManager's metadata, its logs and whatever its
elements keep between runs (a simulated motor's dial and offset, measured overheads)
live in its state folder, so two instances never see each other's values. The folder is
the one `--dir` names (`macroserver up`, `demo`), the folder of the environment file
(`EnvironmentDb`, `macroserver run --env`), or by default
`$XDG_STATE_HOME/tango-macroserver/<instance>` (`~/.local/state/...`): never a
temporary directory, so it survives a reboot.

Code that keeps something for an instance asks `MacroServerCore.state_dir` (the engine)
or `state_dir_of(environment file)` (a device beside it) for the folder, and names its
file there; nothing builds a state path of its own.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PROGRAM = "tango-macroserver"
ENVIRONMENT_FILE = "environment.json"


def user_state_root() -> Path:
    """`$XDG_STATE_HOME/tango-macroserver` (default `~/.local/state/...`): where the
    per-instance folders are when no `--dir` is given."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / PROGRAM


def instance_state_dir(instance: str, root: Path | None = None) -> Path:
    """The state folder of `instance` (`root`, by default `user_state_root()`, holds one
    folder per instance)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", instance) or "_"
    return (root if root is not None else user_state_root()) / name


def state_dir_of(environment_file: Path) -> Path:
    """The state folder of the instance whose environment is `environment_file`: its
    folder (the environment is the one piece of state every instance has)."""
    return environment_file.parent


def metadata_file(state_dir: Path, device: str) -> Path:
    """Where MetadataManager `device` of the instance keeps its metadata."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", device.lower())
    return state_dir / "metadata" / f"{name}.json"
