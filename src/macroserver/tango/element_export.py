"""Serving the simulated elements: their devices created, updated or removed at start.

Run once the server is initialised (PyTango's post-init callback). The database then
holds one device per simulated element of each MacroServer of this process, with its
properties (the element's name, its MacroServer) and attribute properties (unit,
Position limits), and the element's name as alias where no other device has it yet.
Devices of elements that left the configuration are removed; those whose unit or limits
changed are made anew. `macroserver register` leaves these device classes alone
(dsconfig changes only the classes its description names).
"""

from __future__ import annotations

import sys

import tango

from macroserver.tango.pool_devices import POOL_DEVICE_CLASSES
from macroserver.tango.pool_elements import PoolElement, pool_elements

ELEMENT_CLASSES = {cls.__name__ for cls in POOL_DEVICE_CLASSES}


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def wanted_devices(util: tango.Util) -> dict[str, tuple[PoolElement, str]]:
    """device (lower case) -> (element, its MacroServer) for every element this process
    serves."""
    instance = util.get_ds_inst_name()
    wanted = {}
    for server in util.get_device_list_by_class("MacroServer"):
        core = getattr(server, "core", None)
        if core is None:
            continue
        elements, problems = pool_elements(core.pool, instance)
        for problem in problems:
            _note(f"{server.get_name()}: {problem}")
        for element in elements:
            if element.served:
                wanted[element.device.lower()] = (element, server.get_name())
    return wanted


def _attribute_properties(db: tango.Database, element: PoolElement) -> dict:
    names = list(element.attribute_properties)
    stored = db.get_device_attribute_property(element.device, names) if names else {}
    return {attr: {k: list(v) for k, v in props.items()} for attr, props in stored.items()}


def export_elements() -> None:
    """Create, keep, remake or remove element devices to match the elements served now."""
    util = tango.Util.instance()
    db = util.get_database()
    wanted = wanted_devices(util)
    registered = list(db.get_device_class_list(f"MacroServer/{util.get_ds_inst_name()}"))
    existing = set()
    for device, cls in zip(registered[0::2], registered[1::2]):
        if cls not in ELEMENT_CLASSES:
            continue
        entry = wanted.get(device.lower())
        if (entry is not None and entry[0].type == cls
                and _attribute_properties(db, entry[0]) == entry[0].attribute_properties):
            existing.add(device.lower())
        else:
            util.delete_device(cls, device)
    for key, (element, server) in wanted.items():
        if key not in existing:
            def configure(device: str, element: PoolElement = element,
                          server: str = server) -> None:
                db.put_device_property(device, {"Element": [element.name],
                                                "MacroServerName": [server]})
                if element.attribute_properties:
                    db.put_device_attribute_property(device, element.attribute_properties)
            util.create_device(element.type, element.device, cb=configure)
        _give_alias(db, element.device, element.name)


def _give_alias(db: tango.Database, device: str, alias: str) -> None:
    """The element's name as the device's alias, unless another device has it."""
    try:
        owner = db.get_device_alias(alias)
    except tango.DevFailed:
        owner = None
    if owner is not None and owner.lower() != device.lower():
        _note(f"{device}: alias {alias!r} belongs to {owner}; clients reach this element "
              f"by its device name")
    elif owner is None:
        db.put_device_alias(device, alias)
