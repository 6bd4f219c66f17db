"""`simulate <scan macro line>`: the dry run as a macro, so that any client that runs
macros (Sardana's spock, which sends each typed line as a macro) gets it; mspock and
programs call the Door's SimulateMacro instead."""

from __future__ import annotations

import shlex

from macroserver.engine.dryrun import dry_run
from macroserver.macros import MACRO_NAME, STRING, Macro, Param, Repeat


class simulate(Macro):
    """Tell what a scan would do, without running it: points, motor paths, limits,
    files with their size and the free space, duration. Nothing moves, nothing is
    counted, nothing is written: simulate ascan theta 0 1 100 0.1"""

    params = [
        Param("macro_name", MACRO_NAME, description="the scan macro"),
        Repeat("macro_params", [Param("param", STRING, description="its parameter")],
               min=0, description="its parameters, as they would be typed"),
    ]

    def run(self, name: str, params: list[str]) -> None:
        forecast = dry_run(self.server, shlex.join([name, *params]), self.context.door_name)
        for line in forecast.lines():
            self.output(line)
        if forecast.refused:
            self.warning(f"{forecast.command} would be refused: {'; '.join(forecast.refusals)}")
