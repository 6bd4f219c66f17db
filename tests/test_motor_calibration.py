"""Motors as Sardana's Pool motors, through `macroserver run` (fresh processes where a
restart matters): dial and user positions, offset, sign, limits in both coordinates, and
the layouts of wa, wm, wu, wum, pwa, pwm, the calibration kept in the state folder
across restarts."""

from __future__ import annotations

import json
import re

from test_cli_run import macroserver, macroserver_each

CONFIG = """
[motors.theta]
position = 2.0
limits = [-10.0, 10.0]

[motors.chi]
limits = [-90.0, 90.0]

[channels.t]
kind = "timer"

[channels.c]
kind = "counter"
motor = "theta"

[measurement_groups.mg]
timer = "t"
channels = ["t", "c"]
"""

# A Sardana-style macro reading both positions through Sardana's motor API
SARDANA_POSITIONS = """
from sardana.macroserver.macro import Macro, Type


class sardana_positions(Macro):
    param_def = [["motor", Type.Motor, None, "motor"]]

    def run(self, motor):
        self.output("user %s dial %s", motor.getPosition(), motor.getDialPosition())
"""


def options(tmp_path) -> list[str]:
    """`macroserver run`'s options: the configuration, state and macro folder (written)."""
    config = tmp_path / "beamline.toml"
    config.write_text(CONFIG)
    macros = tmp_path / "macros"
    macros.mkdir(exist_ok=True)
    (macros / "positions.py").write_text(SARDANA_POSITIONS)
    return ["--config", str(config), "--env", str(tmp_path / "state" / "env.json"),
            "--macro-path", str(macros)]


def run(tmp_path, *commands):
    """One `macroserver run` process (a restart each time)."""
    return macroserver(*options(tmp_path), *commands, cwd=tmp_path)


def run_in_one_process(tmp_path, *runs: tuple[str, ...]):
    """What `run(tmp_path, *commands)` gives for each run, from one process."""
    return macroserver_each([["run", *options(tmp_path), *commands] for commands in runs],
                            tmp_path)


def test_user_position_and_limits_follow_the_offset_and_survive_a_restart(tmp_path):
    done = run(tmp_path, "set_user_pos theta 5", "wm theta", "sardana_positions theta")
    assert done.returncode == 0, done.stderr
    assert "theta reset from 2.0000 (offset 0.0000) to 5.0000 (offset 3.0000)" in done.stdout
    assert "user 5.0 dial 2.0" in done.stdout  # Sardana's getDialPosition is the dial
    # Sardana's wm: a column per motor, User then Dial rows of High/Current/Low
    assert re.search(r"^User\s*\n High\s+13\.0\n Current\s+5\.0\n Low\s+-7\.0\n"
                     r"Dial\s*\n High\s+inf\n Current\s+2\.0\n Low\s+-inf$",
                     done.stdout, re.M), done.stdout
    state = json.loads((tmp_path / "state" / "motors.json").read_text())
    assert state["motors"]["theta"]["calibration"]["offset"] == 3.0

    # a fresh process: the same user position and limits; a move checks the dial limits
    done = run(tmp_path, "set_dial_lim theta -3 4", "mv theta 6.5", "wa")
    assert done.returncode == 0, done.stderr
    assert "theta limits set to -3.0000 4.0000 (dial units)" in done.stdout
    lines = done.stdout.splitlines()
    assert re.match(r"Current positions \(user, dial\) on \d{4}-\d\d-\d\d \d\d:\d\d:", lines[-5])
    assert lines[-4:] == ["",
                          "           chi     theta",
                          "User    0.0000    6.5000",
                          "Dial    0.0000    3.5000"]
    refused = run(tmp_path, "mv theta 7.5")  # user 7.5 is dial 4.5: beyond the dial limit
    assert refused.returncode == 1
    assert "outside its limits [0, 7]" in refused.stderr

    # set_dial_pos changes the dial, keeps the offset; set_user_lim; kept after a restart
    done = run(tmp_path, "set_dial_pos theta 1", "set_user_lim theta -1 6", "wu")
    assert "theta reset from 6.5000 to 1.0000" in done.stdout
    assert "theta limits set to -1.0000 6.0000 (user units)" in done.stdout
    assert "Current positions (user) on" in done.stdout
    assert done.stdout.splitlines()[-2:] == ["      chi     theta", "   0.0000    1.0000"]
    done = run(tmp_path, "wum theta", "pwm chi", "pwa th.*", "mstate theta")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:5] == [
        "              theta", "User               ", " High           6.0",
        " Current        1.0", " Low           -1.0"]
    assert "========================\n         |           chi\n------------------------\n" \
           "User     |          \n High    |          90.0\n" in done.stdout
    assert "===============\n     |    theta\n---------------\n" \
           "User |   1.0000\nDial |  -2.0000\n===============" in done.stdout
    assert "Motor ON" in done.stdout


def test_deprecated_names_warn_and_bad_calibrations_are_refused(tmp_path):
    done, deprecated, zero, scaled = run_in_one_process(
        tmp_path, ("set_lim theta 1 -1",), ("set_pos theta 3", "set_lm chi -5 5", "wm chi"),
        ("set_step_per_unit theta 0",), ("set_step_per_unit theta 2 True", "wm theta"))
    assert done.returncode == 1
    assert "lower limit 1 must be lower than the upper limit -1" in done.stderr
    done = deprecated
    assert done.returncode == 0, done.stderr
    assert 'you should use "set_dial_pos" instead of "set_pos"' in done.stderr
    assert 'you should use "set_dial_lim" instead of "set_lm"' in done.stderr
    assert re.search(r"^Dial\s*\n High\s+5\.0\n Current\s+0\.0\n Low\s+-5\.0$", done.stdout,
                     re.M)
    done = zero
    assert done.returncode == 1 and "step per unit must be a number above 0" in done.stderr
    # step per unit keeps the steps: the dial scales; the limits follow when asked
    done = scaled
    assert re.search(r" High\s+5\.0\n Current\s+1\.5\n Low\s+-5\.0", done.stdout), done.stdout
