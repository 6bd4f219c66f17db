"""Sardana's members for running other macros and for the macro's own run: execMacro,
createMacro, runMacro, macros called as methods (`self.mv(m, 1)`, `self.macros.wa()`),
results and data, stop/abort/pause, the parent macro, the macro's names."""

from __future__ import annotations

from typing import Any, Sequence

from macroserver.sardana_api.commands import command_of
from macroserver.sardana_api.hooks import ExecMacroHook
from macroserver.sardana_api.mixin import MacroBase
from macroserver.sardana_api.views import sardana_view


class _MacroMethods:
    """`self.macros.<name>(...)`: every macro of the server as a method."""

    def __init__(self, macro: "CallsAPI") -> None:
        self._macro = macro

    def __getattr__(self, name: str) -> Any:
        return self._macro._macro_method(name)

    def __dir__(self) -> list[str]:
        return self._macro.getMacroNames()


class CallsAPI(MacroBase):
    """Running macros inside this one, and this macro's own run."""


    def __getattr__(self, name: str) -> Any:
        """A macro of the server called as a method: `self.mv(motor, 1)`."""
        if name.startswith("__"):  # Python's own probes; `self._wm(...)` is a macro
            raise AttributeError(name)
        return self._macro_method(name)

    def _macro_method(self, name: str) -> Any:
        server = self.__dict__.get("server")
        if server is None or name not in server.macros:
            raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}, "
                                 f"and there is no macro named {name!r}")

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.execMacro(name, *args, **kwargs)

        call.__name__ = name
        return call

    @property
    def macros(self) -> _MacroMethods:
        return _MacroMethods(self)

    # -- creating and running other macros --------------------------------------------

    def createMacro(self, *pars: Any) -> tuple[Any, Any]:  # noqa: N802
        """(macro, prepare result): the macro is ready for `runMacro` (set its hooks
        first if you like); its parameters are checked now."""
        macro = self.create(command_of(pars))  # general hooks attached
        return sardana_view(macro), None

    prepareMacro = createMacro

    def prepareMacroObj(self, macro_class: Any, pars: Sequence[Any], **opts: Any  # noqa: N802
                        ) -> tuple[Any, Any]:
        name = macro_class if isinstance(macro_class, str) else macro_class.name
        return self.createMacro([name, *pars])

    def runMacro(self, macro_obj: Any) -> Any:  # noqa: N802
        """Run a macro made by `createMacro`; returns its result."""
        return macro_obj.perform(*macro_obj.arguments)

    def execMacro(self, *pars: Any, **opts: Any) -> Any:  # noqa: N802
        """Create and run a macro; returns the finished macro (`getResult()` on it)."""
        child, _ = self.createMacro(*pars)
        self.runMacro(child)
        return child

    execMacroStr = execMacro

    def execMacroObj(self, macro_obj: Any, *pars: Any, **opts: Any) -> Any:  # noqa: N802
        return self.execMacro(macro_obj, *pars) if isinstance(macro_obj, str) else \
            self.runMacro(macro_obj)

    def createExecMacroHook(self, par_str_sequence: Any,  # noqa: N802
                            parent_macro: Any = None) -> ExecMacroHook:
        return ExecMacroHook(parent_macro or self, par_str_sequence)

    # -- result and data ---------------------------------------------------------------

    def getResult(self) -> Any:  # noqa: N802
        return getattr(self, "_result", None)

    def setResult(self, result: Any) -> None:  # noqa: N802
        self._result = result

    def hasResult(self) -> bool:  # noqa: N802
        return bool(self.results)

    def getData(self) -> Any:  # noqa: N802
        return getattr(self, "_data", None)

    def setData(self, data: Any) -> None:  # noqa: N802
        self._data = data

    @property
    def data(self) -> Any:
        return self.getData()

    @data.setter
    def data(self, value: Any) -> None:
        self.setData(value)

    # -- control -------------------------------------------------------------------------

    def checkPoint(self) -> None:  # noqa: N802
        """Where a stop or abort takes effect (and a pause waits)."""
        self.checkpoint()

    def pausePoint(self, timeout: float | None = None) -> None:  # noqa: N802
        self.checkpoint()

    def isStopped(self) -> bool:  # noqa: N802
        return self.context.control.stop_requested

    def isAborted(self) -> bool:  # noqa: N802
        return self.context.control.abort_requested

    def isPaused(self) -> bool:  # noqa: N802
        return self.context.control.paused

    def stop(self) -> None:
        self.context.control.request_stop()

    def abort(self) -> None:
        self.context.control.request_abort()

    def pause(self, cb: Any = None) -> None:
        self.context.control.request_pause()

    def resume(self, cb: Any = None) -> None:
        self.context.control.request_resume()

    # -- who and where -----------------------------------------------------------------

    def getParentMacro(self) -> Any:  # noqa: N802
        """The macro this one runs in: the one that created it, or the scan it runs in
        as a hook (None for the macro a client started)."""
        return sardana_view(self.parent)

    getParent = getParentMacro

    @property
    def parent_macro(self) -> Any:
        return self.getParentMacro()

    def getName(self) -> str:  # noqa: N802
        return self.name

    def getID(self) -> str:  # noqa: N802
        return self.context.macro_id

    def getDescription(self) -> str:  # noqa: N802
        return self.description()

    def getCommand(self) -> str:  # noqa: N802
        return self.context.command

    getMacroCommand = getCommand

    def getParameters(self) -> list[Any]:  # noqa: N802
        return list(self.arguments)

    def getDoorName(self) -> str:  # noqa: N802
        return self.context.door_name

    def getMacroNames(self) -> list[str]:  # noqa: N802
        return self.server.macros.names()

    def getMacroInfo(self, macro_name: str) -> dict[str, Any]:  # noqa: N802
        return self.server.macros.get(macro_name).describe()

    def getMacros(self, filter: str | None = None) -> list[dict[str, Any]]:  # noqa: A002, N802
        import re

        names = [n for n in self.getMacroNames() if filter is None or re.match(filter, n)]
        return [self.getMacroInfo(n) for n in names]

    def reloadMacros(self, names: Sequence[str] = ()) -> list[str]:  # noqa: N802
        """Load the macros again (new and changed files); returns the load problems."""
        return self.server.reload_macros()

    reloadMacro = reloadMacroLib = reloadMacroLibrary = reloadMacroLibraries = reloadMacros
    reloadMacroLibs = reloadLibrary = reloadMacros
