"""Sardana's everyday helpers: repeat, sleep, report, logmacro and tw."""

from __future__ import annotations

import logging
import math

from macroserver.elements.base import Motor
from macroserver.engine.scan import check_time
from macroserver.errors import ParamError
from macroserver.macros import (
    BODY,
    BOOLEAN,
    FLOAT,
    INTEGER,
    MOTOR,
    STRING,
    Macro,
    Param,
    Repeat,
    run_hooks,
)
from macroserver.macros.std.motion import move

REPORT_LOG = logging.getLogger("macroserver.report")
"""Where `report` writes: the server log (its file, when the server has one)."""


class repeat(Macro):
    """Run a macro nr times (nr < 0: until stopped): repeat 3 ct 0.1. Its body hooks
    (a parent's `hooks`, `defgh ... body`) run each time after it, or alone."""

    params = [
        Param("nr", INTEGER, description="Nr of iterations (negative: until stopped)"),
        Repeat("macro_name_params", [Param("token", STRING, description="a word of it")],
               min=0, description="the macro to repeat, with its parameters"),
    ]
    hook_places = (BODY,)

    def run(self, nr: int, words: list[str]) -> None:
        line = " ".join(words)
        body = self.hooks_at(BODY)
        if not line and not body:
            raise ParamError("nothing to repeat: give a macro (repeat 3 ct 0.1) or attach "
                             "body hooks")
        if line:
            self.server.parse(line)  # refused here, before the first run, if it is wrong
        done = 0
        while nr < 0 or done < nr:
            self.checkpoint()
            if line:
                self.execute(line)
            run_hooks(BODY, body)
            done += 1
            if nr > 0:
                self.progress(100.0 * done / nr)


class sleep(Macro):
    """Wait dtime seconds; a stop or abort ends the wait at once."""

    params = [Param("dtime", FLOAT, 0.0, "Sleep time in seconds")]

    def run(self, dtime: float) -> None:
        check_time(dtime, "dtime")
        self.context.control.sleep(dtime)


class report(Macro):
    """Log a message in the server's report (its log), with the door it came from."""

    params = [Repeat("message", [Param("message_item", STRING,
                                       description="message item to be reported")],
                     min=1, description="message to be reported")]

    def run(self, words: list[str]) -> None:
        REPORT_LOG.info("%s: %s", self.context.door_name, " ".join(words))


class logmacro(Macro):
    """Turn the logging of the spock output on or off: the door's macros then write
    what they say to session_<door>.log in LogMacroDir (default ScanDir; inside the data
    roots). Mode 0 appends, 1 starts a new file for every macro (engine/macrolog.py)."""

    params = [Param("offon", BOOLEAN, description="Unset/Set logging"),
              Param("mode", INTEGER, -1, "Mode: 0 append, 1 new file")]

    def run(self, offon: bool, mode: int) -> None:
        changes: dict[str, bool] = {"LogMacro": offon}
        if offon and mode in (0, 1):
            changes["LogMacroMode"] = mode == 1
        self.env.update(changes)


class tw(Macro):
    """Tweak a motor by delta, asking which way each time: + (or p), - (or n), Enter
    for the same way again, a number for a new step; anything else ends."""

    params = [Param("motor", MOTOR, description="Motor to move"),
              Param("delta", FLOAT, description="Amount to tweak")]

    def run(self, motor: Motor, delta: float) -> None:
        if delta == 0:
            raise ParamError("parameter delta must not be 0")
        self.output("Indicate direction with + (or p) or - (or n) or enter")
        self.output("new step size. Type something else (or ctrl-C) to quit.")
        self.output("")
        way = "+" if delta > 0 else "-"
        while True:
            answer = str(self.input(f"{motor.name} = {motor.position():g}, which way? ",
                                    default_value=way)).strip()
            try:
                delta = float(answer)
                if not math.isfinite(delta) or delta == 0:
                    raise ValueError(answer)
                way = "-" if delta < 0 else "+"
            except ValueError:
                way = {"p": "+", "n": "-"}.get(answer, answer)
                if way not in ("+", "-"):
                    self.info(f"Typing '{answer}' caused 'tw' macro to stop.")
                    return
                delta = math.copysign(delta, 1.0 if way == "+" else -1.0)
            move(self, [(motor, motor.position() + delta)])
