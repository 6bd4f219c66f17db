"""Sardana's element objects, as adapters over our motors, channels and groups.

A facility's macro calls `motor.getPosition()`, `motor.move(1)`, `mg.count(0.1)`,
`channel.getValue()` ...; these thin adapters give those methods on our elements.
Waiting goes through the running macro (`running.wait`), so a stop or abort halts the
move or count, as it does in Sardana.
"""

from __future__ import annotations

from typing import Any, Sequence

from macroserver.elements.calibration import CalibratedMotor
from macroserver.macros import Channel, MeasurementGroup, Motor, UnknownElement
from macroserver.sardana_api import running


def _state(busy: bool) -> Any:
    import tango  # Sardana returns Tango states; PyTango is one of our dependencies

    return tango.DevState.MOVING if busy else tango.DevState.ON


class Value:
    """What `getAttribute(name)`, `getStateEG()` return: something to read."""

    def __init__(self, read: Any) -> None:
        self._read = read

    def readValue(self, force: bool = False) -> Any:  # noqa: N802 (Sardana's names)
        return self._read()

    read = readValue
    getValue = readValue

    @property
    def value(self) -> Any:
        return self._read()


class Element:
    """What every Sardana element answers: its names and its attributes."""

    _type = "Element"

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.name = inner.name

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"{self._type}({self.name})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Element) and other._inner is self._inner

    def __hash__(self) -> int:
        return hash(self.name)

    def getName(self) -> str:  # noqa: N802
        return self.name

    getFullName = getNormalName = getSimpleName = getName

    def getType(self) -> str:  # noqa: N802
        return self._type

    def getState(self) -> Any:  # noqa: N802
        return _state(False)

    state = getState

    def getStateEG(self) -> Value:  # noqa: N802
        return Value(self.getState)

    def getAttribute(self, name: str) -> Value:  # noqa: N802
        reader = getattr(self, "get" + name[:1].upper() + name[1:], None)
        if reader is None:
            raise AttributeError(f"{self._type} {self.name} has no attribute {name!r}")
        return Value(reader)

    def read_attribute(self, name: str) -> Value:
        return self.getAttribute(name)


class MotorAdapter(Element):
    """Sardana's Motor over one of our motors."""

    _type = "Motor"

    @property
    def motor(self) -> Motor:
        return self._inner

    def getPosition(self, force: bool = False) -> float:  # noqa: N802
        return self.motor.position()

    def getDialPosition(self, force: bool = False) -> float:  # noqa: N802
        """The dial position: the user one unless the motor has an offset or sign."""
        motor = self.motor
        return motor.dial_position() if isinstance(motor, CalibratedMotor) else motor.position()

    @property
    def position(self) -> float:
        return self.motor.position()

    def getUnit(self) -> str:  # noqa: N802
        return self.motor.unit

    def getLimits(self) -> tuple[float, float]:  # noqa: N802
        return self.motor.limits()

    def getState(self) -> Any:  # noqa: N802
        return _state(not self.motor.wait_move(0))

    def startMove(self, position: float, timeout: float | None = None) -> int:  # noqa: N802
        self.motor.start_move(float(position))
        return 1

    def waitMove(self, timeout: float | None = None, id: Any = None) -> None:  # noqa: N802, A002
        running.wait(self.motor.wait_move, self.motor.stop)

    def move(self, position: float, timeout: float | None = None) -> tuple[Any, float]:
        """Move there and wait; returns (state, position) as Sardana's does."""
        self.startMove(position)
        self.waitMove()
        return self.getState(), self.getPosition()

    def stop(self, wait: bool = True) -> None:
        self.motor.stop()

    abort = stop


class _Counting(Element):
    """What channels and groups share: an integration time, start, wait, stop."""

    def __init__(self, inner: Channel | MeasurementGroup) -> None:
        super().__init__(inner)
        self._integration_time = 1.0

    def putIntegrationTime(self, time: float) -> None:  # noqa: N802
        self._integration_time = float(time)

    setIntegrationTime = putIntegrationTime

    def getIntegrationTime(self) -> float:  # noqa: N802
        return self._integration_time

    def getState(self) -> Any:  # noqa: N802
        return _state(not self._inner.wait(0))

    def startCount(self) -> int:  # noqa: N802
        self._inner.start(self._integration_time)
        return 1

    def waitCount(self, timeout: float | None = None, id: Any = None) -> None:  # noqa: N802, A002
        running.wait(self._inner.wait, self._inner.stop)

    def count(self, integration_time: float | None = None) -> tuple[Any, Any]:
        """Count (for `integration_time`) and wait; returns (state, what was read)."""
        if integration_time is not None:
            self.putIntegrationTime(integration_time)
        self.startCount()
        self.waitCount()
        return self.getState(), self._inner.read()

    def stop(self) -> None:
        self._inner.stop()

    abort = stop


