"""Hypothesis-driven bad input against ONE real MacroServer device server.

Door.RunMacro gets command lines built from macro names, element names and arbitrary
tokens (unicode as a client's UTF-8 bytes, control characters, huge tokens, bracket and
quote soup, 1e308/-0/nan/inf); the MacroServer gets Environment writes of arbitrary JSON
and of non-JSON bytes. Every case must be answered by a clean DevFailed (a reason of ours
and a non-empty description) or by a run that ends (a macro still running after a
short while is aborted, with a bound). Afterwards the server process is alive, the door
is ON or ALARM (never stuck RUNNING) and the devices answer within 1 s.

Strings cross Tango as Latin-1 (PyTango refuses to send other characters), so arbitrary
unicode is sent the way a UTF-8 client sends it: its bytes, one Latin-1 character each.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import tango
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tango_helpers import small_config, start_macroserver, write_config

INSTANCE = "fuzz"
CONFIG = small_config("[-1000.0, 1000.0]", motors="[motors.m2]\nlimits = [-10.0, 10.0]\n\n",
                      c1="noise = 0.0\n")

#: Reasons a refused RunMacro / Environment write may carry (errors.py + Door/MacroServer).
KNOWN_REASONS = {
    "MacroServerError", "UnknownName", "UnknownMacro", "WrongParam", "MissingParam",
    "ConfigError", "EnvError", "MacroRunning", "WrongState",
    "ParameterError",  # Sardana's reason for a refused RunMacro XML (tango/door.py)
}
#: cppTango replaces the reason of a refused write of a DevEncoded attribute by this one
#: (WAttribute::rollback is not implemented for DevEncoded); SetEnvironment keeps ours.
ENCODED_WRITE_REFUSED = "API_NotSupportedFeature"

MACROS = ["ascan", "a2scan", "a3scan", "dscan", "d2scan", "mesh", "timescan", "ct", "mv",
          "mvr", "wa", "wm", "lsm", "lsmg", "lsmac", "lsenv", "senv", "usenv", "genv",
          "newfile"]
MAX_RUN = 0.3  # seconds a started macro may run before it is aborted
BASELINE = {"ActiveMntGrp": "mg", "JsonRecorder": False}


@pytest.fixture(scope="module")
def server(module_device_server, tango_db, tmp_path_factory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("fuzz-server")
    config = write_config(base, name="config.toml", text=CONFIG)
    process = start_macroserver(module_device_server, tango_db.tango_host, INSTANCE, base,
                                config).process
    ms = tango.DeviceProxy(f"macroserver/{INSTANCE}/1")
    door = tango.DeviceProxy(f"door/{INSTANCE}/1")
    for proxy in (ms, door):
        proxy.set_timeout_millis(3000)
    ms.command_inout("SetEnvironment", json.dumps(BASELINE))
    return {"process": process, "ms": ms, "door": door, "base": base,
            "stats": {"refused": 0, "ran": 0, "aborted": 0, "env_ok": 0, "env_refused": 0}}


# -- strategies -------------------------------------------------------------------------

def _as_utf8_latin1(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


latin1 = st.text(st.characters(max_codepoint=255), max_size=12)
unicode_bytes = st.text(max_size=8).map(_as_utf8_latin1)
control = st.text(st.characters(max_codepoint=31), min_size=1, max_size=4)
soup = st.text(alphabet="[]\"' \\\t{}()", min_size=1, max_size=10)
special_numbers = st.sampled_from([
    "1e308", "-1e308", "1e309", "-0", "0", "-0.0", "nan", "NaN", "inf", "-inf", "+inf",
    "1e-308", "5e-324", "0x10", "1_000", "9" * 400, "-" + "9" * 30, "1e", ".", "-",
    "100000001", "2147483648", "-2147483649", "1.5", "0.001", "True", "None",
])
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**12, 10**12).map(str),
    st.floats(0, 0.01).map(repr),
)
huge = st.sampled_from(["x" * 5000, "[" * 40, "]" * 40, "9" * 70000, "é" * 3000])
token = st.one_of(
    st.sampled_from(["m1", "m2", "t", "c1", "mg", "ScanDir", "ScanFile", "ActiveMntGrp",
                     "ScanID", "[", "]", "True", "False"]),
    numbers, special_numbers, latin1, unicode_bytes, control, soup,
    st.sampled_from(MACROS),
)
position = st.one_of(st.floats(-1200, 1200).map(lambda v: f"{v:.3g}"), special_numbers)
interval = st.one_of(st.integers(-2, 30).map(str), special_numbers)
small_time = st.one_of(st.floats(0, 0.005).map(lambda v: f"{v:.4f}"), st.just("0"),
                       special_numbers)
motor = st.sampled_from(["m1", "m2", "m1", "t", "nope"])
plausible = st.one_of(
    st.tuples(st.just("ascan"), motor, position, position, interval, small_time),
    st.tuples(st.just("dscan"), motor, position, position, interval, small_time),
    st.tuples(st.just("a2scan"), motor, position, position, motor, position, position,
              interval, small_time),
    st.tuples(st.just("mesh"), motor, position, position, interval, motor, position,
              position, interval, small_time, st.sampled_from(["True", "False", "x"])),
    st.tuples(st.just("timescan"), interval, small_time, small_time),
    st.tuples(st.just("ct"), small_time),
    st.tuples(st.sampled_from(["mv", "mvr"]), motor, position),
    st.tuples(st.just("mv"), st.just("["), motor, position, st.just("]"), st.just("["), motor,
              position, st.just("]")),
    st.tuples(st.just("senv"), st.sampled_from(["X", "ScanUser", "OutputCols", "ScanID",
                                                "RecorderTimeout", "ActiveMntGrp"]), token),
    st.tuples(st.sampled_from(["genv", "usenv"]), st.sampled_from(["X", "ScanUser", "Nope"])),
    st.tuples(st.sampled_from(["wa", "lsm", "lsenv", "lsmac", "lsmg"])),
).map(list)
command = st.one_of(plausible, st.tuples(
    st.one_of(st.sampled_from(MACROS), latin1, unicode_bytes, soup, huge),
    st.lists(st.one_of(token, huge.filter(lambda _: True)), max_size=9),
    st.booleans(),
).map(lambda t: [" ".join([t[0], *t[1]])] if t[2] else [t[0], *t[1]]))

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
              special_numbers),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=10), children, max_size=4)),
    max_leaves=12,
)
env_names = st.one_of(
    st.sampled_from(["ScanDir", "ScanFile", "ScanID", "ScanRecorder", "ActiveMntGrp",
                     "JsonRecorder", "OutputCols", "DataCompressionRank", "PreScanSnapshot",
                     "ScanUser", "RecorderTimeout", "CriticalRecorders", "__class__",
                     "__init__", "__globals__", "new", "change", "del", "a.b", "x/y"]),
    st.text(max_size=12),
)
env_documents = st.one_of(
    st.dictionaries(env_names, json_values, max_size=4),
    st.fixed_dictionaries({}, optional={
        "new": st.one_of(st.dictionaries(env_names, json_values, max_size=3), json_values),
        "change": st.one_of(st.dictionaries(env_names, json_values, max_size=3), json_values),
        "del": st.one_of(st.lists(env_names, max_size=3), json_values),
    }),
    json_values,
)
env_texts = st.one_of(
    env_documents.map(lambda d: json.dumps(d)),  # ASCII JSON, NaN/Infinity included
    env_documents.map(lambda d: json.dumps(d)[:-1]),  # truncated
    st.text(st.characters(max_codepoint=255), max_size=40),
    st.sampled_from(['{"a": ' * 3000, "[" * 100000, "", "null", "{}", '{"del": ["nope"]}',
                     '{"ScanID": 1e400}', '{"ScanID": -1}', '{"ScanID": 1' + "0" * 5000 + "}",
                     '{"a": "\\ud800"}', '{"ScanDir": "\\u0000"}', '{"\\u0000": 1}']),
)


# -- checks -----------------------------------------------------------------------------

def _clean_refusal(exc: tango.DevFailed, allowed: set[str], what: Any) -> None:
    error = exc.args[0]
    assert error.reason in allowed, (what, error.reason, error.desc)
    assert error.desc.strip(), (what, error.reason)


def _settle(door: tango.DeviceProxy, stats: dict[str, int]) -> None:
    """Wait briefly for a started macro; abort it if it runs longer; bounded."""
    deadline = time.monotonic() + MAX_RUN
    while door.state() in (tango.DevState.RUNNING, tango.DevState.STANDBY):
        if time.monotonic() > deadline:
            try:
                door.AbortMacro()
                stats["aborted"] += 1
            except tango.DevFailed as exc:  # it ended in between
                _clean_refusal(exc, {"WrongState"}, "AbortMacro")
            end = time.monotonic() + 10
            while door.state() in (tango.DevState.RUNNING, tango.DevState.STANDBY):
                assert time.monotonic() < end, f"abort did not end the macro: {door.status()}"
                time.sleep(0.01)
            break
        time.sleep(0.005)
    assert door.state() in (tango.DevState.ON, tango.DevState.ALARM), door.status()


def _check_alive(server: dict[str, Any]) -> None:
    assert server["process"].poll() is None, "the device server died"
    for proxy in (server["door"], server["ms"]):  # each answers within its 3 s timeout
        state = proxy.state()
        proxy.status()
    assert server["door"].state() in (tango.DevState.ON, tango.DevState.ALARM)
    assert server["ms"].state() == tango.DevState.ON, state
    json.loads(server["ms"].read_attribute("Environment").value[1])


# -- tests ------------------------------------------------------------------------------

def test_fuzz_run_macro(server) -> None:
    door, stats = server["door"], server["stats"]
    started = time.monotonic()

    @settings(max_examples=2000, deadline=None, database=None, derandomize=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much,
                                     HealthCheck.function_scoped_fixture])
    @given(args=command)
    def case(args: list[str]) -> None:
        try:
            door.RunMacro(args)
        except tango.DevFailed as exc:
            _clean_refusal(exc, KNOWN_REASONS, args)
            stats["refused"] += 1
            return
        stats["ran"] += 1
        _settle(door, stats)
        if door.state() == tango.DevState.ALARM:  # a clean failure, not a bug's traceback
            debug = "\n".join(door.read_attribute("Debug").value or ())
            assert "Traceback" not in debug, (args, door.status(), debug[-2000:])
        if stats["ran"] % 20 == 0:  # keep the environment usable for the next cases
            server["ms"].command_inout("SetEnvironment", json.dumps(BASELINE))

    case()
    elapsed = time.monotonic() - started
    print(f"\nRunMacro fuzz: {stats['refused']} refused, {stats['ran']} ran "
          f"({stats['aborted']} aborted) in {elapsed:.1f} s")
    assert stats["refused"] + stats["ran"] >= 2000
    _check_alive(server)


def test_fuzz_environment_writes(server) -> None:
    ms, stats = server["ms"], server["stats"]
    started = time.monotonic()

    @settings(max_examples=600, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(text=env_texts, raw=st.binary(max_size=64), fmt=st.sampled_from(
        ["utf8_json", "utf8_json", "json", "pickle", "", "\xff"]))
    def case(text: str, raw: bytes, fmt: str) -> None:
        before = ms.read_attribute("Environment").value[1]
        try:
            ms.command_inout("SetEnvironment", text)
            stats["env_ok"] += 1
        except tango.DevFailed as exc:
            _clean_refusal(exc, KNOWN_REASONS, text[:200])
            stats["env_refused"] += 1
            assert ms.read_attribute("Environment").value[1] == before, "refused but changed"
        # the Sardana way: the DevEncoded attribute, with arbitrary bytes
        for value in ((fmt, raw), ("utf8_json", text.encode("latin-1"))):
            before = ms.read_attribute("Environment").value[1]
            try:
                ms.write_attribute("Environment", value)
            except tango.DevFailed as exc:
                _clean_refusal(exc, KNOWN_REASONS | {ENCODED_WRITE_REFUSED}, value)
                assert ms.read_attribute("Environment").value[1] == before
        if stats["env_ok"] % 10 == 0:
            ms.command_inout("SetEnvironment", json.dumps(BASELINE))

    case()
    elapsed = time.monotonic() - started
    print(f"\nEnvironment fuzz: {stats['env_ok']} accepted, {stats['env_refused']} refused "
          f"(x3 writes each) in {elapsed:.1f} s")
    _check_alive(server)
    # a scan still runs after all that
    ms.command_inout("SetEnvironment", json.dumps(
        {"change": BASELINE, "del": [n for n in ("ScanDir", "ScanFile") if n in json.loads(
            ms.read_attribute("Environment").value[1])["new"]]}))
    server["door"].RunMacro(["ascan", "m1", "0", "1", "2", "0"])
    _settle(server["door"], stats)
    assert server["door"].state() == tango.DevState.ON, server["door"].status()
