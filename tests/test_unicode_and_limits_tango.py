"""UTF-8 end to end and input limits through a real `macroserver serve` (issue 13, items
8, 10 and 11).

PyTango turns DevString bytes into `str` as Latin-1 and back: a client that sends UTF-8
(any non-Python client, or a PyTango client passing bytes) used to see `ü` stored as
`Ã¼`, and text outside Latin-1 made DoorClient raise UnicodeError.
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest
import tango
from tango import DevState
from tango_helpers import (
    Events,
    LiveDoorEvents,
    MacroServerInstance,
    start_macroserver,
    wait_state,
    write_config,
)

from macroserver.engine.envcheck import MAX_VALUE_BYTES
from macroserver.tango.client import DoorClient
from macroserver.wire import error_text, from_wire

pytestmark = pytest.mark.timeout(120)

TEXTS = ["Müller", "日本", "naïve café ü 東京"]


@pytest.fixture(scope="module")
def ms(tango_db, module_device_server, tmp_path_factory) -> Iterator[MacroServerInstance]:
    folder = tmp_path_factory.mktemp("ms-utf8")
    instance = start_macroserver(module_device_server, tango_db.tango_host, "utf8", folder,
                                 write_config(folder))
    DoorClient(instance.door).set_environment({"ScanDir": str(instance.data_dir),
                                               "ActiveMntGrp": "mg1"})
    live = LiveDoorEvents([instance.door])  # each test subscribes and runs
    yield instance
    live.close()


@pytest.fixture
def door(ms) -> tango.DeviceProxy:
    proxy = ms.proxy()
    if proxy.state() == DevState.RUNNING:
        wait_state(proxy, DevState.ON, 20)
    return proxy


def run_raw(ms: MacroServerInstance, args: list) -> dict:
    """RunMacro with a plain DeviceProxy (no DoorClient) and wait for its end."""
    events = Events(ms.door, ["MacroStatus"])
    try:
        macro_id = ms.proxy().command_inout("RunMacro", args)[0]
        return events.wait_end(macro_id)
    finally:
        events.close()


@pytest.mark.parametrize("text", TEXTS)
def test_utf8_bytes_from_a_plain_pytango_client_arrive_as_text(ms, door, text):
    status = run_raw(ms, [b"senv", b"Name", text.encode("utf-8")])
    assert status["state"] == "finish", status
    assert ms.environment()["Name"] == text
    wait_state(door, DevState.ON, 10)  # the final status goes out just before ON


def test_latin1_text_from_a_pytango_client_is_kept(ms, door):
    """PyTango sends a `str` as Latin-1: `ü` is one byte, not UTF-8, and stays `ü`."""
    status = run_raw(ms, ["senv", "Name", "Grüße"])
    assert status["state"] == "finish", status
    assert ms.environment()["Name"] == "Grüße"


@pytest.mark.parametrize("text", TEXTS)
def test_door_client_sends_and_receives_any_text(ms, text):
    client = DoorClient(ms.door).connect()
    try:
        outcome = client.run(["senv", "City", text], timeout=30)  # no UnicodeError here
        assert outcome.state == "finish", outcome
        assert outcome.messages["Output"] == [f"City = {text!r}"]
        assert client.environment()["City"] == text
        # the door's Status names the command as typed (UTF-8 on the wire too)
        line = text if " " not in text else repr(text)
        assert from_wire(ms.proxy().status()) == f"senv City {line}: finish"
        outcome = client.run("genv City", timeout=30)
        assert outcome.messages["Output"] == [f"City = {text!r}"]
        assert outcome.messages["Result"] == [repr(text)]
        client.set_environment({"Sample": text})
        assert ms.environment()["Sample"] == text
        # an error message holding the text reaches the client readable
        with pytest.raises(tango.DevFailed) as caught:
            client.run(["ascan", text, "0", "1", "2", "0"])
        assert f"unknown motor {text!r}" in error_text(caught.value)
    finally:
        client.close()
    assert ms.proxy().state() == DevState.ON


def test_environment_written_as_utf8_json_by_a_plain_client(ms):
    payload = json.dumps({"change": {"Owner": "日本 Müller"}}, ensure_ascii=False)
    ms.proxy("ms").command_inout("SetEnvironment", payload.encode("utf-8"))
    assert ms.environment()["Owner"] == "日本 Müller"


# -- item 8 through Tango -----------------------------------------------------------------


def test_an_oversized_environment_value_is_refused_and_the_server_stays_usable(ms):
    server = ms.proxy("ms")
    payload = json.dumps({"change": {"Huge": "z" * (2 * MAX_VALUE_BYTES)}})
    with pytest.raises(tango.DevFailed) as caught:
        server.SetEnvironment(payload)
    error = caught.value.args[0]
    assert error.reason == "EnvError"
    assert f"value of Huge is {2 * MAX_VALUE_BYTES + 2:,} bytes as JSON" in error.desc
    assert "Huge" not in ms.environment()
    assert server.state() == DevState.ON
    assert run_raw(ms, ["ascan", "m1", "0", "1", "2", "0"])["state"] == "finish"


def test_nul_and_control_characters_are_refused_when_set_naming_the_key(ms):
    """Issue 20 item 3: a NUL taken into ScanMetadata used to cost every later NeXus
    file (`VLEN strings do not support embedded NULLs`); now it never gets in."""
    server = ms.proxy("ms")
    for change, named in (({"ScanMetadata": {"parameters/x": "a\x00b"}},
                           "ScanMetadata['parameters/x'] contains a NUL character"),
                          ({"Title": "bell\x07"}, "Title contains the control character"),
                          ({"Names": ["ok", {"k\x1b": 1}]},
                           "Names[1]: the name 'k\\x1b' contains the control character")):
        with pytest.raises(tango.DevFailed) as caught:
            server.SetEnvironment(json.dumps({"change": change}))
        assert caught.value.args[0].reason == "EnvError"
        assert named in caught.value.args[0].desc, caught.value.args[0].desc
        assert not set(change) & set(ms.environment())
    status = run_raw(ms, ["senv", "Comment", "a\x1b[31mred"])
    assert status["state"] == "exception" and "Comment contains the control character" in \
        status.get("error", json.dumps(status)), status
    assert "Comment" not in ms.environment()
    status = run_raw(ms, ["senv", "Comment", "two\nlines\tand a tab"])  # allowed in values
    assert status["state"] == "finish", status
    assert server.state() == DevState.ON


# -- item 11 through Tango ----------------------------------------------------------------


def test_a_refused_run_macro_keeps_the_last_macros_output_and_result(ms, door):
    status = run_raw(ms, ["genv", "ActiveMntGrp"])
    assert status["state"] == "finish"
    output, result = list(door.Output), list(door.Result)
    assert output == ["ActiveMntGrp = 'mg1'"] and result == ["'mg1'"]
    inner = '<param name="value" value="x"/>'
    for _ in range(1400):
        inner = f"<paramrepeat><repeat>{inner}</repeat></paramrepeat>"
    deep = f'<macro name="senv"><param name="name" value="Deep"/>{inner}</macro>'
    for refused in ([deep], ["ascna", "m1"], ["ascan", "m1", "0", "1", "2", "1e308x"]):
        with pytest.raises(tango.DevFailed) as caught:
            door.command_inout("RunMacro", refused)
        assert caught.value.args[0].reason in ("WrongParam", "ParameterError",
                                               "UnknownMacro"), caught.value
        assert list(door.Output) == output and list(door.Result) == result
    assert "nested more than 32 deep" in _desc(door, [deep])
    assert door.state() == DevState.ON
    # the next macro that starts has its own streams
    assert run_raw(ms, ["genv", "ScanDir"])["state"] == "finish"
    assert list(door.Output) == [f"ScanDir = {str(ms.data_dir)!r}"]


def _desc(door: tango.DeviceProxy, args: list[str]) -> str:
    with pytest.raises(tango.DevFailed) as caught:
        door.command_inout("RunMacro", args)
    return caught.value.args[0].desc
