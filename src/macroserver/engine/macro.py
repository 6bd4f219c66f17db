"""The Macro base class: what a macro author writes against.

A macro is a class with a docstring, a list of typed `params` and a `run` method taking
them in order. Inside `run` it talks to the user through `output`/`info`/`warning`/
`error`/`debug`, reaches elements through `self.pool`, the environment through
`self.env` (checked like senv), and calls `self.checkpoint()` where stop and pause may
take effect.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from macroserver.engine.control import MacroControl
from macroserver.engine.params import ParamDef
from macroserver.streams import Level, MacroListener

if TYPE_CHECKING:
    from macroserver.engine.core import MacroServerCore


@dataclass
class MacroContext:
    """Everything one macro run is bound to."""

    server: "MacroServerCore"
    listener: MacroListener
    control: MacroControl
    door_name: str
    macro_id: str
    command: str


class Macro:
    """Base class of all macros. Subclasses set `params` and implement `run`."""

    #: Parameters in the order they are typed.
    params: ClassVar[Sequence[ParamDef]] = ()
    #: Name the macro is called by (default: the class name).
    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__

    def __init__(self, context: MacroContext) -> None:
        self.context = context
        self.server = context.server
        self.pool = context.server.pool
        self.env = context.server.env

    def run(self, *args: Any) -> Any:
        raise NotImplementedError(f"macro {self.name} does not implement run()")

    @classmethod
    def description(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Plain-JSON description (GetMacroInfo, Elements, `help` in the shell)."""
        return {
            "name": cls.name,
            "module": cls.__module__,
            "description": cls.description(),
            "parameters": [p.describe() for p in cls.params],
        }

    @classmethod
    def usage(cls) -> str:
        parts = []
        for p in cls.params:
            text = p.name if p.required else f"[{p.name}]"
            parts.append(f"[{text} ...]" if hasattr(p, "params") else text)
        return " ".join([cls.name, *parts])

    # -- talking to the user -------------------------------------------------------

    def _emit(self, level: Level, text: str, args: tuple[Any, ...]) -> None:
        self.context.listener.message(level, text % args if args else str(text))

    def output(self, text: Any, *args: Any) -> None:
        self._emit(Level.OUTPUT, text, args)

    def info(self, text: Any, *args: Any) -> None:
        self._emit(Level.INFO, text, args)

    def warning(self, text: Any, *args: Any) -> None:
        self._emit(Level.WARNING, text, args)

    def error(self, text: Any, *args: Any) -> None:
        self._emit(Level.ERROR, text, args)

    def debug(self, text: Any, *args: Any) -> None:
        self._emit(Level.DEBUG, text, args)

    # -- control ---------------------------------------------------------------------

    def reserve(self, *elements: Any) -> None:
        """Reserve motors/channels for this door until the macro ends; raise (before
        anything moves) if a macro on another door holds one of them."""
        self.server.reservations.reserve(self.context.door_name, [e.name for e in elements])

    def checkpoint(self) -> None:
        """Where stop and pause take effect (and abort, if not caught earlier)."""
        self.context.control.checkpoint()

    def progress(self, percent: float) -> None:
        """Report progress (0–100) on the macro status stream."""
        self.context.listener.status(
            {"id": self.context.macro_id, "name": self.name, "state": "step",
             "step": round(percent, 1), "range": [0, 100]}
        )

    def execute(self, command: str) -> Any:
        """Run another macro (by command line) inside this one, with the same streams."""
        macro, values = self.server.prepare(command, self.context)
        return macro.run(*values)
