"""Which Tango device each element of the pool is, and how Sardana's clients see it.

Simulated motors, channels and every measurement group are served by our own device
server (`pool_devices.py`) as `motor/<instance>/<name>`, `expchan/<instance>/<name>` and
`mntgrp/<instance>/<name>`; Tango-backed motors and channels already are devices and keep
their own names. Sardana's clients find both through the `Elements` entries built here
(name, full_name, type, interfaces, source), the facts of Sardana's element serialisation.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from macroserver.elements.calibration import CalibratedMotor
from macroserver.elements.pool import CHANNEL_TYPES, Pool

DEVICE_DOMAINS = {"Motor": "motor", "CTExpChannel": "expchan", "OneDExpChannel": "expchan",
                  "TwoDExpChannel": "expchan", "MeasurementGroup": "mntgrp"}
_COMMON = ["Object", "PoolObject", "Element", "PoolElement"]
#: Sardana's expanded interface names of each type (spock and Taurus select by them).
INTERFACES = {
    "Motor": [*_COMMON, "Moveable", "Acquirable", "Motor"],
    "CTExpChannel": [*_COMMON, "Acquirable", "ExpChannel", "Countable", "CTExpChannel"],
    "OneDExpChannel": [*_COMMON, "Acquirable", "ExpChannel", "Countable", "OneDExpChannel"],
    "TwoDExpChannel": [*_COMMON, "Acquirable", "ExpChannel", "Countable", "TwoDExpChannel"],
    "MeasurementGroup": [*_COMMON, "Countable", "MeasurementGroup"],
    "Controller": [*_COMMON, "Controller"],
}
#: Sardana lists every motor and channel under a controller element, its `parent`; ours
#: are under one named after the server instance (`<instance>_simulation`), Tango-backed
#: ones under this one (what Sardana calls external channels)
EXTERNAL_CONTROLLER = "__tango__"


def served_controller(instance: str) -> str:
    """The controller of the elements the server instance serves as devices."""
    return f"{instance}_simulation"
#: Tango device name members we can give: letters, digits and _ . + -
_MEMBER = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclass(frozen=True)
class PoolElement:
    """One element as a Tango device: ours (`served`) or its own."""

    name: str
    type: str  # Sardana's element type; the Tango class of the devices we serve
    device: str  # device name, without tango://host:port
    attribute: str  # the attribute holding its value ("" for a measurement group)
    served: bool
    #: attribute -> Tango attribute properties (unit, limits) of a device we serve
    attribute_properties: dict[str, dict[str, list[str]]] = field(default_factory=dict,
                                                                  compare=False)
    #: the controller element listing it ("" for a measurement group: a pool's child)
    controller: str = ""

    def full_name(self, tango_host: str) -> str:
        return f"tango://{tango_host}/{self.device}"

    def sardana_entry(self, tango_host: str, macro_server: str) -> dict[str, Any]:
        """The element as Sardana's `Elements` lists it."""
        full_name = self.full_name(tango_host)
        entry: dict[str, Any] = {
            "name": self.name, "full_name": full_name, "id": full_name, "type": self.type,
            "interfaces": INTERFACES[self.type], "manager": macro_server,
            "pool": macro_server, "parent": self.controller or macro_server,
        }
        if self.attribute:
            entry["source"] = f"{full_name}/{self.attribute}"
        return entry


def controller_entries(elements: list[PoolElement], tango_host: str,
                       macro_server: str) -> list[dict[str, Any]]:
    """The controller elements the `elements` name as their parent, as Sardana's
    `Elements` lists them. Sardana's element tree (expconf, the element browser) puts
    each motor and channel under its controller and fails on one whose controller is
    not listed (an UnboundLocalError, or the element filed under whatever it built last)."""
    names = sorted({e.controller for e in elements if e.controller})
    full_name = f"tango://{tango_host}/{macro_server}"  # the device that runs them
    return [{"name": name, "full_name": full_name, "id": f"{full_name}/{name}",
             "type": "Controller", "interfaces": INTERFACES["Controller"],
             "manager": macro_server, "pool": macro_server, "parent": macro_server}
            for name in names]


def served_device_name(element_type: str, instance: str, name: str) -> str:
    return f"{DEVICE_DOMAINS[element_type]}/{instance}/{name}"


def pool_elements(pool: Pool, instance: str) -> tuple[list[PoolElement], list[str]]:
    """Every element of `pool` with its device, and a note for each one that cannot be
    served (a name Tango does not take as a device member)."""
    elements: list[PoolElement] = []
    problems: list[str] = []

    def served(name: str, element_type: str, attribute: str,
               properties: dict[str, dict[str, list[str]]]) -> None:
        if not _MEMBER.match(name):
            problems.append(f"{name}: not served as a Tango device (a device name takes "
                            f"only letters, digits and _ . + -)")
            return
        device = served_device_name(element_type, instance, name)
        controller = "" if element_type == "MeasurementGroup" else served_controller(instance)
        elements.append(PoolElement(name, element_type, device, attribute, True, properties,
                                    controller))

    for motor in pool.motors.values():
        device = own_device(motor)
        if device:
            elements.append(PoolElement(motor.name, "Motor", device, _attribute_of(motor),
                                        False, controller=EXTERNAL_CONTROLLER))
        else:
            served(motor.name, "Motor", "Position", _motor_properties(motor))
    for channel in pool.channels.values():
        element_type = CHANNEL_TYPES[channel.kind]
        device = own_device(channel)
        if device:
            elements.append(PoolElement(channel.name, element_type, device,
                                        _attribute_of(channel), False,
                                        controller=EXTERNAL_CONTROLLER))
        else:
            served(channel.name, element_type, "Value", {"Value": {"unit": [channel.unit]}})
    for group in pool.measurement_groups.values():
        served(group.name, "MeasurementGroup", "", {})
    return elements, problems


def own_device(element: Any) -> str | None:
    """The device of a Tango-backed element (Tango motors and channels, Lima detectors
    name it in `device`); None for one we serve."""
    device = getattr(element, "device", None)
    return device if isinstance(device, str) else None


def _attribute_of(element: Any) -> str:
    """The attribute a Tango-backed element reads ("" when it reads several)."""
    return str(getattr(element, "attribute", "")).rpartition("/")[2]


def _motor_properties(motor: Any) -> dict[str, dict[str, list[str]]]:
    """Unit and limits of a motor's Position (user) and DialPosition (dial)."""
    calibration = motor.calibration() if isinstance(motor, CalibratedMotor) else None
    user = calibration.user_limits if calibration else motor.limits()
    properties = {"Position": _range_properties(motor.unit, user)}
    if calibration is not None:
        properties["DialPosition"] = _range_properties(motor.unit, calibration.dial_limits)
    return properties


def _range_properties(unit: str, limits: tuple[float, float]) -> dict[str, list[str]]:
    """Unit and limits of an attribute (a side without a limit has no value)."""
    low, high = limits
    properties = {"unit": [unit]}
    if math.isfinite(low):
        properties["min_value"] = [repr(low)]
    if math.isfinite(high):
        properties["max_value"] = [repr(high)]
    return properties
