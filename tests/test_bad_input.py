"""Bad input: one clear message naming the parameter and the value, and nothing moves.

Some checks happen while parsing (`MacroServerCore.parse`, so `MacroRunner.start`
refuses at once), others when the macro starts (limits, intervals, times); both must
leave every motor where it was and must not consume a ScanID.
"""

from __future__ import annotations

import re

import pytest
from collect import Collect, make_core
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from macroserver.engine.runner import MacroRunner
from macroserver.errors import (
    MacroServerError,
    MissingParam,
    ParamError,
    UnknownElement,
    UnknownMacro,
)
from macroserver.streams import Level


@pytest.fixture
def core(tmp_path):
    return make_core(tmp_path, config="demo")


def where(core) -> dict[str, float]:
    return {name: motor.position() for name, motor in core.pool.motors.items()}


def refusal(core, command: str) -> str:
    """The message with which `command` is refused (at parse time or when it starts)."""
    before, scan_id = where(core), core.env.get("ScanID")
    listener = Collect()
    runner = MacroRunner(core, listener)
    try:
        runner.start(command)
    except MacroServerError as exc:
        message = str(exc)
    else:
        outcome = runner.wait(10)
        assert outcome is not None and outcome.state == "exception", (
            f"{command!r} was not refused: {outcome}")
        message = outcome.error
        assert listener.text(Level.ERROR) == f"Error: {message}"
        assert not listener.messages[Level.DEBUG], "a bad input must not give a traceback"
    assert where(core) == before, f"{command!r} moved something"
    assert core.env.get("ScanID") == scan_id, f"{command!r} consumed a ScanID"
    return message


def test_unknown_macro_suggests_close_names(core):
    with pytest.raises(UnknownMacro) as caught:
        core.parse("ascn theta 0 1 5 0")
    message = str(caught.value)
    assert message.startswith("unknown macro 'ascn'; did you mean ")
    assert "ascan" in message
    assert refusal(core, "ascn theta 0 1 5 0") == message
    # nothing close: no suggestion
    assert refusal(core, "xyzzy") == "unknown macro 'xyzzy'"


def test_missing_parameter(core):
    with pytest.raises(MissingParam):
        core.parse("ascan theta 0 1 5")
    assert refusal(core, "ascan theta 0 1 5") == "parameter integ_time (Float) is missing"
    assert refusal(core, "ascan") == "parameter motor (Motor) is missing"
    assert refusal(core, "mv") == (
        "parameter motor_pos_list needs at least 1 repetition(s) of (motor pos), got 0")


def test_extra_parameter(core):
    assert refusal(core, "ascan theta 0 1 5 0 7") == "unexpected extra parameter(s): 7"
    assert refusal(core, "lsmg theta") == "unexpected extra parameter(s): theta"
    assert refusal(core, "mv theta 1 chi") == "unexpected extra parameter(s): chi"


@pytest.mark.parametrize("command, message", [
    ("ascan theta x 1 5 0",
     "parameter start_pos (Float): cannot use 'x': could not convert string to float: 'x'"),
    ("ascan theta 0 1 5.5 0",
     "parameter nr_interv (Integer): cannot use '5.5': '5.5' is not an integer"),
    ("ascan theta 0 1 five 0",
     "parameter nr_interv (Integer): cannot use 'five': could not convert string to float: "
     "'five'"),
    ("mesh theta 0 1 2 chi 0 1 2 0 maybe",
     "parameter bidirectional (Boolean): cannot use 'maybe': 'maybe' is not a boolean "
     "(true or false)"),
    ("mv [theta [1]]", "parameter pos expects one value, not a [ ] group"),
    ("mv [theta]",
     "parameter motor_pos_list: each repetition needs 2 value(s) (motor pos), got [theta]"),
])
def test_wrong_typed_parameter(core, command, message):
    with pytest.raises(ParamError):
        core.parse(command)
    assert refusal(core, command) == message


def test_unknown_element(core):
    with pytest.raises(UnknownElement):
        core.parse("ascan thet 0 1 5 0")
    assert refusal(core, "ascan thet 0 1 5 0") == "unknown motor 'thet'; did you mean theta?"
    assert refusal(core, "mv nosuchmotor 1") == "unknown motor 'nosuchmotor'"
    assert refusal(core, "senv ActiveMntGrp mg_dmeo") == (
        "ActiveMntGrp: unknown measurement group 'mg_dmeo'; did you mean mg_demo?")


