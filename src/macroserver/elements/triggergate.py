"""Hardware-timed continuous scans with a Tango trigger/gate device.

A trigger/gate device (a timer card, a PandABox block, a Sardana TriggerGate behind a
Tango facade) generates `Repetitions` gates of `Active` seconds every
`Active + Passive` seconds, the first `Delay` seconds after its `Start` command. Gated
channels count while the gate is high and keep the values of this acquisition in a
spectrum attribute (`ValueBuffer`, as Sardana's channels), read back in blocks.

Configuration (`type = "tango"` channel tables, docs/continuous-scans.md):

    [channels.ct1]
    type = "tango"
    attribute = "lab/ctr/1/Counts"       # read by step scans
    start_command = "Start"              # arms the counter to count on gates
    stop_command = "Stop"
    trigger = "lab/trigger/1"            # the trigger/gate device
    buffer = "ValueBuffer"               # optional; this is the default

Every channel naming the same trigger device shares one `TriggerGate`, armed once per
scan row.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from macroserver.elements.base import ElementError
from macroserver.elements.tango import TangoChannel, _TangoDevice, build_tango_element


class TriggerGate:
    """One trigger/gate device; arming it twice with the same schedule arms it once."""

    def __init__(self, device: str) -> None:
        self._device = _TangoDevice(f"trigger/gate {device}", device)
        self._armed: tuple[float, int, float, float] | None = None

    @property
    def device(self) -> str:
        return self._device.device

    def arm(self, starts: np.ndarray, integration_time: float) -> None:
        """Gates of `integration_time` at `starts` (monotonic, evenly spaced)."""
        period = float(starts[1] - starts[0]) if len(starts) > 1 else integration_time
        schedule = (float(starts[0]), len(starts), period, integration_time)
        if schedule == self._armed:
            return
        with self._device.call(f"{self.device}/Start") as proxy:
            proxy.write_attributes([
                ("Active", integration_time),
                ("Passive", max(0.0, period - integration_time)),
                ("Repetitions", len(starts)),
                ("Delay", max(0.0, float(starts[0]) - time.monotonic())),
            ])
            proxy.command_inout("Start")
        self._armed = schedule

    def stop(self) -> None:
        self._armed = None
        with self._device.call(f"{self.device}/Stop") as proxy:
            proxy.command_inout("Stop")


def _channel_member(name: str) -> property:
    """The wrapped channel's attribute `name`, declared on the class: `isinstance` with a
    runtime protocol (Channel, TriggeredChannel) looks members up statically since Python
    3.12, past `__getattr__`, so a member only delegated there makes the check fail."""
    return property(lambda self: getattr(self.channel, name))


class GatedChannel:
    """A Tango channel counting on a trigger/gate device's gates (hardware timing).

    In step scans it is the plain `TangoChannel` it wraps (every other attribute is the
    channel's; the Channel protocol's data members are declared below); in continuous
    scans `arm` starts the channel (its `start_command`, no argument: count on every
    gate) and the gate device, and `read_buffer` reads the values of the gates that have
    ended from the channel's buffer attribute.
    """

    name = _channel_member("name")
    label = _channel_member("label")
    kind = _channel_member("kind")
    shape = _channel_member("shape")
    dtype = _channel_member("dtype")
    unit = _channel_member("unit")

    def __init__(self, channel: TangoChannel, gate: TriggerGate,
                 buffer: str = "ValueBuffer") -> None:
        self.channel = channel
        self.gate = gate
        self.buffer = buffer
        device = channel.attribute.rpartition("/")[0]
        self._device = _TangoDevice(f"channel {channel.name}", device)
        self._delivered = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.channel, name)

    def start(self, integration_time: float) -> None:
        self.channel.start(integration_time)

    def wait(self, timeout: float) -> bool:
        return self.channel.wait(timeout)

    def read(self) -> Any:
        return self.channel.read()

    def arm(self, starts: np.ndarray, integration_time: float) -> None:
        self._delivered = 0
        command = self.channel.start_command
        if command:
            with self._device.call(f"{self._device.device}/{command}") as proxy:
                proxy.command_inout(command)
        self.gate.arm(starts, integration_time)

    def read_buffer(self, limit: int) -> Sequence[Any]:
        with self._device.call(f"{self._device.device}/{self.buffer}") as proxy:
            values = proxy.read_attribute(self.buffer).value
        values = np.asarray(values if values is not None else [], dtype=np.float64)
        new = values[self._delivered:self._delivered + limit]
        self._delivered += len(new)
        return list(new)

    def stop(self) -> None:
        self.channel.stop()
        try:
            self.gate.stop()
        except ElementError:  # the scan ends anyway; the gate ends after its repetitions
            pass


_GATES: dict[str, TriggerGate] = {}


def build_gated_channel(name: str, spec: dict[str, Any]) -> GatedChannel:
    """The channel of a `type = "tango"` table with a `trigger` device (and optional
    `buffer` attribute); channels naming the same trigger device share its TriggerGate."""
    rest = {k: v for k, v in spec.items() if k not in ("trigger", "buffer")}
    channel = build_tango_element("channel", name, rest)
    assert isinstance(channel, TangoChannel)
    trigger, buffer = spec["trigger"], spec.get("buffer", "ValueBuffer")
    for key, value in (("trigger", trigger), ("buffer", buffer)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"channels.{name}: {key} must be a Tango name, not {value!r}")
    gate = _GATES.setdefault(trigger.lower(), TriggerGate(trigger))
    return GatedChannel(channel, gate, buffer)
