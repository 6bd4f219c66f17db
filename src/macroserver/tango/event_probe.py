"""Knowing when a client's change-event subscriptions to a door receive events.

ZeroMQ applies a subscription at the server's publisher some time after subscribe_event
returned (its "late joiner"): events pushed meanwhile never come, so a client that
subscribes and at once runs a macro can miss every event of it on a loaded machine. The
first event of a subscription proves nothing (Tango reads it synchronously within
subscribe_event). What does: an event pushed after subscribing, on a subscription made
after the others, since a process's subscriptions reach a server in the order it made
them. The door's ProbeEvents pushes a token of ours on its EventProbe attribute, which
no one else reads: no state, stream or environment changes for other clients.
"""

from __future__ import annotations

import threading
import time
import uuid

import tango

PROBE_ATTRIBUTE = "EventProbe"
RETRY_S = 0.5  # a probe pushed before the probe's own subscription was applied is lost

# An EventProbe subscription already open in this process would be shared by a new one
# (no new ZeroMQ subscription, so its token proves nothing of the newer ones): one
# probe at a time per process, each subscribed afresh and closed after.
_PROBING = threading.Lock()


def wait_subscriptions_live(door: tango.DeviceProxy, timeout: float = 30.0) -> bool:
    """Return once the subscriptions this process made so far to `door`'s server
    receive events; TimeoutError if the probe's token has not come within `timeout`.
    False, at once, for a door without ProbeEvents (Sardana's own, or an older server
    of ours): nothing can prove its subscriptions live, and the client still works."""
    if "ProbeEvents" not in door.get_command_list():
        return False
    token = uuid.uuid4().hex
    arrived = threading.Event()

    def on_event(event: tango.EventData) -> None:
        if not event.err and event.attr_value is not None and event.attr_value.value == token:
            arrived.set()

    with _PROBING:
        event_id = door.subscribe_event(PROBE_ATTRIBUTE, tango.EventType.CHANGE_EVENT,
                                        on_event)
        try:
            deadline = time.monotonic() + timeout
            while True:
                door.command_inout("ProbeEvents", token)
                if arrived.wait(RETRY_S):
                    return True
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{door.dev_name()}: no EventProbe event within "
                                       f"{timeout} s: its events do not reach this client")
        finally:
            door.unsubscribe_event(event_id)
