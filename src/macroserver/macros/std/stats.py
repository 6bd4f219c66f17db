"""After a scan: its statistics and the moves alignment is made of (Sardana's names).

Every scan that moves a motor leaves `ScanStats` for its door (engine/scan.py); these
macros read it: `scanstats` shows the table, `pic`/`cen`/`com` move a motor of the last
scan to the peak, the centre of the FWHM or the centre of mass of a counter, `where`
shows where that motor is now. `scanhist` lists `ScanHistory`.
"""

from __future__ import annotations

import datetime
from typing import Any

from macroserver.elements.base import Channel, Motor
from macroserver.engine.scan import stats_variable
from macroserver.errors import ParamError
from macroserver.macros import CHANNEL, FLOAT, INTEGER, MOTOR, Macro, Param, Repeat
from macroserver.macros.std.motion import move
from macroserver.macros.std.tables import sardana_list, stats_table

NO_STATS = "no scan statistics yet: run a scan that moves a motor first"


def last_stats(macro: Macro) -> dict[str, Any]:
    """The `ScanStats` this door sees; refused (clearly) before any scan."""
    stats = macro.env.get("ScanStats")
    if not isinstance(stats, dict) or not stats.get("Stats"):
        raise ParamError(NO_STATS)
    return stats


def stats_motor(stats: dict[str, Any], motor: Motor | None) -> str:
    """The motor asked for, or the first of the last scan."""
    if motor is None:
        return str(stats["Motors"][0])
    if motor.name not in stats["Motors"]:
        raise ParamError(f"motor {motor.name} was not moved by scan #{stats.get('ScanID')} "
                         f"(it moved {', '.join(stats['Motors'])})")
    return motor.name


#: The motor of the last scan the peak macros (pic, cen, ...) and where look along.
STATS_MOTOR = Param("motor", MOTOR, None, "name of motor (default: the first in ScanStats)")


class scanstats(Macro):
    """Show the statistics of the last scan (or, as a post-scan hook, of the scan it
    hooks) and keep them in ScanStats: per counter MIN, MAX, MEAN, INT, and per motor
    the positions of the minimum and maximum, the centre of mass (COM), the full width
    at half maximum (FWHM) and its centre (CEN). Channels and motors narrow it down."""

    uses_env = ("ScanStats",)
    params = [
        Repeat("channel", [Param("channel", CHANNEL, description="counter")], min=0,
               description="List of channels for statistics calculations"),
        Repeat("motor", [Param("motor", MOTOR, description="motor")], min=0,
               description="List of motor for statistics calculations"),
    ]

    def run(self, channels: list[Channel], motors: list[Motor]) -> None:
        running = self.context.scan_stats
        stats = running() if running is not None else last_stats(self)
        if not stats.get("Stats"):
            raise ParamError(NO_STATS)
        scanned = list(stats["Motors"])
        counters = list(stats["Stats"][scanned[0]])
        chosen_motors = [stats_motor(stats, m) for m in motors] or scanned
        chosen = [c.name for c in channels] or counters
        for name in chosen:
            if name not in counters:
                raise ParamError(f"{name} has no statistics in scan #{stats.get('ScanID')} "
                                 f"(only {', '.join(counters)}: scalar counters)")
        kept = {m: {c: stats["Stats"][m][c] for c in chosen} for m in chosen_motors}
        self.info(f"Statistics for movable{'s' if len(chosen_motors) > 1 else ''}: "
                  f"{', '.join(chosen_motors)}")
        for line in stats_table(kept, chosen_motors, chosen):
            self.info(line)
        self.env.set(stats_variable(self.context.door_name),
                     {"Stats": kept, "Motors": chosen_motors, "ScanID": stats.get("ScanID")})


