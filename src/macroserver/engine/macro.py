"""The Macro base class: what a macro author writes against.

A macro is a class with a docstring, a list of typed `params` and a `run` method taking
them in order. Inside `run` it talks to the user through `output`/`info`/`warning`/
`error`/`debug`, reaches elements through `self.pool`, the environment through
`self.env` (checked like senv), and calls `self.checkpoint()` where stop and pause may
take effect. A macro that lists `hook_places` is hookable: hooks attached to it (by a
parent macro, or the general hooks of `defgh`) run at those places (engine/hooks.py).
"""

from __future__ import annotations

import inspect
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence

from macroserver.engine.control import MacroControl, StopRequested
from macroserver.engine.environment import EnvView
from macroserver.engine.hooks import (
    GENERAL_HOOKS,
    NO_PLACE,
    HookAction,
    HookError,
    general_hook_entries,
    hook_name,
)
from macroserver.engine.params import PARAM_TYPES, STRING, Param, ParamDef
from macroserver.errors import MacroServerError
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
    step: float = 0.0  # the last progress reported, in percent
    #: while a scan runs in this context: its `ScanStats` so far (for scanstats as a hook)
    scan_stats: Callable[[], dict[str, Any]] | None = None
    #: a dry run: the first scan replies with its forecast instead of running
    dry_run: bool = False
    estimate: float = 0.0  # s the running scan was forecast to take (0: unknown)
    started: float = 0.0  # its monotonic start

    def expect(self, seconds: float) -> None:
        """A scan starts now and should take `seconds` (MacroStatus's remaining time)."""
        self.estimate, self.started = seconds, time.monotonic()

    def timing(self) -> dict[str, float]:
        """The estimate and the time left, for MacroStatus (empty before any scan)."""
        if self.estimate <= 0:
            return {}
        elapsed = time.monotonic() - self.started
        left = self.estimate - elapsed
        if left <= 0 and 0 < self.step < 100:  # slower than forecast: follow the progress
            left = elapsed * (100 - self.step) / self.step
        return {"estimated_time": round(self.estimate, 3),
                "remaining_time": round(max(0.0, left) if self.step < 100 else 0.0, 3)}


