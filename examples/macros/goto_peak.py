"""An example macro plug-in: put this folder in MacroPath (or the TOML's macro_path)."""

from macroserver.macros import FLOAT, MOTOR, Macro, Param


class goto_peak(Macro):
    """Move a motor to a position and count there."""

    params = [Param("motor", MOTOR, description="motor to move"),
              Param("position", FLOAT, description="where to go")]

    def run(self, motor, position):
        self.execute(f"mv {motor.name} {position}")
        self.execute("ct 0.1")
