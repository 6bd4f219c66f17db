"""What mspock knows about macros: completion candidates, usage and help text.

Built from the MacroServer's `Elements` (Sardana's element infos: macros with their
typed parameters, motors, channels, measurement groups) and `Environment`. The
completer offers macro and built-in command names for the first word, then, per
parameter position, the names that fit the parameter's type (Motor → motors, Env →
environment names, ...).
"""

from __future__ import annotations

import difflib
import shlex
import textwrap
from typing import Any, Callable, Iterable, Iterator

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

MOTOR_TYPES = {"motor", "moveable", "pseudomotor"}
CHANNEL_TYPES = {"channel", "expchannel", "ctexpchannel", "zerodexpchannel",
                 "onedexpchannel", "twodexpchannel", "counter"}
GROUP_TYPES = {"measurementgroup", "mntgrp", "countable"}
ENV_TYPES = {"env"}


def is_repeat(param: dict[str, Any]) -> bool:
    """A repeat parameter's `type` is the list of its repeated parameters (Sardana's)."""
    return isinstance(param.get("type"), list)


def is_required(param: dict[str, Any]) -> bool:
    """Mandatory: a null `default_value` (Sardana's form)."""
    return param.get("default_value") is None


def flat_parameters(parameters: list[dict[str, Any]], position: int) -> dict[str, Any] | None:
    """The parameter description used at word `position` (0 = first argument).

    A repeat parameter takes its inner parameters again and again; what follows a
    repeat is only reached when the repeat has a `max`.
    """
    index = 0
    for param in parameters:
        if is_repeat(param):
            inner = param["type"]
            if not inner:
                continue
            limit = param.get("max")
            span = len(inner) * limit if limit else None
            if span is None or position < index + span:
                return inner[(position - index) % len(inner)]
            index += span
        else:
            if position == index:
                return param
            index += 1
    return None


def usage(macro: dict[str, Any]) -> str:
    """`ascan motor start_pos final_pos nr_interv integ_time` ([] optional, ... repeat)."""
    words = [macro["name"]]
    for param in macro.get("parameters") or []:
        if is_repeat(param):
            inner = " ".join(p["name"] for p in param["type"])
            words.append(f"{inner} [{inner} ...]" if param.get("min", 1) else
                         f"[{inner} ...]")
        elif is_required(param):
            words.append(param["name"])
        else:
            words.append(f"[{param['name']}]")
    return " ".join(words)


def _param_lines(params: list[dict[str, Any]], indent: str) -> list[str]:
    lines = []
    width = max((len(p.get("name", "")) for p in params), default=0)
    kinds = ["Repeat" if is_repeat(p) else str(p.get("type", "")) for p in params]
    type_width = max((len(kind) for kind in kinds), default=0)
    for param, kind in zip(params, kinds):
        if is_repeat(param):
            low, high = param.get("min", 1), param.get("max")
            times = f"{low} or more" if high is None else f"{low} to {high}"
            lines.append(f"{indent}{param['name']:<{width}}  {kind:<{type_width}}  "
                         f"repeated {times} times: {param.get('description', '')}".rstrip())
            lines.extend(_param_lines(param["type"], indent + "    "))
            continue
        default = ""
        value = param.get("default_value")
        if isinstance(value, dict) and "___optional_parameter__" in value:
            default = " (optional)"
        elif value is not None:
            default = f" (default: {value!r})"
        lines.append(f"{indent}{param['name']:<{width}}  {kind:<{type_width}}  "
                     f"{param.get('description', '')}{default}".rstrip())
    return lines


def help_text(macro: dict[str, Any]) -> str:
    """Name, usage, parameters with type, default and description, and the doc."""
    doc = (macro.get("description") or "").strip()
    summary = doc.split("\n", 1)[0]
    lines = [f"{macro['name']}: {summary}".rstrip(), "", f"Usage: {usage(macro)}", ""]
    params = macro.get("parameters") or []
    if params:
        lines.append("Parameters:")
        lines.extend(_param_lines(params, "  "))
    else:
        lines.append("Parameters: none")
    rest = doc.split("\n", 1)[1].strip() if "\n" in doc else ""
    if rest:
        lines += ["", textwrap.dedent(rest)]
    return "\n".join(lines)


def suggestions(word: str, names: Iterable[str], n: int = 3) -> list[str]:
    names = list(names)
    close = difflib.get_close_matches(word, names, n=n, cutoff=0.6)
    if not close:
        close = [name for name in names if name.startswith(word[:3])][:n] if len(word) >= 3 else []
    return close


class Catalogue:
    """Macros, elements and environment names, refreshed from the MacroServer."""

    def __init__(self) -> None:
        self.macros: dict[str, dict[str, Any]] = {}
        self.motors: list[str] = []
        self.channels: list[str] = []
        self.groups: list[str] = []
        self.env_names: list[str] = []
        self.scan_ids: list[str] = []

    def load(self, elements: list[dict[str, Any]], env: dict[str, Any] | None = None) -> None:
        """From `Elements`' element infos, selected by interface as Sardana's clients do."""
        def names(interface: str) -> list[str]:
            return [e["name"] for e in elements if interface in e.get("interfaces", ())]

        self.macros = {e["name"]: e for e in elements if "MacroCode" in e.get("interfaces", ())}
        self.motors = names("Moveable")
        self.channels = names("ExpChannel")
        self.groups = names("MeasurementGroup")
        if env is not None:
            self.load_env(env)

    def load_env(self, env: dict[str, Any]) -> None:
        self.env_names = sorted(env)
        history = env.get("ScanHistory") or []
        self.scan_ids = [str(h.get("serialno")) for h in history if isinstance(h, dict)][::-1]

    def candidates(self, param: dict[str, Any] | None) -> list[str]:
        if param is None:
            return []
        kind = str(param.get("type", "")).lower()
        if kind in MOTOR_TYPES:
            return self.motors
        if kind in CHANNEL_TYPES:
            return self.channels
        if kind in GROUP_TYPES:
            return self.groups
        if kind in ENV_TYPES:
            return self.env_names
        if kind == "boolean":
            return ["True", "False"]
        return []


class ShellCompleter(Completer):
    """Tab completion for mspock: commands first, then parameter values by type."""

    def __init__(self, catalogue: Catalogue, builtins: Callable[[], dict[str, list[str]]],
                 refresh: Callable[[], None] | None = None) -> None:
        self.catalogue = catalogue
        self.builtins = builtins
        self.refresh = refresh

    def get_completions(self, document: Document,
                        complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        try:
            words = shlex.split(text)
        except ValueError:
            words = text.split()
        if not words or text[-1:].isspace():
            words.append("")
        current = words[-1]
        builtins = self.builtins()
        if len(words) == 1:
            names = sorted(set(self.catalogue.macros) | set(builtins))
        else:
            if self.refresh is not None:
                self.refresh()
            command = words[0]
            if command in builtins:
                names = builtins[command]
            elif command in self.catalogue.macros:
                param = flat_parameters(self.catalogue.macros[command].get("parameters") or [],
                                        len(words) - 2)
                names = self.catalogue.candidates(param)
            else:
                names = []
        for name in names:
            if name.startswith(current):
                yield Completion(name, start_position=-len(current))
