"""Sardana's object getters of `Macro`: motors, channels, groups by name or pattern,
handed out as the element adapters of `elements.py`."""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

from macroserver.macros import MacroServerError, ParamType
from macroserver.sardana_api import elements
from macroserver.sardana_api.mixin import MacroBase

MOTOR_TYPES = {"Motor", "Moveable", "PseudoMotor"}
CHANNEL_TYPES = {"ExpChannel", "CTExpChannel", "ZeroDExpChannel", "OneDExpChannel",
                 "TwoDExpChannel", "PseudoCounter"}
GROUP_TYPES = {"MeasurementGroup"}
KNOWN_TYPES = MOTOR_TYPES | CHANNEL_TYPES | GROUP_TYPES | {"Countable", "Acquirable",
                                                           "Element", "All", "Object"}


def _type_name(type_class: Any) -> str:
    if isinstance(type_class, ParamType):
        return type_class.name
    if isinstance(type_class, (list, tuple)):
        raise MacroServerError("one type_class at a time, please")
    return str(type_class or "All")


class ObjectsAPI(MacroBase):
    """getObj, getObjs, findObjs, getMotor, getMeasurementGroup, ..., getDevice."""

    def _elements(self, type_class: Any) -> Iterable[Any]:
        kind = _type_name(type_class)
        if kind not in KNOWN_TYPES:
            return []  # controllers, IORegisters ...: none on this server
        pool = self.pool
        found: list[Any] = []
        if kind in MOTOR_TYPES or kind in ("All", "Element", "Object"):
            found += pool.motors.values()
        if kind in CHANNEL_TYPES or kind in ("All", "Element", "Object", "Countable",
                                             "Acquirable"):
            found += pool.channels.values()
        if kind in GROUP_TYPES or kind in ("All", "Element", "Object", "Countable"):
            found += pool.measurement_groups.values()
        return found

    def findObjs(self, names: str | Sequence[str], type_class: Any = "All",  # noqa: N802
                 subtype: Any = "All", reserve: bool = True) -> list[Any]:
        """Elements whose name matches one of `names` (regular expressions, whole name,
        case-insensitive), as adapters."""
        patterns = [names] if isinstance(names, str) else list(names)
        regexes = [re.compile(p if p.endswith("$") else p + "$", re.IGNORECASE)
                   for p in patterns]
        return [elements.adapt(e) for e in self._elements(type_class)
                if any(r.match(e.name) for r in regexes)]

    getObjs = findObjs

    def getObj(self, name: str, type_class: Any = "All", subtype: Any = "All",  # noqa: N802
               pool: Any = "All", reserve: bool = True) -> Any:
        """The element named `name` (None if there is none); AttributeError if the
        pattern matches several."""
        if not isinstance(name, str):
            raise MacroServerError(f"getObj takes a name, not {name!r}")
        exact = [e for e in self.findObjs(re.escape(name), type_class) if e.name == name]
        if exact:
            return exact[0]
        found = self.findObjs(name, type_class)
        if len(found) > 1:
            raise AttributeError(f"{name!r} matches several elements: "
                                 f"{', '.join(e.name for e in found)}")
        return found[0] if found else None

    def getElementsWithInterface(self, interface: str) -> dict[str, Any]:  # noqa: N802
        return {e.getName(): e for e in self.findObjs(".*", interface)}

    def getElementWithInterface(self, interface: str, name: str) -> Any:  # noqa: N802
        return self.getObj(name, interface)

    def _one(self, name: Any, kind: str) -> Any:
        if isinstance(name, elements.Element):
            return name
        return self.getObj(str(name), kind)

    def getMotor(self, name: Any) -> Any:  # noqa: N802
        return self._one(name, "Motor")

    def getMoveable(self, name: Any) -> Any:  # noqa: N802
        return self._one(name, "Moveable")

    def getPseudoMotor(self, name: Any) -> Any:  # noqa: N802
        return self._one(name, "PseudoMotor")

    def getExpChannel(self, name: Any) -> Any:  # noqa: N802
        return self._one(name, "ExpChannel")

    getCounterTimer = get0DExpChannel = get1DExpChannel = get2DExpChannel = getExpChannel
    getPseudoCounter = getExpChannel

    def getMeasurementGroup(self, name: Any) -> Any:  # noqa: N802
        return self._one(name, "MeasurementGroup")

    def getMotors(self, names: str = ".*") -> list[Any]:  # noqa: N802
        return self.findObjs(names, "Motor")

    getMoveables = getPseudoMotors = getMotors

    def getExpChannels(self, names: str = ".*") -> list[Any]:  # noqa: N802
        return self.findObjs(names, "ExpChannel")

    getCounterTimers = get0DExpChannels = get1DExpChannels = getExpChannels
    get2DExpChannels = getPseudoCounters = getExpChannels

    def getMeasurementGroups(self, names: str = ".*") -> list[Any]:  # noqa: N802
        return self.findObjs(names, "MeasurementGroup")

    def getMotion(self, elems: Sequence[Any], motion_source: Any = None,  # noqa: N802
                  read_only: bool = False, cache: bool = True) -> elements.Motion:
        """Several moveables moved together (`startMove`, `waitMove`, `readPosition`)."""
        motors = []
        for element in elems:
            motor = self.getMoveable(element)
            if motor is None:
                raise MacroServerError(f"no moveable named {element!r}")
            motors.append(motor)
        return elements.Motion(motors)

    def getControllers(self) -> list[Any]:  # noqa: N802
        """Our elements have no Pool controllers: none."""
        return []

    def getController(self, name: str) -> Any:  # noqa: N802
        return None

    getInstruments = getIORegisters = getControllers
    getInstrument = getIORegister = getController

    def getPools(self) -> list[Any]:  # noqa: N802
        """This server is its own pool: no separate Pool devices."""
        return []

    def getDevice(self, dev_name: str) -> Any:  # noqa: N802
        """A Tango device proxy (Sardana gives a Taurus device)."""
        import tango

        return tango.DeviceProxy(dev_name)
