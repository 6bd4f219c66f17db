"""The Tango device server: `MacroServer` and `Door` devices (Sardana's names), and the
`MetadataManager` (tango/metadata_manager.py) the packaged description adds beside them.

The MacroServer device (`macroserver_device`) owns the `MacroServerCore` (elements,
environment, macros, recorders); each Door (`door`) owns a `MacroRunner` on it and turns
what its macros produce into change events. Started as `macroserver serve <instance>`:
a normal device server that a facility can run under Starter/Astor.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

import tango

from macroserver.logs import set_level
from macroserver.tango.door import Door
from macroserver.tango.element_export import export_elements
from macroserver.tango.macroserver_device import MacroServer
from macroserver.tango.pool_devices import POOL_DEVICE_CLASSES

LOOPBACK_ENDPOINT = "giop:tcp:127.0.0.1:0"
EVENT_BUFFER_HWM = 50000  # events queued per subscriber before ZMQ drops (~10 MB each)
#: Seconds a Python thread keeps the GIL while another waits for it (CPython: 5 ms). A
#: point crosses three threads on its way to the clients (scan, JSON recorder or table,
#: event pump), and at integration time 0 the scan thread never lets go of the GIL on
#: its own: with 5 ms each hop waited up to that long (docs/performance.md, issue 21.3).
GIL_SWITCH_INTERVAL = 0.001


def serve(instance: str, extra_args: Sequence[str] = (), listen: str | None = None,
          log_level: str = "INFO") -> None:
    """Run the device server `MacroServer/<instance>` (bound to loopback unless `listen`);
    it logs at `log_level` and above to `macroserver-<instance>.log` beside its
    environment file."""
    set_level(log_level)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    endpoint = [] if "-ORBendPoint" in extra_args else [
        "-ORBendPoint", f"giop:tcp:{listen}:0" if listen else LOOPBACK_ENDPOINT]
    args = ["MacroServer", instance, *endpoint, *extra_args]
    # A fast scan pushes its table rows faster than a busy client takes them; beyond
    # this many queued events per subscriber ZMQ silently drops them (Tango's default is
    # 1000, less than one 1,000-point scan). The facility may set its own value.
    os.environ.setdefault("TANGO_DS_EVENT_BUFFER_HWM", str(EVENT_BUFFER_HWM))
    from macroserver.tango.metadata_manager import MetadataManager

    tango.server.run((MacroServer, Door, MetadataManager, *POOL_DEVICE_CLASSES), args=args,
                     post_init_callback=export_elements)
