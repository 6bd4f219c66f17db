"""Listing what the server knows: motors, channels, macros, libraries, recorders,
measurement groups (lsa, lsct, ls0d, ls1d, ls2d, lsdef, lsmaclib, lsrec as Sardana's)."""

from __future__ import annotations

import inspect
import re
import sys
from typing import Any, Iterable, Protocol, TypeVar

from macroserver.elements.pool import CHANNEL_TYPES
from macroserver.errors import ParamError
from macroserver.macros import MACRO_NAME, STRING, Macro, Param, Repeat
from macroserver.macros.std.tables import sardana_list, table_lines
from macroserver.macros.std.viewoptions import view_option


class HasName(Protocol):
    @property
    def name(self) -> str: ...


Named = TypeVar("Named", bound=HasName)

FILTER = Repeat("filter", [Param("filter", STRING, ".*", "a regular expression filter")],
                min=0, description="a regular expression filter")


def matching(patterns: list[str], elements: Iterable[Named]) -> list[Named]:
    """The elements whose whole name matches one of the regular expressions (any case),
    sorted by name; all of them without a pattern."""
    try:
        matcher = re.compile("|".join(f"(?:{p})" for p in patterns or [".*"]), re.IGNORECASE)
    except re.error as exc:
        raise ParamError(f"filter {' '.join(patterns)!r} is not a regular expression: "
                         f"{exc}") from None
    return sorted((e for e in elements if matcher.fullmatch(e.name)),
                  key=lambda e: e.name)


def controller_axes(elements: Iterable[Any]) -> dict[str, tuple[str, int]]:
    """Controller and axis of each element by name: simulated elements under the
    `simulation` controller, Tango-backed ones under `tango`, numbered from 1 within their
    controller in the configuration's order, as Sardana numbers axes."""
    counts: dict[str, int] = {}
    found = {}
    for element in elements:
        controller = "tango" if isinstance(getattr(element, "device", None), str) \
            else "simulation"
        counts[controller] = counts.get(controller, 0) + 1
        found[element.name] = (controller, counts[controller])
    return found


class _lsobj(Macro):
    """Sardana's element lists: Name, Type, Controller, Axis of the elements of `types`
    whose name matches the filter."""

    params = [FILTER]
    types: tuple[str, ...] = ()
    what = ""

    def run(self, patterns: list[str]) -> None:
        typed: list[tuple[Any, str]] = [(m, "Motor") for m in self.pool.motors.values()]
        typed += [(c, CHANNEL_TYPES[c.kind]) for c in self.pool.channels.values()]
        chosen = {id(e): t for e, t in typed if t in self.types}
        found = matching(patterns, [e for e, _ in typed if id(e) in chosen])
        if not found:
            self.output(f"No {self.what}s defined")
            return
        axes = controller_axes(e for e, _ in typed)
        rows = [[e.name, chosen[id(e)], *axes[e.name]] for e in found]
        for line in sardana_list(["Name", "Type", "Controller", "Axis"], rows):
            self.output(line)


class lsa(_lsobj):
    """Lists all existing objects."""

    types = ("Motor", *sorted(set(CHANNEL_TYPES.values())))
    what = "moveable, comchannel, expchannel, ioregister, triggergate"


class lsexp(_lsobj):
    """Lists all experiment channels."""

    types, what = tuple(sorted(set(CHANNEL_TYPES.values()))), "expchannel"


class lspm(_lsobj):
    """Lists all existing pseudo motors (none here: every motor is a real one)."""

    types, what = ("PseudoMotor",), "pseudomotor"


class lspc(_lsobj):
    """Lists all pseudo counters (none here: every channel is read as it is)."""

    types, what = ("PseudoCounter",), "pseudocounter"


class lstg(_lsobj):
    """Lists all trigger/gate elements (none here: a gated channel drives its own)."""

    types, what = ("TriggerGate",), "triggergate"


class lsior(_lsobj):
    """Lists all IORegisters (none here)."""

    types, what = ("IORegister",), "ioregister"


class lscom(_lsobj):
    """Lists all communication channels (none here)."""

    types, what = ("ComChannel",), "comchannel"


class lsct(_lsobj):
    """Lists all Counter/Timers."""

    types, what = ("CTExpChannel",), "ctexpchannel"


class ls0d(_lsobj):
    """Lists all 0D experiment channels."""

    types, what = ("ZeroDExpChannel",), "zerodexpchannel"


class ls1d(_lsobj):
    """Lists all 1D experiment channels."""

    types, what = ("OneDExpChannel",), "onedexpchannel"