@pytest.mark.parametrize("command, message", [
    ("ascan theta 0 20 5 0",
     "motor theta: position 20 is outside its limits [-10, 10]; nothing was moved"),
    ("ascan theta -11 0 5 0",
     "motor theta: position -11 is outside its limits [-10, 10]; nothing was moved"),
    ("a2scan theta 0 1 chi 0 91 5 0",
     "motor chi: position 91 is outside its limits [-90, 90]; nothing was moved"),
    ("dscan theta 0 30 2 0",
     "motor theta: position 30.5 is outside its limits [-10, 10]; nothing was moved"),
    ("mesh theta 0 1 2 chi 0 100 2 0",
     "motor chi: position 100 is outside its limits [-90, 90]; nothing was moved"),
    # mv checks every target before any motor starts: theta must not move either
    ("mv theta 1 chi 95",
     "motor chi: target 95 is outside its limits [-90, 90]; nothing was moved"),
    ("mvr theta 20", "motor theta: target 20.5 is outside its limits [-10, 10]; nothing was moved"),
])
def test_target_outside_limits_refused_before_moving(core, command, message):
    core.pool.motor("theta").start_move(0.5)
    assert refusal(core, command) == message
    assert core.pool.motor("theta").position() == 0.5


@pytest.mark.parametrize("command, message", [
    ("ascan theta 0 1 0 0", "parameter nr_interv must be at least 1, not 0"),
    ("ascan theta 0 1 -3 0", "parameter nr_interv must be at least 1, not -3"),
    ("a3scan theta 0 1 chi 0 1 phi 0 1 -1 0", "parameter nr_interv must be at least 1, not -1"),
    ("dscan theta 0 1 0 0", "parameter nr_interv must be at least 1, not 0"),
    ("mesh theta 0 1 0 chi 0 1 2 0", "parameter m1_nr_interv must be at least 1, not 0"),
    ("mesh theta 0 1 2 chi 0 1 -2 0", "parameter m2_nr_interv must be at least 1, not -2"),
    ("timescan 0 0", "parameter nr_interv must be at least 1, not 0"),
    ("ascan theta 0 1 5 -1",
     "parameter integ_time must be a finite time of 0 or more seconds, not -1.0"),
    ("timescan 2 0 -0.5",
     "parameter latency_time must be a finite time of 0 or more seconds, not -0.5"),
    ("ct -1", "parameter integ_time must be a finite time of 0 or more seconds, not -1.0"),
    ("ascan theta 0 1 1000000000 0", "parameter nr_interv must be at most 100000000, "
                                     "not 1000000000"),
    # issue 20 item 7: was "the ramp end nan is outside its limits (velocity 0 ...)"
    ("ascanct theta 0 1 10 1e308", "parameter integ_time must be at most 86400 s (one day), "
                                   "not 1e+308"),
    ("ascanct theta 0 1 10 0.1 1e308", "parameter latency_time must be at most 86400 s "
                                       "(one day), not 1e+308"),
])
def test_zero_or_negative_intervals_and_times(core, command, message):
    assert refusal(core, command) == message


@pytest.mark.parametrize("command, name, text", [
    ("ascan theta nan 1 5 0", "start_pos", "nan"),
    ("ascan theta 0 inf 5 0", "final_pos", "inf"),
    ("ascan theta 0 1 5 -inf", "integ_time", "-inf"),
    ("ascan theta 0 1 5 NaN", "integ_time", "NaN"),
    ("ct infinity", "integ_time", "infinity"),
    ("mv theta nan", "pos", "nan"),
    ("ascan theta 0 1 1e400 0", "nr_interv", "1e400"),
])
def test_non_finite_numbers(core, command, name, text):
    message = refusal(core, command)
    assert message.startswith(f"parameter {name} (")
    assert f"cannot use {text!r}" in message
    assert re.search(r"is not (a finite number|an integer)", message)


