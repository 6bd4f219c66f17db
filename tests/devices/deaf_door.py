"""A door-shaped device whose events can be made not to reach clients (`Deaf`).

It has the attributes DoorClient subscribes to and the door's ProbeEvents, but while
`Deaf` is true ProbeEvents pushes nothing: a client's connect subscribes to everything,
then waits for a probe token that never comes, and fails midway. `Say` pushes a line on
Output, so a test sees whose callbacks still receive events. `MacroServer` (writable,
empty at first: no catalogue to read) names the MacroServer mspock reads its catalogue
from.

Run as `python deaf_door.py <instance> [Tango options]`; server "DeafDoor".
"""

from __future__ import annotations

import sys

from tango import AttrWriteType, DevState
from tango.server import Device, attribute, command, run

STREAMS = ("Output", "Info", "Warning", "Error", "Critical", "Debug", "Result")
ENCODED = ("RecordData", "MacroStatus")


class DeafDoor(Device):
    def init_device(self) -> None:
        super().init_device()
        self.set_state(DevState.ON)
        self._deaf = True
        self._macro_server = ""
        for name in (*STREAMS, *ENCODED, "Input", "EventProbe"):
            self.set_change_event(name, True, False)

    @attribute(dtype=bool, access=AttrWriteType.READ_WRITE)
    def Deaf(self) -> bool:
        return self._deaf

    @Deaf.write
    def Deaf(self, value: bool) -> None:
        self._deaf = value

    def _lines(self) -> list[str]:
        return []

    Output = attribute(dtype=(str,), max_dim_x=1000, fget=_lines)
    Info = attribute(dtype=(str,), max_dim_x=1000, fget=_lines)
    Warning = attribute(dtype=(str,), max_dim_x=1000, fget=_lines)
    Error = attribute(dtype=(str,), max_dim_x=1000, fget=_lines)
    Critical = attribute(dtype=(str,), max_dim_x=1000, fget=_lines)
    Debug = attribute(dtype=(str,), max_dim_x=1000, fget=_lines)
    Result = attribute(dtype=(str,), max_dim_x=1000, fget=_lines)

    def _encoded(self) -> tuple[str, bytes]:
        return "utf8_json", b"[]"

    RecordData = attribute(dtype="DevEncoded", fget=_encoded)
    MacroStatus = attribute(dtype="DevEncoded", fget=_encoded)

    @attribute(dtype=str)
    def Input(self) -> str:
        return ""

    @attribute(dtype=str)
    def EventProbe(self) -> str:
        return ""

    @attribute(dtype=str, access=AttrWriteType.READ_WRITE)
    def MacroServer(self) -> str:
        return self._macro_server

    @MacroServer.write
    def MacroServer(self, name: str) -> None:
        self._macro_server = name

    @command
    def ProbeEvents(self, token: str) -> None:
        """Push `token` on EventProbe, as the door does, unless deaf."""
        if not self._deaf:
            self.push_change_event("EventProbe", token)

    @command
    def Say(self, line: str) -> None:
        """Push one Output line, as a macro's output would be."""
        self.push_change_event("Output", [line])


if __name__ == "__main__":
    run((DeafDoor,), args=["DeafDoor", *sys.argv[1:]])
