"""What a recorder author imports: the `Recorder` base class, its context and the
records it receives (see docs/plugins.md).

    from macroserver.recorders import Recorder, ScanInfo, Point, ScanEnd

The recorders of the package (`output`, `json`, `spec`, `nexus`, `sharedmem`) are written
against the same names.
"""

from macroserver.recorders.base import Recorder, RecorderContext
from macroserver.records import (
    Column,
    EndStatus,
    Point,
    PointBlock,
    Role,
    ScanEnd,
    ScanInfo,
    SnapshotValue,
    Written,
)

__all__ = [
    "Column", "EndStatus", "Point", "PointBlock", "Recorder", "RecorderContext", "Role",
    "ScanEnd", "ScanInfo", "SnapshotValue", "Written",
]
