"""The pre-scan snapshot group from the shell: lssnap, defsnap, udefsnap (Sardana's).

The group is the `PreScanSnapshot` variable: motors, Tango attributes and environment
variables, each as a name or `[name, label]`; every change is checked as senv checks it.
"""

from __future__ import annotations

from typing import Any

from macroserver.errors import ParamError
from macroserver.macros import STRING, Macro, Param, Repeat
from macroserver.macros.std.tables import sardana_list

SNAPSHOT = "PreScanSnapshot"


def _items(macro: Macro) -> list[tuple[str, str]]:
    """(name, label) of each item of the snapshot group."""
    return [(e, e) if isinstance(e, str) else (str(e[0]), str(e[-1]))
            for e in macro.env.get(SNAPSHOT) or []]


def _store(macro: Macro, items: list[tuple[str, str]]) -> None:
    macro.env.set(SNAPSHOT, [[name, label] for name, label in items])


class lssnap(Macro):
    """List pre-scan snapshot group."""

    def run(self) -> None:
        items = _items(self)
        if self.env.get(SNAPSHOT) is None:
            self.output("No pre-scan snapshot")
            return
        for line in sardana_list(["Snap item", "Snap item full name"],
                                 [[label, name] for name, label in items]):
            self.output(line)


class defsnap(Macro):
    """Define snapshot group item(s): motors, Tango attributes (sys/tg_test/1/ampli) or
    environment variables."""

    params = [Repeat("snap_names", [Param("name", STRING, description="Name of an item to "
                                          "be added to the pre-scan snapshot group")],
                     min=1, description="Items to be added to the pre-scan snapshot group")]

    def run(self, names: list[str]) -> None:
        items = _items(self)
        for name in names:
            if name in (n for n, _ in items):
                raise ParamError(f"{name} already in pre-scan snapshot")
            items.append((name, name))
        _store(self, items)  # checked: an unknown name is refused, nothing changes


class udefsnap(Macro):
    """Undefine snapshot group item(s). Without arguments undefine all."""

    params = [Repeat("snap_names", [Param("name", STRING, description="Name of an item to "
                                          "be removed from the pre-scan snapshot group")],
                     min=0, description="Items to be removed from the pre-scan snapshot "
                                        "group")]

    def run(self, names: list[str]) -> None:
        if not names:
            if self.env.get(SNAPSHOT) is not None:
                self.env.unset(SNAPSHOT)
            return
        if self.env.get(SNAPSHOT) is None:
            raise ParamError("no pre-scan snapshot defined")
        items: list[Any] = _items(self)
        for name in names:
            if name not in (n for n, _ in items):
                raise ParamError(f"{name} not in pre-scan snapshot")
            items = [(n, label) for n, label in items if n != name]
        _store(self, items)
