"""The dry run: what a scan macro would do, told without running it.

The macro runs in the caller's thread with a context marked `dry_run`: it reads
positions and the environment, plans its scan, and the scan stops at its forecast
(`preflight.DryRunStop`) before it reserves, moves, counts or writes anything. Only
macros that declare `dry_runs` (they only read before their scan) are accepted: a macro
that moves or counts by itself would do it. One function, used by the Door's
SimulateMacro, the `simulate` macro (Sardana's spock), `macroserver run --dry-run` and
`MacroRunner.dry_run`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from macroserver.engine.control import MacroControl
from macroserver.engine.forecast import ScanForecast
from macroserver.engine.preflight import DryRunStop
from macroserver.errors import ParamError
from macroserver.streams import NullListener

if TYPE_CHECKING:
    from macroserver.engine.core import MacroServerCore


def dry_run(server: "MacroServerCore", command: str | Sequence[str],
            door_name: str = "local") -> ScanForecast:
    """The forecast of `command`'s scan: nothing moves, nothing is counted, nothing is
    written. Bad input raises as RunMacro would; a refused scan is a forecast that says
    so (`refused`)."""
    cls, values, line = server.parse(command)
    if not cls.dry_runs:
        raise ParamError(f"{cls.name} is not a scan macro: a dry run forecasts the scan "
                         "macros only (a macro that moves or counts by itself would do it)")
    context = server.new_context(NullListener(), MacroControl(), door_name, line)
    context.dry_run = True
    macro = cls(context)
    macro.attach_general_hooks()  # as a run would: the forecast lists them
    try:
        macro.perform(*values)
    except DryRunStop as stop:
        return stop.forecast
    raise ParamError(f"{line} ran no scan: there is nothing to forecast")
