"""Reading doors through Tango for `macroserver web`: finding them, subscribing to change
events that survive a door going away (stateless: they retry on their own), knowing when
those subscriptions are live, and decoding the events. Never a write, and no command but
the door's ProbeEvents (a token only the prober reads)."""

from __future__ import annotations

from typing import Any, Callable

from macroserver.wire import description


def exported_doors() -> list[str]:
    """The doors exported in the Tango database now (TANGO_HOST)."""
    import tango

    return sorted(tango.Database().get_device_exported_for_class("Door").value_string)


def device(name: str) -> Any:
    import tango

    proxy = tango.DeviceProxy(name)
    proxy.set_timeout_millis(3000)
    return proxy


class Subscriptions:
    """Stateless change-event subscriptions: they succeed while the device is down and
    deliver error events until it is back."""

    def __init__(self) -> None:
        self._ids: list[tuple[Any, int]] = []

    def add(self, proxy: Any, attr: str, callback: Callable[[Any], None]) -> None:
        import tango

        kwargs: dict[str, Any] = {}
        if hasattr(tango, "EventSubMode"):
            kwargs["sub_mode"] = tango.EventSubMode.AsyncRead
        else:  # PyTango < 10.1
            kwargs["stateless"] = True
        event_id = proxy.subscribe_event(attr, tango.EventType.CHANGE_EVENT, callback, **kwargs)
        self._ids.append((proxy, event_id))

    def close(self) -> None:
        for proxy, event_id in self._ids:
            try:
                proxy.unsubscribe_event(event_id)
            except Exception:  # noqa: BLE001 - the device may be gone already
                pass
        self._ids.clear()


def wait_live(door: Any) -> None:
    """Return once this process's subscriptions to `door`'s server receive events
    (ZeroMQ's late joiner: a scan started before would lose its first events), at once
    for a door without ProbeEvents; TimeoutError after 30 s without."""
    from macroserver.tango.event_probe import wait_subscriptions_live

    wait_subscriptions_live(door)


def has_value(event: Any) -> bool:
    return not event.err and event.attr_value is not None and event.attr_value.value is not None


def encoded_text(event: Any) -> str:
    """The text of a DevEncoded utf8_json event ("" for errors and empty values)."""
    if not has_value(event):
        return ""
    codec, data = event.attr_value.value
    if codec != "utf8_json":  # RecordData's first event is a read: Sardana's bz2_pickle
        return ""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data).decode("utf-8") if data else ""
    return str(data or "")


def event_error(event: Any) -> str:
    errors = getattr(event, "errors", None)
    return description(errors[0]) if errors else "event error"


def channel_sources(macro_server: Any) -> dict[str, str]:
    """1D/2D channel name -> the Tango attribute holding its newest value, from the
    MacroServer's `Elements` (Sardana's element list: the Pool-like devices we export,
    or a Tango-backed channel's own device)."""
    import json

    _, data = macro_server.read_attribute("Elements").value
    elements = json.loads(bytes(data).decode() if isinstance(data, (bytes, bytearray)) else data)
    return {e["name"]: e["source"] for e in elements.get("new", [])
            if e.get("type") in ("OneDExpChannel", "TwoDExpChannel") and e.get("source")}


def read_value(source: str) -> Any:
    """The value of the attribute `source` (`[tango://host:port/]a/b/c/attr`)."""
    name, _, attribute = source.rpartition("/")
    return device(name).read_attribute(attribute).value