class Macro:
    """Base class of all macros. Subclasses set `params` and implement `run`."""

    #: Parameters in the order they are typed.
    params: ClassVar[Sequence[ParamDef]] = ()
    #: Name the macro is called by (default: the class name).
    name: ClassVar[str] = ""
    #: What `run` returns, typed as parameters are (Sardana clients convert the result).
    results: ClassVar[Sequence[ParamDef]] = ()
    #: Environment variables the macro reads (Sardana's `GetMacroEnv` lists them).
    uses_env: ClassVar[Sequence[str]] = ()
    #: Where this macro runs hooks (Sardana's `allowsHooks` hint); empty: not hookable.
    hook_places: ClassVar[Sequence[str]] = ()
    #: True when `run` only reads until its scan starts, so that a dry run (SimulateMacro,
    #: `simulate`) can stop it there with the scan's forecast; other macros are refused.
    dry_runs: ClassVar[bool] = False
    #: A class named `_...` is a private base of a macro family, not a macro, unless it
    #: says `hidden = True`: then it is a macro called by name (`_wm`) that `lsdef` and
    #: `lsmac` leave out, as Sardana does with its `_`-named macros.
    hidden: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__

    def __init__(self, context: MacroContext) -> None:
        self.context = context
        self.server = context.server
        self.pool = context.server.pool
        self.env = EnvView(context.server.env, context.door_name, self.name)
        #: the parameter values `run_macro` runs this macro with (set by `create`)
        self.arguments: list[Any] = []
        #: the macro this one runs inside (it created it, or runs it as a hook); None for
        #: the macro a client started
        self.parent: Macro | None = None
        self._hooks: list[tuple[HookAction, list[str]]] = []

    def run(self, *args: Any) -> Any:
        raise NotImplementedError(f"macro {self.name} does not implement run()")

    def perform(self, *values: Any) -> Any:
        """What the runner (and a calling macro) calls with the parsed values: `run`.
        A dialect of macros overrides it (Sardana's calls `prepare` first, and runs a
        `run` that is a generator step by step)."""
        return self.run(*values)

    @classmethod
    def description(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def source_file(cls) -> str:
        """The file the macro is defined in ("" when unknown)."""
        module = sys.modules.get(cls.__module__)
        return getattr(module, "__file__", None) or ""

    @classmethod
    def library(cls) -> str:
        """The macro library: the file's name without `.py`, as Sardana names it."""
        path = cls.source_file()
        return Path(path).stem if path else cls.__module__.rsplit(".", 1)[-1]

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Plain-JSON description in Sardana's macro info form (GetMacroInfo, Elements,
        `help` in the shell): what spock, Taurus and our own clients read."""
        path, library = cls.source_file(), cls.library()
        return {
            "name": cls.name,
            "full_name": f"{library}.{cls.name}",
            "type": "MacroClass",
            "interfaces": ["Class", "MacroClass", "MacroCode", "MacroServerObject", "Object"],
            "module": library,
            "parent": library,
            "file_path": path,
            "file_name": Path(path).name if path else "",
            "path": str(Path(path).parent) if path else "",
            "description": cls.description(),
            "hints": {"allowsHooks": list(cls.hook_places)} if cls.hook_places else {},
            "parameters": [p.describe() for p in cls.params],
            "result": [p.describe() for p in cls.results],
            "id": 0,
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

    def critical(self, text: Any, *args: Any) -> None:
        self._emit(Level.CRITICAL, text, args)

    def input(self, prompt: Any, *args: Any, default_value: Any = None,
              data_type: str | Sequence[str] = "String", timeout: float | None = None,
              **extra: Any) -> Any:
        """Ask whoever runs the macro (spock, mspock, any client writing the Door's
        `Input`) and wait for the answer, converted to `data_type` (String, Integer, Float,
        Boolean, Motor, ...; a list of choices is sent as it is, the answer comes back
        as text). Without an answer within `timeout` the default is used (an
        error without one); a cancelled question stops the macro."""
        text = prompt % args if args else str(prompt)
        if default_value is not None:
            text = f"{text} [{default_value}]"
        request = {"type": "input", "prompt": text if text.endswith(" ") else text + " ",
                   "data_type": data_type, "allow_multiple": False,
                   "macro_id": self.context.macro_id, "macro_name": self.name, **extra}
        if default_value is not None:
            request["default_value"] = default_value
        if timeout is not None:
            request["timeout"] = timeout
        control = self.context.control
        control.expect_answer()
        self.context.listener.input_request(request)
        answered, answer = control.wait_answer(timeout)
        if not answered:
            timed_out = {"type": "timeout", "macro_id": self.context.macro_id}
            if default_value is not None:
                timed_out["default_value"] = default_value
            self.context.listener.input_request(timed_out)
            if default_value is None:
                raise MacroServerError(f"no answer to {text.strip()!r} within {timeout} s")
            return default_value
        if not isinstance(answer, dict) or answer.get("cancel"):
            raise StopRequested("input cancelled by the user")
        value = answer.get("input")
        if isinstance(value, list):  # several choices (allow_multiple)
            return [str(v) for v in value]
        if value in (None, "") and default_value is not None:
            return default_value
        kind = next((t for t in PARAM_TYPES if t.name == data_type), STRING)
        return Param("answer", kind).convert(str(value), self.pool)

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
        self.context.step = round(percent, 1)
        self.context.listener.status(
            {"id": self.context.macro_id, "name": self.name, "state": "step",
             "step": self.context.step, "range": [0.0, 100.0], **self.context.timing()}
        )

    def create(self, command: str | Sequence[str]) -> "Macro":
        """Another macro, to run inside this one with `run_macro`: its parameters checked
        now, the general hooks attached; set its `hooks` before running it."""
        cls, values, _ = self.server.parse(command)
        macro = cls(self.context)
        macro.arguments, macro.parent = values, self
        macro.attach_general_hooks()
        return macro

    def run_macro(self, macro: "Macro") -> Any:
        """Run a macro made by `create` (with the same streams); returns its result."""
        return macro.perform(*macro.arguments)

    def execute(self, command: str | Sequence[str]) -> Any:
        """Run another macro (by command line) inside this one, with the same streams."""
        return self.run_macro(self.create(command))

    # -- hooks -----------------------------------------------------------------------

    @property
    def hooks(self) -> list[tuple[HookAction, list[str]]]:
        """The hooks attached to this macro, general ones included: (callable, places)."""
        return list(self._hooks)

    @hooks.setter
    def hooks(self, hooks: Sequence[Any]) -> None:
        """Replace the hooks (general ones included, as Sardana does: `append_hook` keeps
        them). Each is (action, [places]) or an action alone (no places: it runs after
        each acquisition); an action is a callable or a macro command."""
        if self._hooks:
            self.warning(f"hooks set on {self.name} replace the {len(self._hooks)} hook(s) "
                         "it had, general hooks included (append them to keep those)")
        self._hooks = []
        for hook in hooks:
            if isinstance(hook, (tuple, list)) and len(hook) == 2 and isinstance(
                    hook[1], (tuple, list)):
                self.append_hook(hook[0], hook[1])
            else:
                self.append_hook(hook)

    def append_hook(self, action: HookAction | str | Sequence[str],
                    places: Sequence[str] = ()) -> None:
        """Attach one hook run at `places` (none: after each acquisition). A place this
        macro does not have is reported on the Warning stream; the hook never runs there."""
        if not callable(action):
            action = MacroHook(self, action)
        unknown = [p for p in places if p not in self.hook_places]
        if unknown:
            offered = ", ".join(self.hook_places) or "none"
            self.warning(f"hook {hook_name(action)!r}: {self.name} has no hook place "
                         f"{', '.join(map(repr, unknown))} (its places: {offered})")
        self._hooks.append((action, list(places)))

    def hooks_at(self, place: str) -> list[HookAction]:
        """The hooks to run at `place`, one of this macro's places, in the order they were
        attached (`NO_PLACE`: those attached without places)."""
        if place == NO_PLACE:
            return [action for action, places in self._hooks if not places]
        if place not in self.hook_places:
            return []
        return [action for action, places in self._hooks if place in places]

    def attach_general_hooks(self) -> None:
        """Attach the general hooks (`_GeneralHooks`, defgh) at this macro's places; a
        general hook whose macro cannot be run fails here, before anything moves."""
        if not self.hook_places:
            return
        for command, places in general_hook_entries(self.env.get(GENERAL_HOOKS, [])):
            mine = [p for p in places if p in self.hook_places]
            if mine:
                try:
                    hook = MacroHook(self, command)
                except Exception as exc:
                    raise HookError(f"general hook {command!r} ({', '.join(places)}) cannot "
                                    f"run: {exc}; see lsgh, udefgh") from exc
                self._hooks.append((hook, mine))


class MacroHook:
    """A macro command run as a hook of `owner`, inside it (same streams and control).
    The command is checked when the hook is made; the macro it runs gets no general
    hooks of its own (a general hook calling a scan would call itself)."""

    def __init__(self, owner: Macro, command: str | Sequence[str]) -> None:
        cls, values, line = owner.server.parse(command)
        self.owner = owner
        self.command = line
        self._make: Callable[[], Macro] = lambda: cls(owner.context)
        self._values = values

    def __call__(self) -> Any:
        macro = self._make()
        macro.arguments, macro.parent = self._values, self.owner
        return macro.perform(*self._values)

    def __repr__(self) -> str:
        return f"MacroHook({self.command!r})"
