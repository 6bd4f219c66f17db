"""Hooks: code run at named places of a hookable macro (Sardana's hooks).

A parent macro attaches hooks to a macro it created (`macro.hooks = [(action, places)]`);
the general hooks of the `_GeneralHooks` environment variable (`defgh`) are attached to
every hookable macro when it is created. An action is a callable taking no argument or
a macro command (`"mv chi 0"`), run inside the hooked macro with its streams. A hook
without places runs after each acquisition, as Sardana's `_NOHINTS_` hooks do.

A hook that raises fails the macro with a `HookError` naming the place and the hook;
stop and abort requests pass through unchanged.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from macroserver.engine.control import MacroInterrupted
from macroserver.errors import EnvError, MacroServerError

PRE_SCAN = "pre-scan"
PRE_CONFIGURATION = "pre-configuration"
POST_CONFIGURATION = "post-configuration"
PRE_MOVE = "pre-move"
POST_MOVE = "post-move"
PRE_ACQ = "pre-acq"
PRE_START = "pre-start"
POST_ACQ = "post-acq"
POST_STEP = "post-step"
PRE_CLEANUP = "pre-cleanup"
POST_CLEANUP = "post-cleanup"
POST_SCAN = "post-scan"
#: What `repeat` runs each time round, after its own command (Sardana's body hooks).
BODY = "body"
POST_NEWFILE = "post-newfile"
#: The key of the hooks attached without places (Sardana's name); they run at post-acq.
NO_PLACE = "_NOHINTS_"

#: Step scans (ascan, mesh, ...), in the order they are reached.
STEP_SCAN_PLACES = (PRE_SCAN, PRE_MOVE, POST_MOVE, PRE_ACQ, POST_ACQ, POST_STEP, POST_SCAN)
#: Scans that count without moving (timescan).
TIME_SCAN_PLACES = (PRE_SCAN, PRE_ACQ, POST_ACQ, POST_SCAN)
#: A count (ct).
COUNT_PLACES = (PRE_ACQ, POST_ACQ)
#: A move (mv, umv, mvr, umvr).
MOVE_PLACES = (PRE_MOVE, POST_MOVE)
#: Continuous scans (ascanct, meshct, ...): the per-row places run once per row.
CONTINUOUS_SCAN_PLACES = (PRE_SCAN, PRE_CONFIGURATION, POST_CONFIGURATION, PRE_MOVE,
                          POST_MOVE, PRE_ACQ, PRE_START, POST_ACQ, PRE_CLEANUP,
                          POST_CLEANUP, POST_SCAN)

GENERAL_HOOKS = "_GeneralHooks"
"""The environment variable of the general hooks: a list of (command, [places])."""

HookAction = Callable[[], Any]


class HookError(MacroServerError):
    """A hook raised; the message names the place and the hook."""

    reason = "HookError"


def hook_name(action: Any) -> str:
    """How a hook is named in messages: its command line, or the callable's name."""
    command = getattr(action, "command", None)
    if isinstance(command, str):
        return command
    name = getattr(action, "__qualname__", None) or getattr(action, "__name__", None)
    return str(name) if name else repr(action)


def run_hooks(place: str, hooks: Sequence[HookAction], where: str = "") -> None:
    """Call `hooks` in order; a failure becomes a HookError naming `place`, the hook and
    `where` (" at point 3"). Stop and abort pass through."""
    for hook in hooks:
        try:
            hook()
        except (MacroInterrupted, HookError):
            raise
        except Exception as exc:
            raise HookError(f"{place} hook {hook_name(hook)!r} failed{where}: "
                            f"{type(exc).__name__}: {exc}") from exc


def general_hook_entries(value: Any) -> list[tuple[str, list[str]]]:
    """The (command, places) pairs of a `_GeneralHooks` value (Sardana's format: a list
    of (str, list of str)); EnvError naming the entry when it is not that."""
    if not isinstance(value, (list, tuple)):
        raise EnvError(f"{GENERAL_HOOKS} must be a list of (macro command, [hook places]) "
                       f"pairs, not {value!r}")
    entries = []
    for entry in value:
        if (not isinstance(entry, (list, tuple)) or len(entry) != 2
                or not isinstance(entry[0], str) or not entry[0].strip()
                or not isinstance(entry[1], (list, tuple)) or not entry[1]
                or not all(isinstance(p, str) for p in entry[1])):
            raise EnvError(f"{GENERAL_HOOKS} entry {entry!r} is not a (macro command, "
                           "[hook places]) pair such as ('mv chi 0', ['pre-scan'])")
        entries.append((entry[0], list(entry[1])))
    return entries
