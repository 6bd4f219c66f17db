"""A measurement group's `Configuration`: Sardana's JSON, as expconf reads and writes it.

Sardana groups a measurement group's channels by controller: our simulated channels
under one controller named after the server, Tango-backed ones under `__tango__` (what
Sardana calls external channels). A write chooses the timer and the enabled channels of
the group (what scans acquire); the display hints a client sets (label, output, plot type
and axes, normalization, ...) are kept with the group and shown back, but do not change
our recorders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from macroserver.elements.base import MeasurementGroup
from macroserver.tango.pool_elements import EXTERNAL_CONTROLLER, PoolElement

#: What a client may set per channel that only it uses.
HINT_KEYS = ("label", "output", "plot_type", "plot_axes", "normalization", "conditioning",
             "nexus_path")
DESCRIPTION = "General purpose measurement group"

Hints = dict[str, dict[str, Any]]


class ConfigurationError(ValueError):
    """A written Configuration that does not describe this group; nothing was changed."""


def build_configuration(group: MeasurementGroup, elements: Mapping[str, PoolElement],
                        tango_host: str) -> dict[str, Any]:
    """The group's configuration in Sardana's format (`elements` by element name), its
    channels under their controllers (pool_elements.py)."""
    enabled = {c.name for c in group.channels}
    full = {c.name: elements[c.name].full_name(tango_host) for c in group.members}
    controllers: dict[str, dict[str, Any]] = {}
    for index, channel in enumerate(group.members):
        element = elements[channel.name]
        ctrl = element.controller
        ctrl_data = controllers.setdefault(ctrl, {"channels": {}})
        if element.served:
            ctrl_data.update(synchronizer="software", synchronization=0)
        key = full[channel.name] if element.served else f"{full[channel.name]}/{element.attribute}"
        ctrl_data["channels"][key] = {
            "index": index, "name": channel.name, "full_name": key,
            "source": f"{full[channel.name]}/{element.attribute}",
            "enabled": channel.name in enabled, "ndim": len(channel.shape),
            "shape": list(channel.shape), "data_type": channel.dtype,
            "data_units": channel.unit, "_controller_name": ctrl, **group.display(channel),
        }
    timer = full[group.timer]
    for ctrl, ctrl_data in controllers.items():
        if ctrl != EXTERNAL_CONTROLLER:
            served = [k for k, v in ctrl_data["channels"].items() if v["enabled"]]
            ctrl_timer = timer if timer in ctrl_data["channels"] else (served or [""])[0]
            ctrl_data.update(timer=ctrl_timer, monitor=ctrl_timer)
    return {"label": group.name, "description": DESCRIPTION, "timer": timer,
            "monitor": timer, "controllers": controllers}


def apply_configuration(group: MeasurementGroup, text: str, elements: Mapping[str, PoolElement],
                        tango_host: str) -> Hints:
    """Set the timer and enabled channels from a written configuration; returns the
    client's hints per channel. Raises ConfigurationError naming what is wrong."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"Configuration of {group.name} is not JSON: {exc}") from None
    controllers = document.get("controllers") if isinstance(document, dict) else None
    if not isinstance(controllers, dict):
        raise ConfigurationError(f"Configuration of {group.name} needs a \"controllers\" "
                                 f"object (Sardana's measurement group format)")
    by_full_name = {}
    for channel in group.members:
        element = elements[channel.name]
        full = element.full_name(tango_host)
        for key in (full, f"{full}/{element.attribute}", channel.name):
            by_full_name[key.lower()] = channel.name
    enabled: list[str] = []
    hints: Hints = {}
    for ctrl_data in controllers.values():
        channels = ctrl_data.get("channels") if isinstance(ctrl_data, dict) else None
        if not isinstance(channels, dict):
            raise ConfigurationError(f"Configuration of {group.name}: every controller "
                                     f"needs a \"channels\" object")
        for key, data in channels.items():
            name = by_full_name.get(str(key).lower())
            if name is None or not isinstance(data, dict):
                raise ConfigurationError(
                    f"Configuration of {group.name}: {key} is not one of its channels "
                    f"({', '.join(c.name for c in group.members)}); a group's channels "
                    f"are set in the server's configuration file")
            if data.get("enabled", True):
                enabled.append(name)
            hints[name] = {k: data[k] for k in HINT_KEYS if k in data}
    timer_key = document.get("timer")
    timer = group.timer if timer_key is None else by_full_name.get(str(timer_key).lower())
    if timer is None:
        raise ConfigurationError(f"Configuration of {group.name}: timer {timer_key} is not "
                                 f"one of its channels")
    try:
        group.configure(timer, enabled)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    return hints