@pytest.mark.parametrize("command, message", [
    ('senv ScanFile "abc', "unterminated \" quote starting at column 15"),
    ("senv ScanFile 'abc", "unterminated ' quote starting at column 15"),
    ("mv [theta 1", "unbalanced '[': a group is not closed with ']'"),
    ("mv theta 1]", "unbalanced ']' at column 11"),
    ("mv [theta 1]] [chi 2]", "unbalanced ']' at column 13"),
    ("[ascan] theta", "a command must start with a macro name, not a [ ] group"),
    ("", "empty command: give a macro name and its parameters"),
    ("   ", "empty command: give a macro name and its parameters"),
    ("wa " + "[" * 2000 + "]" * 2000, "[ ] groups nested more than 32 deep at column 36"),
    ("ascan theta 0\x00 1 5 0", "command line contains a NUL character"),
])
def test_malformed_quotes_and_brackets(core, command, message):
    with pytest.raises(ParamError):
        core.parse(command)
    assert refusal(core, command) == message


def test_argument_list_form(core):
    """RunMacro's form: a list of words, `[`/`]` as separate items."""
    cls, values, line = core.parse(["mv", "[", "theta", "1", "]", "[", "chi", "2", "]"])
    assert cls.name == "mv" and [(m.name, p) for m, p in values[0]] == [("theta", 1), ("chi", 2)]
    with pytest.raises(ParamError, match=r"unbalanced '\[' in the argument list"):
        core.parse(["mv", "[", "theta", "1"])
    with pytest.raises(ParamError, match=r"unbalanced '\]' in the argument list"):
        core.parse(["mv", "theta", "1", "]"])
    with pytest.raises(ParamError, match="nested more than 32 deep"):
        core.parse(["wa", *["["] * 100, *["]"] * 100])


def test_repeat_group_forms_agree(core):
    flat = core.parse("mv theta 1 chi 2")[1]
    grouped = core.parse("mv [theta 1] [chi 2]")[1]
    nested = core.parse("mv [[theta 1] [chi 2]]")[1]
    assert flat == grouped == nested


def test_duplicate_motor(core):
    assert refusal(core, "a2scan theta 0 1 theta 0 1 2 0") == "motor theta is given more than once"
    assert refusal(core, "mv theta 1 theta 2") == "motor theta is given more than once"


# -- arbitrary command lines ---------------------------------------------------------------

MACROS = ["ascan", "a2scan", "a3scan", "dscan", "d2scan", "mesh", "timescan", "ct", "mv", "mvr",
          "wa", "wm", "senv", "usenv", "lsenv", "genv", "lsm", "lsmac", "lsmg", "newfile"]
SCANS = {"ascan", "a2scan", "a3scan", "dscan", "d2scan", "mesh", "timescan"}
# What may run: fast motors, no counting time, few points (checked on the bound values).
SAFE = SCANS | {"ct", "mv", "mvr", "wa", "wm", "senv", "usenv", "lsenv", "genv", "lsm",
                "lsmac", "lsmg"}
TIME_PARAMS = {"integ_time", "latency_time"}
INTERVAL_PARAMS = {"nr_interv", "m1_nr_interv", "m2_nr_interv"}

