"""Sardana's `Macro` class on our engine: a facility's macro is one of our macros.

`class scan_x(Macro)` written against `sardana.macroserver.macro` derives from our
`macroserver.macros.Macro` through this class, so the registry finds it as it finds
ours. Its Sardana declarations (`param_def`, `result_def`, `env`, `hints`,
`interactive`) become ours when the class is created (a malformed one fails the file's
load with the reason), and `perform` runs it as Sardana does: `prepare` first, then
`run`, stepping through a `run` that is a generator (a stop or pause lands between
steps), calling `on_stop`/`on_abort` when it is interrupted. The Sardana members are
grouped by topic in the mixins.
"""

from __future__ import annotations

import inspect
import time
from typing import Any, Callable, ClassVar, Sequence

from macroserver.macros import (
    PROGRESS_INTERVAL,
    AbortRequested,
    MacroContext,
    ParamDef,
    Repeat,
    StopRequested,
)
from macroserver.macros import Macro as EngineMacro
from macroserver.sardana_api import running
from macroserver.sardana_api.api_calls import CallsAPI
from macroserver.sardana_api.api_env import EnvAPI
from macroserver.sardana_api.api_more import MoreAPI
from macroserver.sardana_api.api_objects import ObjectsAPI
from macroserver.sardana_api.api_output import OutputAPI
from macroserver.sardana_api.msparameter import Type, convert_definition, is_element_type


def _sardana_value(param: ParamDef, value: Any, pool: Any) -> Any:
    """A value as Sardana hands it: repeats as lists of lists (ours are lists of tuples),
    an element parameter left to its default (`"mot01"`) as the element."""
    if isinstance(param, Repeat):
        if not isinstance(value, list):
            return value
        if len(param.params) == 1:
            return [_sardana_value(param.params[0], item, pool) for item in value]
        return [[_sardana_value(p, v, pool) for p, v in zip(param.params, item)]
                for item in value]
    if isinstance(value, str) and is_element_type(param.type):
        return param.type.convert(value, pool)
    return value


class Macro(OutputAPI, CallsAPI, EnvAPI, ObjectsAPI, MoreAPI, EngineMacro):
    """Base class of Sardana-style macro classes (`sardana.macroserver.macro.Macro`)."""

    param_def: ClassVar[Any] = []
    result_def: ClassVar[Any] = []
    hints: ClassVar[dict[str, Any]] = {}
    interactive: ClassVar[bool] = False
    # Sardana's macro states and log levels, as macros compare with them
    Init, Ready, Running, Pause, Stop, Abort, Finished, Exception = (
        "Init", "Ready", "Running", "Pause", "Stop", "Abort", "Finished", "Exception")
    All = "All"
    BlockStart, BlockFinish = "<BLOCK>", "</BLOCK>"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = vars(cls)
        if cls.__name__.startswith("_") and "hidden" not in own:
            cls.hidden = True  # Sardana registers `_name` macros, lists leave them out
        if "param_def" in own:
            cls.params = convert_definition(own["param_def"])
        if "result_def" in own:
            cls.results = convert_definition(own["result_def"])
        if "env" in own:
            names = own["env"]
            cls.uses_env = (names,) if isinstance(names, str) else tuple(names or ())
        if own.get("hints") is not None and not isinstance(own["hints"], dict):
            raise TypeError(f"{cls.__name__}.hints must be a dict, not {own['hints']!r}")
        cls.hook_places = tuple((cls.hints or {}).get("allowsHooks", ()))  # general hooks

    def __init__(self, context: MacroContext, *args: Any, **kwargs: Any) -> None:
        super().__init__(context)
        self._result: Any = None
        self._data: Any = None

    # -- running ---------------------------------------------------------------------

    def prepare(self, *args: Any, **kwargs: Any) -> Any:
        """Called with the parameters before `run` (override it to check or set up)."""

    def on_stop(self) -> None:
        """Called when the macro is stopped (override it to clean up)."""

    def on_abort(self) -> None:
        """Called when the macro is aborted (override it to clean up)."""

    def on_pause(self) -> None:
        """Called when the macro pauses."""

    def perform(self, *values: Any) -> Any:
        values = tuple(_sardana_value(p, v, self.pool) for p, v in zip(self.params, values))
        with running.running(self):
            try:
                self.prepare(*values)
                result = self.run(*values)
                if inspect.isgenerator(result):
                    result = self._step_through(result)
            except StopRequested:
                self.on_stop()
                raise
            except AbortRequested:
                self.on_abort()
                raise
        if result is not None:
            self._result = result
        return self._result

    def _step_through(self, steps: Any) -> Any:
        """Run a generator `run`: each yield is a checkpoint and a progress report (at
        most every PROGRESS_INTERVAL: a scan yields once per point)."""
        next_report = 0.0
        while True:
            self.checkpoint()
            try:
                step = next(steps)
            except StopIteration as end:
                return end.value
            if isinstance(step, (int, float)) and not isinstance(step, bool) and (
                    time.monotonic() >= next_report or step >= 100):
                next_report = time.monotonic() + PROGRESS_INTERVAL
                self.progress(float(step))

    # -- description -----------------------------------------------------------------

    @classmethod
    def describe(cls) -> dict[str, Any]:
        info = super().describe()
        info["hints"] = dict(cls.hints or {})
        info["interactive"] = bool(cls.interactive)
        if issubclass(cls, FunctionMacro):  # Sardana's type of a @macro function
            info["type"] = "MacroFunction"
            info["interfaces"] = ["Function", "MacroCode", "MacroFunction",
                                  "MacroServerObject", "Object"]
        return info