class ls2d(_lsobj):
    """Lists all 2D experiment channels."""

    types, what = ("TwoDExpChannel",), "twodexpchannel"


def brief(description: str, length: int) -> str:
    """A description on one line, cut with [...] as Sardana's lsdef shows it."""
    text = description.replace("\n", " ")
    return text[:length - 5] + "[...]" if len(text) > length - 5 else text


class lsdef(Macro):
    """List all macro definitions."""

    params = [FILTER]

    def run(self, patterns: list[str]) -> None:
        macros = [self.server.macros.get(n) for n in self.server.macros.names()
                  if not n.startswith("_")]
        length = int(view_option(self, "DescriptionLength"))
        rows = [[m.name, m.library(), brief(m.description(), length)]
                for m in matching(patterns, macros)]
        for line in sardana_list(["Name", "Module", "Brief Description"], rows, "rrl"):
            self.output(line)


def library_list(macro: Macro, patterns: list[str], files: dict[str, str]) -> None:
    """Sardana's library lists (lsmaclib, lsreclib): Name and Location of each library."""
    libraries = [_Named(name, path) for name, path in files.items()]
    rows = [[lib.name, lib.detail] for lib in matching(patterns, libraries)]
    for line in sardana_list(["Name", "Location"], rows):
        macro.output(line)


class prdef(Macro):
    """Returns the the macro code for the given macro name."""

    params = [Param("macro_name", MACRO_NAME, description="macro name")]

    def run(self, name: str) -> None:
        cls = self.server.macros.get(name)  # an unknown name is refused with suggestions
        try:
            lines, _ = inspect.getsourcelines(cls)
        except (OSError, TypeError) as exc:
            raise ParamError(f"the code of {name} cannot be read: {exc}") from None
        for line in lines:
            self.output(line.strip("\n"))


class lsp(_lsobj):
    """Lists all pools (none: the elements come from the configuration file)."""

    types, what = ("Pool",), "pool"


class lsi(_lsobj):
    """Lists all existing instruments (none here)."""

    types, what = ("Instrument",), "instrument"


class lsmaclib(Macro):
    """Lists existing macro libraries."""

    params = [FILTER]

    def run(self, patterns: list[str]) -> None:
        files: dict[str, str] = {}
        for name in self.server.macros.names():
            cls = self.server.macros.get(name)
            files.setdefault(cls.library(), cls.source_file())
        library_list(self, patterns, files)


class lsrec(Macro):
    """Lists available recorder classes."""

    params = [FILTER]

    def run(self, patterns: list[str]) -> None:
        recorders = [_Named(name, self.server.recorders.by_name(name).__module__.rsplit(".", 1)[-1])
                     for name in self.server.recorders.names()]
        rows = [[rec.name, rec.detail] for rec in matching(patterns, recorders)]
        for line in sardana_list(["Name", "Module"], rows):
            self.output(line)


class lsreclib(Macro):
    """Lists existing recorder libraries."""

    params = [FILTER]

    def run(self, patterns: list[str]) -> None:
        files: dict[str, str] = {}
        for name in self.server.recorders.names():
            cls = self.server.recorders.by_name(name)
            module = sys.modules.get(cls.__module__)
            files.setdefault(cls.__module__.rsplit(".", 1)[-1],
                             getattr(module, "__file__", None) or "")
        library_list(self, patterns, files)


class _Named:
    """A name with one more column (a library's file, a recorder's module)."""

    def __init__(self, name: str, detail: str) -> None:
        self.name, self.detail = name, detail


def _table(macro: Macro, rows: list[list[str]]) -> None:
    for line in table_lines(rows):
        macro.output(line)


class lsm(_lsobj):
    """Lists all motors."""

    types, what = ("Motor",), "moveable"


class lsmac(Macro):
    """Lists existing macros with the file each comes from, then the macro files that did
    not load (why)."""

    params = [FILTER]

    def run(self, patterns: list[str]) -> None:
        macros = [self.server.macros.get(n) for n in self.server.macros.names()]
        rows = [[m.name, m.source_file()] for m in matching(patterns, macros)]
        for line in sardana_list(["Name", "Location"], rows):
            self.output(line)
        for problem in self.server.macros.problems:
            self.warning(f"not loaded: {problem.source}: {problem.error}")


class lsmg(Macro):
    """List the measurement groups: timer and channels (* marks the active one)."""

    def run(self) -> None:
        active = self.env.get("ActiveMntGrp")
        rows = [["", "Name", "Timer", "Channels"]]
        for group in self.pool.measurement_groups.values():
            rows.append(["*" if group.name == active else "", group.name, group.timer,
                         ", ".join(c.name for c in group.channels)])
        _table(self, rows)
