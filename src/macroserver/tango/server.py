"""The Tango device server: `MacroServer` and `Door` devices (Sardana's names), and the
`MetadataManager` (tango/metadata_manager.py) the packaged description adds beside them.

The MacroServer device (`macroserver_device`) owns the `MacroServerCore` (elements,
environment, macros, recorders); each Door (`door`) owns a `MacroRunner` on it and turns
what its macros produce into change events. Started as `macroserver serve <instance>`:
a normal device server that a facility can run under Starter/Astor.
"""

from __future__ import annotations

import os
from typing import Sequence

import tango

from macroserver.logs import set_level
from macroserver.tango.door import Door
from macroserver.tango.element_export import export_elements
from macroserver.tango.macroserver_device import MacroServer
from macroserver.tango.pool_devices import POOL_DEVICE_CLASSES

LOOPBACK_ENDPOINT = "giop:tcp:127.0.0.1:0"
EVENT_BUFFER_HWM = 50000  # events queued per subscriber before ZMQ drops (~10 MB each)


def serve(instance: str, extra_args: Sequence[str] = (), listen: str | None = None,
          log_level: str = "INFO") -> None:
    """Run the device server `MacroServer/<instance>` (bound to loopback unless `listen`);
    it logs at `log_level` and above to `macroserver-<instance>.log` beside its
    environment file."""
    set_level(log_level)
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
