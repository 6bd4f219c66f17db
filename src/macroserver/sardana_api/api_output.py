"""Sardana's output, logging, input and view-option members of `Macro`."""

from __future__ import annotations

import datetime
import logging
from typing import Any, Callable

from macroserver.macros import STRING, ParamType
from macroserver.macros.std.viewoptions import VIEW_OPTIONS_ENV, view_options
from macroserver.sardana_api.mixin import MacroBase

BLOCK_START, BLOCK_END = "<BLOCK>", "</BLOCK>"


class ViewOption:
    """Names of the view options (`self.getViewOption(ViewOption.ShowDial)`)."""

    ShowDial = "ShowDial"
    ShowCtrlAxis = "ShowCtrlAxis"
    PosFormat = "PosFormat"
    OutputBlock = "OutputBlock"
    OutputDecimation = "OutputDecimation"
    DescriptionLength = "DescriptionLength"


class _Unsupported:
    """`self.pyplot`, `self.pylab`: every call is refused with a warning, not silently
    dropped: plots are drawn by the clients from the scan's data on this server."""

    def __init__(self, macro: Any, what: str) -> None:
        self._macro, self._what = macro, what

    def __getattr__(self, name: str) -> Callable[..., None]:
        def ignored(*args: Any, **kwargs: Any) -> None:
            self._macro.warning(f"{self._what}.{name}() is not supported on this server "
                                "(plots come from the scan data in the clients); ignored")
        return ignored


class OutputAPI(MacroBase):
    """Messages to the user, questions, view options."""

    def print(self, *args: Any, sep: str = " ", end: str = "\n", **kwargs: Any) -> None:
        """Like the built-in print, to the Output stream."""
        text = sep.join(str(a) for a in args) + (end if end != "\n" else "")
        self.output(text)

    def outputBlock(self, line: str) -> None:  # noqa: N802 (Sardana's names)
        """Output that replaces the previous block (spock updates it in place)."""
        self.output("\n".join([BLOCK_START, str(line), BLOCK_END]))

    def flushOutput(self) -> None:  # noqa: N802
        """Our messages are sent as they are written: nothing is held back."""

    def outputDate(self, fmt: str = "%a %b %d %H:%M:%S %Y") -> None:  # noqa: N802
        self.output(datetime.datetime.now().strftime(fmt))

    def getDateString(self, time_format: str = "%a %b %d %H:%M:%S %Y") -> str:  # noqa: N802
        return datetime.datetime.now().strftime(time_format)

    def trace(self, text: Any, *args: Any) -> None:
        self.debug(text, *args)

    def fatal(self, text: Any, *args: Any) -> None:
        self.critical(text, *args)

    def exception(self, text: Any, *args: Any) -> None:
        self.error(text, *args)

    def log(self, level: int, text: Any, *args: Any) -> None:
        """Sardana's `log(level, msg)` with Python's logging levels."""
        if level >= logging.ERROR:
            self.error(text, *args)
        elif level >= logging.WARNING:
            self.warning(text, *args)
        elif level >= logging.INFO:
            self.info(text, *args)
        else:
            self.debug(text, *args)

    def report(self, text: Any, *args: Any) -> None:
        """Sardana sends reports to a report file; here they go to the Info stream."""
        self.info(text, *args)

    # -- plots ---------------------------------------------------------------------------

    @property
    def pyplot(self) -> Any:
        return _Unsupported(self, "pyplot")

    @property
    def pylab(self) -> Any:
        return _Unsupported(self, "pylab")

    def plot(self, *args: Any, **kwargs: Any) -> None:
        _Unsupported(self, "plot").__getattr__("plot")()

    # -- questions -----------------------------------------------------------------------

    def input(self, prompt: Any, *args: Any, **kwargs: Any) -> Any:
        """Ask the user; `data_type` may be a Sardana type (`Type.Integer`, its name)
        or a sequence of choices (the answer must be one of them)."""
        data_type = kwargs.pop("data_type", STRING)
        if isinstance(data_type, (list, tuple)):  # choices: Sardana sends them as the type
            answer = super().input(prompt, *args, data_type=[str(c) for c in data_type],
                                   **kwargs)
            if kwargs.get("allow_multiple") and isinstance(answer, str):
                return answer.replace(",", " ").split()  # typed on a terminal
            return answer
        name = data_type.name if isinstance(data_type, ParamType) else str(data_type)
        answer = super().input(prompt, *args, data_type=name, **kwargs)
        if isinstance(answer, str) and isinstance(data_type, ParamType):
            return data_type.convert(answer, self.pool)
        return answer

    # -- view options --------------------------------------------------------------------

    def getViewOptions(self) -> dict[str, Any]:  # noqa: N802
        return view_options(self)

    def getViewOption(self, name: str) -> Any:  # noqa: N802
        return self.getViewOptions().get(name)

    def setViewOption(self, name: str, value: Any) -> None:  # noqa: N802
        stored = self.env.get(VIEW_OPTIONS_ENV) or {}
        self.env.set(VIEW_OPTIONS_ENV, {**stored, name: value})

    def resetViewOption(self, name: str) -> None:  # noqa: N802
        stored = dict(self.env.get(VIEW_OPTIONS_ENV) or {})
        stored.pop(name, None)
        self.env.set(VIEW_OPTIONS_ENV, stored)
