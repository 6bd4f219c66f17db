"""Limits on what a client may send (issue 13, items 8, 9 and 11), in-process.

Each limit is refused with a message naming the variable or parameter and the bound,
and nothing is stored, moved or written. The same limits through Tango are in
tests/test_unicode_and_limits_tango.py.
"""

from __future__ import annotations

import json

import pytest
from collect import make_core, run

from macroserver.datafiles import MAX_NAME, MAX_SCAN_FILE_NAME
from macroserver.engine.envcheck import MAX_ENV_BYTES, MAX_VALUE_BYTES
from macroserver.errors import EnvError, ParamError


@pytest.fixture
def core(tmp_path):
    return make_core(tmp_path, env={"ScanDir": str(tmp_path / "data")})


def stored(tmp_path) -> dict:
    return json.loads((tmp_path / "state" / "environment.json").read_text())["env"]


# -- item 8: the size of environment values and of the whole environment ----------------


def test_an_environment_value_larger_than_the_bound_is_refused(core, tmp_path):
    big = "x" * (MAX_VALUE_BYTES + 1)
    with pytest.raises(EnvError, match=f"value of Big is {MAX_VALUE_BYTES + 3:,} bytes as JSON; "
                                       f"an environment value may hold at most "
                                       f"{MAX_VALUE_BYTES:,}"):
        core.env.update({"Big": big})
    assert "Big" not in core.env and "Big" not in stored(tmp_path)
    # multi-byte text counts in bytes (what is written and sent), not characters
    with pytest.raises(EnvError, match="value of Wide is"):
        core.env.update({"Wide": "ü" * (MAX_VALUE_BYTES // 2 + 1)})
    core.env.update({"Fits": "x" * (MAX_VALUE_BYTES - 2)})  # just under: kept
    assert len(stored(tmp_path)["Fits"]) == MAX_VALUE_BYTES - 2


def test_the_whole_environment_is_bounded_and_usenv_makes_room(core, tmp_path):
    chunk = "y" * (MAX_VALUE_BYTES - 100)
    count = MAX_ENV_BYTES // MAX_VALUE_BYTES
    for index in range(count):
        core.env.update({f"Part{index}": chunk})
    with pytest.raises(EnvError, match=f"more than {MAX_ENV_BYTES:,}; remove variables"):
        core.env.update({f"Part{count}": chunk})
    assert f"Part{count}" not in stored(tmp_path)
    # replacing a value by a smaller one, and removing one, still work
    core.env.update({"Part0": "small"})
    outcome, out = run(core, "usenv Part1")
    assert outcome.state == "finish", out.errors
    core.env.update({f"Part{count}": chunk})
    assert f"Part{count}" in stored(tmp_path)
    assert run(core, "ascan m1 0 1 2 0")[0].state == "finish"  # scans go on


def test_the_size_kept_between_changes_is_never_below_the_real_one(core):
    """The whole environment is serialized only when a change could pass the limit: the
    bound kept between changes (set, replace, remove, in any order) stays above the real
    size, so the limit above is never missed."""
    from macroserver.engine.envcheck import _json_size

    rng = __import__("random").Random(7)
    for step in range(300):
        name = f"V{rng.randrange(12)}"
        if rng.random() < 0.2 and name in core.env:
            core.env.unset(name)
        else:
            core.env.update({name: "z" * rng.randrange(2000) if step % 2 else [step, "ü"]})
        values, bound = core.env._sized
        assert values is core.env.current() and bound >= _json_size(dict(values)), step


# -- item 9: ScanFile entries, integration time and latency -----------------------------


@pytest.mark.parametrize("value, message", [
    (["a.dat", "a.dat"], "ScanFile lists 'a.dat' twice"),
    (["a.dat", "a.spec"], "ScanFile lists 'a.spec' with 'a.dat' (same stem 'a')"),
    (["a.h5", "b.dat", "a.nxs"], "ScanFile lists 'a.nxs' with 'a.h5' (same stem 'a')"),
    ("n" * (MAX_SCAN_FILE_NAME - 3) + ".dat",
     f"is {MAX_SCAN_FILE_NAME + 1} bytes long; at most {MAX_SCAN_FILE_NAME}"),
    ("é" * 60 + ".dat", f"is 124 bytes long; at most {MAX_SCAN_FILE_NAME}"),
])
def test_scan_file_entries_that_would_collide_or_overflow_are_refused(core, tmp_path, value,
                                                                      message):
    before = core.env.get("ScanFile")
    with pytest.raises(EnvError, match=message.replace("(", r"\(").replace(")", r"\)")):
        core.env.update({"ScanFile": value})
    assert core.env.get("ScanFile") == before
    assert "ScanFile" not in stored(tmp_path) or stored(tmp_path)["ScanFile"] == before


def test_one_stem_for_different_writers_is_the_usual_pair(core, tmp_path):
    core.env.update({"ScanFile": ["a.h5", "a.dat"]})  # NeXus + SPEC: no name in common
    outcome, out = run(core, "ascan m1 0 1 2 0")
    assert outcome.state == "finish" and not out.errors, out.errors
    assert (tmp_path / "data" / "a.h5").exists() and (tmp_path / "data" / "a.dat").exists()


def test_the_longest_scan_file_keeps_every_derived_name_under_the_limit(core, tmp_path):
    """A ScanFile at the bound: the scan writes its SPEC file and the EDF images of a 2D
    channel; the longest name the recorders derive stays within the file system's."""
    core = make_core(tmp_path, config="demo", env={"ScanDir": str(tmp_path / "data")})
    name = "s" * (MAX_SCAN_FILE_NAME - 4) + ".dat"
    core.env.update({"ScanFile": [name], "ScanID": 10**9})
    outcome, out = run(core, "ascan theta 0 1 1 0", timeout=60)
    assert outcome.state == "finish", out.errors
    assert not out.errors, out.errors
    written = [p.name for p in (tmp_path / "data").rglob("*")]
    assert any(p.endswith(".edf") for p in written), written
    assert max(len(p.encode()) for p in written) <= MAX_NAME - len(".part") - 1


@pytest.mark.parametrize("command, message", [
    ("ascan m1 0 1 2 1e308", ("parameter integ_time must be at most 86400 s (one day), "
                              "not 1e+308")),
    ("ct 1e6", "parameter integ_time must be at most 86400 s (one day), not 1e+06"),
    ("timescan 2 0 1e308", ("parameter latency_time must be at most 86400 s (one day), "
                            "not 1e+308")),
    ("mesh m1 0 1 1 m2 0 1 1 90000", "parameter integ_time must be at most 86400 s"),
])
def test_integration_time_and_latency_are_bounded(core, command, message):
    scan_id = core.env.get("ScanID")
    outcome, _ = run(core, command, timeout=10)
    assert outcome.state == "exception"
    assert message in outcome.error
    assert core.env.get("ScanID") == scan_id
    assert run(core, "ascan m1 0 1 2 0")[0].state == "finish"


def test_recorder_timeout_bound_unchanged(core):
    with pytest.raises(EnvError, match="RecorderTimeout must be at most 86400 s"):
        core.env.update({"RecorderTimeout": 1e308})


# -- item 11: XML nesting -----------------------------------------------------------------


def nested_xml(depth: int) -> str:
    inner = '<param name="value" value="x"/>'
    for _ in range(depth):
        inner = f"<paramrepeat><repeat>{inner}</repeat></paramrepeat>"
    return f'<macro name="senv"><param name="name" value="Deep"/>{inner}</macro>'


@pytest.mark.parametrize("depth", [40, 1400])  # 1400: within MAX_LINE, beyond Python's stack
def test_deeply_nested_xml_is_refused_without_recursion_error(core, depth):
    with pytest.raises(ParamError, match="<paramrepeat> nested more than 32 deep"):
        core.parse([nested_xml(depth)])
    core.parse([nested_xml(3)])  # a shallow nesting parses