class iMacro(Macro):  # noqa: N801 (Sardana's name)
    """An interactive macro (it asks the user questions)."""

    interactive = True


class FunctionMacro(Macro):
    """A macro written as a function decorated with `@macro()`."""

    function: ClassVar[Callable[..., Any]]

    def run(self, *args: Any) -> Any:
        return type(self).function(self, *args)


def _params_from_signature(function: Callable[..., Any]) -> list[list[Any]]:
    """Sardana's parameters of an undecorated signature: each argument after `self` is
    of type Any (with the function's default), `*args` a repeat of Any."""
    spec = inspect.getfullargspec(function)
    if spec.varargs:
        return [[spec.varargs, [[spec.varargs, Type.Any, None, f"{spec.varargs} parameter"]],
                 None, f"list of {spec.varargs}"]]
    names = spec.args[1:]
    defaults = list(spec.defaults or ())
    padded: list[Any] = [None] * (len(names) - len(defaults)) + defaults
    return [[name, Type.Any, default, f"{name} parameter"]
            for name, default in zip(names, padded)]


def macro(param_def: Any = None, result_def: Any = None, env: Sequence[str] = (),
          hints: dict[str, Any] | None = None, interactive: bool = False) -> Any:
    """`@macro()` makes a function a macro: a class named after it (the function gets
    the macro as `self`)."""
    if callable(param_def) and not isinstance(param_def, (list, tuple)):
        return macro()(param_def)  # used without parentheses

    def decorate(function: Callable[..., Any]) -> type[Macro]:
        namespace = {
            "__module__": function.__module__, "__doc__": function.__doc__,
            "__qualname__": function.__name__, "function": staticmethod(function),
            "param_def": param_def if param_def is not None
            else _params_from_signature(function),
            "result_def": result_def or [], "env": tuple(env), "hints": hints or {},
            "interactive": interactive,
        }
        return type(function.__name__, (FunctionMacro,), namespace)

    return decorate


def imacro(param_def: Any = None, result_def: Any = None, env: Sequence[str] = (),
           hints: dict[str, Any] | None = None) -> Any:
    """`@imacro()`: an interactive macro function."""
    return macro(param_def, result_def, env, hints, interactive=True)