class ChannelAdapter(_Counting):
    """Sardana's experiment channel over one of our channels."""

    _type = "ExpChannel"

    @property
    def channel(self) -> Channel:
        return self._inner

    def getValue(self, force: bool = False) -> Any:  # noqa: N802
        return self.channel.read()


class GroupAdapter(_Counting):
    """Sardana's MeasurementGroup over one of ours."""

    _type = "MeasurementGroup"

    def __init__(self, inner: MeasurementGroup) -> None:
        super().__init__(inner)
        self._nb_starts = 1

    @property
    def group(self) -> MeasurementGroup:
        return self._inner

    def setNbStarts(self, starts: int) -> None:  # noqa: N802
        self._nb_starts = int(starts)

    def getNbStarts(self) -> int:  # noqa: N802
        return self._nb_starts

    def prepare(self) -> None:
        """Nothing to prepare: our groups start directly."""

    def getTimer(self) -> str:  # noqa: N802
        return self.group.timer

    def getChannelNames(self) -> list[str]:  # noqa: N802
        return [c.name for c in self.group.channels]

    getChannelLabels = getChannelNames

    def getChannels(self) -> list[dict[str, Any]]:  # noqa: N802
        return [{"name": c.name, "label": c.label, "full_name": c.name,
                 "enabled": True, "shape": list(c.shape)} for c in self.group.channels]

    def getValues(self) -> dict[str, Any]:  # noqa: N802
        return self.group.read()


class Motion:
    """`getMotion([m1, m2])`: several moveables moved together."""

    def __init__(self, motors: Sequence[MotorAdapter]) -> None:
        self.moveables = list(motors)

    def getMoveableNames(self) -> list[str]:  # noqa: N802
        return [m.getName() for m in self.moveables]

    def readPosition(self, force: bool = False) -> list[float]:  # noqa: N802
        return [m.getPosition() for m in self.moveables]

    def readState(self, force: bool = False) -> Any:  # noqa: N802
        return _state(any(str(m.getState()) == "MOVING" for m in self.moveables))

    def startMove(self, positions: Sequence[float], timeout: float | None = None) -> int:  # noqa: N802
        if len(positions) != len(self.moveables):
            raise ValueError(f"{len(positions)} positions for {len(self.moveables)} moveables")
        for motor, position in zip(self.moveables, positions):
            motor.startMove(position)
        return 1

    def waitMove(self, timeout: float | None = None, id: Any = None) -> None:  # noqa: N802, A002
        motors = [m.motor for m in self.moveables]
        running.wait(lambda t: all(m.wait_move(t) for m in motors), self.stop)

    def move(self, positions: Sequence[float], timeout: float | None = None) -> tuple[Any, list]:
        self.startMove(positions)
        self.waitMove()
        return self.readState(), self.readPosition()

    def stop(self) -> None:
        for motor in self.moveables:
            motor.stop()

    abort = stop


def motor(name: Any, pool: Any) -> MotorAdapter:
    """The adapter of motor `name` (an adapter already is returned as it is)."""
    return name if isinstance(name, MotorAdapter) else MotorAdapter(pool.motor(str(name)))


def channel(name: Any, pool: Any) -> ChannelAdapter:
    """The adapter of channel `name` (an adapter already is returned as it is)."""
    return name if isinstance(name, ChannelAdapter) else ChannelAdapter(pool.channel(str(name)))


def measurement_group(name: Any, pool: Any) -> GroupAdapter:
    """The adapter of group `name` (an adapter already is returned as it is)."""
    if isinstance(name, GroupAdapter):
        return name
    return GroupAdapter(pool.measurement_group(str(name)))


def countable(name: Any, pool: Any) -> Element:
    """A measurement group, or else a channel (Sardana's Countable)."""
    try:
        return measurement_group(name, pool)
    except UnknownElement:
        return channel(name, pool)


def adapt(element: Any) -> Any:
    """The adapter of one of our elements (anything else unchanged)."""
    if isinstance(element, Element):
        return element
    if isinstance(element, MeasurementGroup):
        return GroupAdapter(element)
    if isinstance(element, Motor):
        return MotorAdapter(element)
    if isinstance(element, Channel):
        return ChannelAdapter(element)
    return element