WORDS = st.one_of(
    st.sampled_from([
        "m1", "m2", "m3", "mx", "t", "c1", "mg", "0", "1", "-1", "2", "0.5", "-0.25", "3",
        "nan", "inf", "-inf", "1e400", "1e-400", "1e30", "True", "false", "None",
        "[", "]", "[[", "]]", "'", '"', "''", '""', "'a b'", '"[1, 2]"',
        "ScanID", "ScanDir", "ScanFile", "ActiveMntGrp", "OutputCols", "CriticalRecorders",
        "scans.dat", "x.h5", "data", "/", "..", "{1: 2}", "(1,", "__import__('os')",
    ]),
    st.integers(-3, 12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(st.characters(codec="utf-8"), max_size=6),
)
# Plausible values per parameter type, so that many lines parse and really run.
BY_TYPE = {
    "Motor": st.sampled_from(["m1", "m2", "m3", "m1", "mx"]),
    "Float": st.one_of(st.sampled_from(["0", "0", "1", "-1", "0.5", "99", "150", "nan"]),
                       st.floats(-120, 120).map(repr)),
    "Integer": st.sampled_from(["1", "2", "3", "5", "0", "-1", "2.0", "1e1"]),
    "Boolean": st.sampled_from(["True", "false", "1", "no"]),
    "String": st.one_of(WORDS, st.sampled_from(["5", "[1, 2]", "'x'", "m1"])),
    "Literal": st.one_of(WORDS, st.sampled_from(["5", "[1, 2]", "'x'", "m1", "['a.h5','b.dat']",
                                                 "[m1,c1]", "True", "[", "]", ","])),
    "Countable": st.sampled_from(["mg", "mg", "m1", "nosuch"]),
    "MacroClass": st.sampled_from(["ascan", "ct", "nosuch", "1x"]),
    "Env": st.sampled_from(["ScanID", "OutputCols", "ActiveMntGrp", "ScanFile", "ScanDir",
                            "CriticalRecorders", "PreScanSnapshot", "MyVar", "a.b", "1x"]),
}


@st.composite
def structured(draw):
    """A macro's own parameters with plausible values, then a few random edits."""
    from macroserver.macros.std import env, lists, motion, scan

    classes = {cls.name: cls for module in (env, lists, motion, scan)
               for cls in vars(module).values()
               if isinstance(cls, type) and getattr(cls, "name", "") in MACROS}
    name = draw(st.sampled_from(sorted(classes)))
    words: list[str] = []
    for param in classes[name].params:
        if hasattr(param, "params"):  # a repeat group, flat or in brackets
            bracket = draw(st.booleans())
            for _ in range(draw(st.integers(0, 3))):
                group = [draw(BY_TYPE[p.type.name]) for p in param.params]
                words += ["[", *group, "]"] if bracket else group
        elif param.required or draw(st.booleans()):
            words.append(draw(BY_TYPE[param.type.name]))
    for _ in range(draw(st.integers(0, 2))):
        edit = draw(st.sampled_from(["insert", "delete", "replace"]))
        spot = draw(st.integers(0, len(words)))
        if edit == "insert":
            words.insert(spot, draw(WORDS))
        elif words and spot < len(words):
            if edit == "delete":
                del words[spot]
            else:
                words[spot] = draw(WORDS)
    return name, words, " "


COMMANDS = st.one_of(
    st.tuples(
        st.sampled_from(MACROS + ["ascn", "ASCAN", "mv2", "[", "'ascan'"]),
        st.lists(WORDS, max_size=11),
        st.sampled_from([" ", "  ", "\t", ""]),
    ),
    structured(),
)


def _safe_to_run(cls, values) -> bool:
    if cls.name not in SAFE:
        return False
    named = {p.name: v for p, v in zip(cls.params, values) if not hasattr(p, "params")}
    if any(named.get(name, 0) != 0 for name in TIME_PARAMS):
        return False  # counting time: might take long (ct's default is 1 s)
    points = 1
    for name in INTERVAL_PARAMS & named.keys():
        points *= max(1, named[name] + 1)
    return points <= 200


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(command=COMMANDS, as_list=st.booleans())
def test_arbitrary_command_lines(tmp_path, command, as_list):
    core = _arbitrary_core(tmp_path)
    name, words, separator = command
    text = separator.join([name, *words]) if separator else " ".join([name, *words])
    line = [name, *words] if as_list else text
    try:
        cls, values, _ = core.parse(line)
    except MacroServerError as exc:
        assert str(exc), "an error needs a message"
        event("refused by the parser")
        return
    if not _safe_to_run(cls, values):
        event("parsed, not run")
        return
    listener = Collect()
    runner = MacroRunner(core, listener)
    try:
        runner.start(line)
    except MacroServerError:
        pytest.fail(f"{line!r} parsed but start refused it")
    outcome = runner.wait(20)
    assert outcome is not None, f"{line!r} did not end in 20 s"
    assert outcome.state in ("finish", "exception"), outcome
    # only a MacroServerError ends a macro without a traceback on the Debug stream
    # (a recorder that held a fast scan back says so at DEBUG: a matter of load, not input)
    tracebacks = [m for m in listener.messages[Level.DEBUG] if "held the scan back" not in m]
    assert not tracebacks, (line, outcome.error, listener.messages)
    assert not [e for e in listener.errors
                if re.search(r"recorder \S+ (failed|could not|did not)", e)], listener.errors
    event(f"ran: {outcome.state}")
    if outcome.state == "exception":
        assert listener.errors == [f"Error: {outcome.error}"]


_CORES: dict[str, object] = {}


def _arbitrary_core(tmp_path):
    """One fast server per test run (hypothesis calls the test body many times)."""
    key = str(tmp_path)
    if key not in _CORES:
        _CORES.clear()
        _CORES[key] = make_core(tmp_path)
    return _CORES[key]
