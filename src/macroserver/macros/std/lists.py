"""Listing what the server knows: motors, macros, measurement groups."""

from __future__ import annotations

from macroserver.macros import Macro
from macroserver.macros.std.tables import table_lines


def _table(macro: Macro, rows: list[list[str]]) -> None:
    for line in table_lines(rows):
        macro.output(line)


class lsm(Macro):
    """List the motors with their position, limits and unit."""

    def run(self) -> None:
        rows = [["Name", "Position", "Low limit", "High limit", "Unit"]]
        for motor in self.pool.motors.values():
            low, high = motor.limits()
            rows.append([motor.name, f"{motor.position():g}", f"{low:g}", f"{high:g}",
                         motor.unit])
        _table(self, rows)


class lsmac(Macro):
    """List the macros with their usage, then the macro files that did not load (why)."""

    def run(self) -> None:
        rows = [["Name", "Usage"]]
        for name in self.server.macros.names():
            rows.append([name, self.server.macros.get(name).usage()])
        _table(self, rows)
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
