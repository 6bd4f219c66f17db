"""Sardana's environment members of `Macro`, with its scopes.

`getEnv("ScanFile")` looks up `door.macro.ScanFile`, `door.ScanFile`, `macro.ScanFile`
and `ScanFile`, most specific first (our `EnvView`), and raises `UnknownEnv` when none
is set. Writes go through our checked environment, as senv's do.
"""

from __future__ import annotations

from typing import Any, Sequence

from macroserver.macros import EnvView
from macroserver.sardana_api.mixin import MacroBase
from macroserver.sardana_api.msexception import UnknownEnv


class EnvAPI(MacroBase):
    """getEnv/setEnv/unsetEnv and the whole-environment readers."""

    def _view(self, macro_name: str | None, door_name: str | None) -> EnvView:
        if macro_name is None and door_name is None:
            return self.env
        return EnvView(self.env.server_env, door_name or self.context.door_name,
                       macro_name or self.name)

    def getEnv(self, key: str | None = None, macro_name: str | None = None,  # noqa: N802
               door_name: str | None = None) -> Any:
        """The value of `key` as this macro on this door sees it; every visible
        variable when `key` is None. UnknownEnv when it is not set."""
        view = self._view(macro_name, door_name)
        if key is None:
            return view.snapshot()
        if key not in view:
            raise UnknownEnv(f"Unknown environment {key}")
        return view.get(key)

    def setEnv(self, key: str, value: Any) -> dict[str, Any]:  # noqa: N802
        """Set `key` (it may carry a scope: `door.Name`, `macro.Name`)."""
        self.env.set(key, value)
        return {key: value}

    def unsetEnv(self, key: str | Sequence[str]) -> None:  # noqa: N802
        names = [key] if isinstance(key, str) else list(key)
        missing = [n for n in names if n not in self.env.server_env]
        if missing:
            raise UnknownEnv(f"Unknown environment {', '.join(missing)}")
        self.env.unset(*names)

    def getGlobalEnv(self, key: str | None = None) -> Any:  # noqa: N802
        """A variable without scope (every unscoped variable when `key` is None)."""
        values = self.env.server_env.snapshot()
        if key is None:
            return {k: v for k, v in values.items() if "." not in k}
        if key not in values:
            raise UnknownEnv(f"Unknown environment {key}")
        return values[key]

    def getAllEnv(self) -> dict[str, Any]:  # noqa: N802
        """The whole environment, scoped names included."""
        return self.env.server_env.snapshot()

    def getAllDoorEnv(self) -> dict[str, Any]:  # noqa: N802
        """What this door sees: the global variables with the door's own on top."""
        values = self.env.server_env.snapshot()
        door = self.context.door_name.lower()
        seen = {k: v for k, v in values.items() if "." not in k}
        prefix = f"{door}."
        seen.update({k[len(prefix):]: v for k, v in values.items()
                     if k.lower().startswith(prefix) and "." not in k[len(prefix):]})
        return seen