class _MoveToStat(Macro):
    """Move a motor of the last scan to one of its statistics for a counter."""

    uses_env = ("ScanStats",)
    params = [
        Param("channel", CHANNEL, None, "name of channel (default: the first in ScanStats)"),
        STATS_MOTOR,
        Param("offset", FLOAT, 0.0, "move offset"),
    ]
    #: which statistic, and how the message names it
    statistic = ""
    label = ""

    def run(self, channel: Channel | None, motor: Motor | None, offset: float) -> None:
        stats = last_stats(self)
        motor_name = stats_motor(stats, motor)
        per_channel = stats["Stats"][motor_name]
        name = channel.name if channel is not None else next(iter(per_channel))
        if name not in per_channel:
            raise ParamError(f"channel {name} is not in ScanStats of scan "
                             f"#{stats.get('ScanID')} (it has {', '.join(per_channel)})")
        value = per_channel[name][self.statistic]
        if value is None:
            raise ParamError(f"{self.label} of {name} is undefined in scan "
                             f"#{stats.get('ScanID')}; nothing was moved")
        target = value + offset
        moving = self.pool.motor(motor_name)
        self.info(f"move motor {motor_name} from current position\nat {moving.position():.4f}\n"
                  f"to {self.label} of counter {name}\nat {target:.4f}")
        move(self, [(moving, target)])


class pic(_MoveToStat):
    """Move a motor of the last scan to the PEAK (maximum) of a channel: pic value.
    Without a channel: the first in ScanStats; without a motor: the scan's first."""

    statistic, label = "maxpos", "PIC"


class cen(_MoveToStat):
    """Move a motor of the last scan to the centre of the FWHM (CEN) of a channel."""

    statistic, label = "cen", "CEN"


class com(_MoveToStat):
    """Move a motor of the last scan to the centre of mass (COM) of a channel."""

    statistic, label = "com", "COM"


class where(Macro):
    """Show where the last scanned motor (or the one given, if the scan moved it) is."""

    uses_env = ("ScanStats",)
    params = [STATS_MOTOR]

    def run(self, motor: Motor | None) -> None:
        name = stats_motor(last_stats(self), motor)
        self.info(f"motor {name} is\nat {self.pool.motor(name).position():.4f}")


def _when(timestamp: float, today: datetime.date) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp)
    return moment.strftime("%H:%M:%S" if moment.date() == today else "%Y-%m-%d %H:%M:%S")


class scanhist(Macro):
    """Show the scan history; with a scan number, the details of that scan."""

    uses_env = ("ScanHistory",)
    params = [Param("scan number", INTEGER, -1,
                    "scan number. [default=-1 meaning show all scans]")]

    def run(self, number: int) -> None:
        history = self.env.get("ScanHistory") or []
        if not history:
            self.output("No scan recorded in history")
        elif number < 0:
            today = datetime.date.today()
            rows = [(h["serialno"], h["title"], _when(h["startts"], today),
                     _when(h["endts"], today), ", ".join(h.get("ScanFile") or ()) or
                     "Not stored!") for h in history]
            for line in sardana_list(("#", "Title", "Start time", "End time", "Stored"), rows):
                self.output(line)
        else:
            entry = next((h for h in history if h.get("serialno") == number), None)
            if entry is None:
                self.warning(f"Could not find scan number {number}")
                return
            self._details(entry)

    def _details(self, h: dict[str, Any]) -> None:
        start = datetime.datetime.fromtimestamp(h["startts"])
        end = datetime.datetime.fromtimestamp(h["endts"])
        files = h.get("ScanFile") or []
        stored = (f"{h['ScanDir']}/{files[0] if len(files) == 1 else files}"
                  if h.get("ScanDir") and files else "Not stored!")
        heads = ["#", "Title", "Start time", "End time", "Took", "Status", "Points", "User",
                 "Stored", "Channels"]
        values = [h["serialno"], h["title"], start.ctime(), end.ctime(), str(end - start),
                  h.get("endstatus", ""), h.get("points", ""), h.get("user", ""), stored,
                  ", ".join(h.get("channels") or ())]
        width = max(len(head) for head in heads)
        for head, value in zip(heads, values):
            self.output(f"{head.rjust(width)}  :  {value}")
