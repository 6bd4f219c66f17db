"""The environment store: typed literals, no code execution, atomic persistence, ScanID."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from collect import FAST_CONFIG, make_core, run

from macroserver.config import build_config
from macroserver.engine.core import MacroServerCore
from macroserver.env import Environment, default_env_path, parse_value
from macroserver.errors import EnvError, MacroServerError
from macroserver.streams import Level


@pytest.mark.parametrize("text, value", [
    ("1", 1), ("-2", -2), ("1.5", 1.5), ("1e3", 1000.0), ("'abc'", "abc"), ('"a b"', "a b"),
    ("[1, 'x', 2.5]", [1, "x", 2.5]), ("(1, 2)", (1, 2)), ("{'a': [1]}", {"a": [1]}),
    ("True", True), ("true", True), ("FALSE", False), ("None", None),
    ("abc", "abc"), ("/data/sample1", "/data/sample1"), ("scans.h5", "scans.h5"),
    ("1 +", "1 +"), ("nan", "nan"), ("[1, 2", "[1, 2"),
    ("__import__('os').getcwd()", "__import__('os').getcwd()"),
    ("[" * 300 + "]" * 300, "[" * 300 + "]" * 300),  # too deep: kept as text
])
def test_literal_parsing(text, value):
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_senv_stores_typed_values(tmp_path):
    core = make_core(tmp_path)
    for command, name, value in [
        ("senv MyInt 5", "MyInt", 5),
        ("senv MyList [1,2,3]", "MyList", [1, 2, 3]),  # a [ ] group holding "1,2,3"
        ("senv MyTuple '(1, 2)'", "MyTuple", [1, 2]),  # kept as the JSON file keeps it
        ("senv MyWords a b 3", "MyWords", ["a", "b", 3]),
        ("senv MyText 'hello world'", "MyText", "hello world"),
        ("senv MyBool true", "MyBool", True),
        ("senv MyDict \"{'k': 1.5}\"", "MyDict", {"k": 1.5}),
        # list literals typed as users type them (README: senv ScanFile ['a.h5','b.dat'])
        ("senv Files ['s.h5','s.dat']", "Files", ["s.h5", "s.dat"]),
        ("senv Files ['s.h5', 's.dat']", "Files", ["s.h5", "s.dat"]),
        ("senv Cols [theta,value]", "Cols", ["theta", "value"]),
        ("senv Nested [1, [2, 3], 'a b']", "Nested", [1, [2, 3], "a b"]),
        ("senv Quoted \"['s.h5', 's.dat']\"", "Quoted", ["s.h5", "s.dat"]),
    ]:
        outcome, out = run(core, command)
        assert outcome.state == "finish", out.errors
        assert core.env.get(name) == value
        assert out.output == [f"{name} = {value!r}"]
    # the file holds the same typed values
    stored = json.loads((tmp_path / "state" / "environment.json").read_text())["env"]
    assert stored["MyList"] == [1, 2, 3] and stored["MyDict"] == {"k": 1.5}
    assert stored["MyBool"] is True
    outcome, out = run(core, "senv Big 1e999")
    assert outcome.state == "exception"
    assert outcome.error == "value of Big must be a finite number, not inf"
    outcome, out = run(core, "senv Keys \"{1: 2}\"")
    assert outcome.error == "value of Keys: dictionary keys must be strings, not 1"
    with pytest.raises(MacroServerError, match="'1abc' is not a valid environment variable"):
        core.parse("senv 1abc 3")


def test_usenv_and_genv(tmp_path):
    core = make_core(tmp_path)
    run(core, "senv A 1")
    run(core, "senv B 2")
    outcome, out = run(core, "genv A")
    assert outcome.result == "1" and out.output == ["A = 1"]
    outcome, _ = run(core, "usenv A A B")  # a name given twice is removed once
    assert outcome.state == "finish"
    assert "A" not in core.env and "B" not in core.env
    outcome, _ = run(core, "usenv A")
    assert outcome.error == "environment variable 'A' is not defined"
    outcome, _ = run(core, "genv A")
    assert outcome.error == "environment variable 'A' is not defined"
    outcome, out = run(core, "lsenv")
    assert out.output[0].split() == ["Name", "Value", "Type"]
    assert any(line.split()[:1] == ["ActiveMntGrp"] for line in out.output)


@pytest.mark.parametrize("form", ["text", "quoted", "args"])
def test_senv_never_executes_code(tmp_path, form):
    marker = tmp_path / "p"
    code = f"__import__('os').system('touch {marker}')"
    core = make_core(tmp_path)
    if form == "text":
        command = f"senv X {code}"
    elif form == "quoted":
        command = f'senv X "{code}"'
    else:
        command = ["senv", "X", code]
    cls, values, _ = core.parse(command)
    from collect import Collect

    from macroserver.engine.runner import MacroRunner

    runner = MacroRunner(core, Collect())
    runner.start(command)
    outcome = runner.wait(10)
    assert outcome.state == "finish"
    time.sleep(0.1)
    assert not marker.exists(), "senv executed code"
    value = core.env.get("X")
    if form == "text":
        # the tokenizer splits at the quotes; every part is kept as text
        assert isinstance(value, list) and all(isinstance(v, str) for v in value)
        assert "".join(value).replace(" ", "") == code.replace("'", "").replace(" ", "")
    else:
        assert value == code
    # and reading it back from the file executes nothing either
    Environment(tmp_path / "state" / "environment.json")
    assert not marker.exists()


WRITER = textwrap.dedent('''
    import sys
    from pathlib import Path
    from macroserver.env import Environment

    env = Environment(Path(sys.argv[1]))
    n = env.get("n", 0)
    print("ready", flush=True)
    while True:
        n += 1
        # several variables that must always agree with each other
        env.update({"n": n, "copy": n, "pad": "x" * (n % 5000), "list": list(range(n % 300))})
''')


def test_survives_sigkill_while_writing(tmp_path):
    path = tmp_path / "state" / "environment.json"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = random.Random(1234)
    last = 0
    for _ in range(6):
        process = subprocess.Popen([sys.executable, str(script), str(path)],
                                   stdout=subprocess.PIPE, text=True)
        try:
            assert process.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.05, 0.3))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        env = Environment(path)  # always loads: either the old or the new version
        n = env.get("n")
        assert isinstance(n, int) and n >= last, (n, last)
        assert env.get("copy") == n
        assert env.get("pad") == "x" * (n % 5000)
        assert env.get("list") == list(range(n % 300))
        last = n
    assert last > 6, "the writers did not write much"
    assert not list(path.parent.glob("*.damaged-*"))


def test_corrupted_file_is_kept_aside_and_reported(tmp_path):
    path = tmp_path / "environment.json"
    for damaged in (b'{"version": 1, "env": {"ScanID": 4', b"\x00\xff garbage",
                    b'{"version": 99, "env": {}}', b"[1, 2]", b""):
        for old in tmp_path.glob("*.damaged-*"):
            old.unlink()
        path.write_bytes(damaged)
        with pytest.raises(EnvError) as caught:
            Environment(path)
        message = str(caught.value)
        copies = list(tmp_path.glob("environment.json.damaged-*"))
        assert len(copies) == 1
        assert copies[0].read_bytes() == damaged
        assert path.read_bytes() == damaged, "the damaged file was replaced"
        assert f"environment file {path} is damaged" in message
        assert f"a copy was kept as {copies[0]}" in message


def test_corrupted_file_refused_by_local_runner(tmp_path):
    path = tmp_path / "env.json"
    path.write_text("{not json")
    result = subprocess.run(
        [sys.executable, "-m", "macroserver.cli.admin", "run", "--env", str(path), "wa"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 4
    assert "is damaged" in result.stderr
    assert path.read_text() == "{not json"


def test_scan_id_increments_and_is_never_reused(tmp_path):
    core = make_core(tmp_path)
    assert core.env.get("ScanID") is None
    outcome, out = run(core, "ascan m1 0 1 2 0")
    assert outcome.state == "finish"
    assert core.env.get("ScanID") == 1
    assert "Scan #1 started at" in out.output[0]
    # a failing scan still used its number
    core.pool.motors["m1"].start_move(0)
    from macroserver.elements.base import MeasurementGroup
    from macroserver.records import Role

    class Broken:
        name = label = "broken"
        kind, shape, dtype, unit = Role.COUNTER, (), "float64", ""

        def start(self, t): pass
        def wait(self, timeout): return True
        def stop(self): pass
        def read(self): raise OSError("gone")

    core.pool.channels["broken"] = Broken()
    core.pool.measurement_groups["mgb"] = MeasurementGroup("mgb", [Broken()], "broken")
    core.env.update({"ActiveMntGrp": "mgb"})
    outcome, _ = run(core, "ascan m1 0 1 2 0")
    assert outcome.state == "exception"
    assert core.env.get("ScanID") == 2
    core.env.update({"ActiveMntGrp": "mg"})
    run(core, "timescan 1 0")
    assert core.env.get("ScanID") == 3
    history = core.env.get("ScanHistory")
    assert [h["serialno"] for h in history] == [1, 2, 3]
    assert [h["endstatus"] for h in history] == ["done", "failed", "done"]

    # a restart: a new server on the same file continues the numbering
    restarted = MacroServerCore(build_config(FAST_CONFIG),
                                Environment(tmp_path / "state" / "environment.json"),
                                extra_data_roots=[tmp_path / "data"])
    assert restarted.env.get("ScanID") == 3
    outcome, out = run(restarted, "ascan m1 0 1 1 0")
    assert outcome.state == "finish"
    assert restarted.env.get("ScanID") == 4
    assert any(line.startswith("Scan #4 started at") for line in out.output)


def test_an_unsynced_change_is_in_the_file_at_once_and_synced_later(tmp_path):
    """`sync=False` (a scan's ScanID): in the file at once (a killed process leaves it
    there), synced by `write_pending` without writing it again; a file that cannot be
    written is an EnvError naming it and the reason, and nothing changes."""
    path = tmp_path / "e.json"
    env = Environment(path)
    env.update({"ScanID": 1})
    env.update({"ScanID": 2}, sync=False)
    assert Environment(path).get("ScanID") == 2
    written = path.stat().st_mtime_ns, path.stat().st_ino
    env.write_pending()  # only the fsyncs: the same file
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == written
    path.unlink()
    path.mkdir()  # fails for root too
    with pytest.raises(EnvError, match=f"cannot write the environment file {path}: "
                                       "Is a directory"):
        env.update({"ScanID": 3}, sync=False)
    assert env.get("ScanID") == 2
    path.rmdir()
    env.update({"ScanID": 3}, sync=False)
    assert Environment(path).get("ScanID") == 3


def test_a_change_written_later_is_in_the_file_before_the_scan_s_files(tmp_path):
    """A change made with `write=False` is in memory at once and written (two fsyncs)
    by whichever comes first: the start of a file recorder, before it creates a file
    named with it, or any later write. Readers see it at once; the file gets it before
    any data file."""
    path = tmp_path / "e.json"
    env = Environment(path)
    env.update({"ScanID": 1})
    env.update({"ScanID": 2}, write=False)
    assert env.get("ScanID") == 2 and env.snapshot()["ScanID"] == 2
    assert Environment(path).get("ScanID") == 1
    env.write_pending()
    assert Environment(path).get("ScanID") == 2
    env.update({"ScanID": 3}, write=False)
    env.update({"Other": "x"})  # a later write holds the pending change too
    assert Environment(path).get("ScanID") == 3
    written = path.stat().st_mtime_ns
    env.write_pending()  # nothing left to write
    assert path.stat().st_mtime_ns == written

    folder = tmp_path / "recorders"  # a file recorder that looks at the file as it starts
    folder.mkdir()
    (folder / "idcheck.py").write_text(textwrap.dedent(f"""
        from pathlib import Path

        from macroserver.env import Environment
        from macroserver.recorders import Recorder

        class IdCheck(Recorder):
            name = "idcheck"
            extensions = (".idc",)
            seen = []

            def destination(self, info):
                return []

            def start(self, info):
                stored = Environment(Path({str(tmp_path / "state" / "environment.json")!r}))
                self.seen.append((info.scan_id, stored.get("ScanID")))
        """))
    core = make_core(tmp_path, recorder_path=[folder],
                     env={"ScanDir": str(tmp_path / "data"), "ScanFile": ["s.idc"]})
    for _ in range(2):
        assert run(core, "ascan m1 0 1 2 0")[0].state == "finish"
    assert core.recorders.by_name("idcheck").seen == [(1, 1), (2, 2)]


def test_scan_id_set_by_newfile(tmp_path):
    core = make_core(tmp_path)
    outcome, out = run(core, "newfile [s1/a.dat] 41")
    assert outcome.state == "finish", out.errors
    assert out.output[-1] == "Next scan is\t: #42"  # Sardana's layout
    run(core, "ascan m1 0 1 1 0")
    assert core.env.get("ScanID") == 42
    assert (tmp_path / "data" / "s1" / "a.dat").exists()


@pytest.mark.parametrize("command, message", [
    ("senv ScanDir /", "ScanDir '/' (resolved to /) is outside the data roots"),
    ("senv ScanDir ../x", "ScanDir '../x' may not contain '..'"),
    ("senv ScanDir 5", "ScanDir must be a folder name, not 5"),
    ("senv ScanFile a/b.dat", "ScanFile 'a/b.dat' must be a plain file name; put folders in "
                              "ScanDir"),
    ("senv ScanFile 3", "ScanFile must be a file name or a list of file names, not 3"),
    ("senv ScanFile a.dat b.nope", "no recorder writes .nope files such as 'b.nope'"),
    ("senv ScanFile noext", "no recorder writes extension-less files such as 'noext'"),
    ("senv ActiveMntGrp nosuch", "ActiveMntGrp: unknown measurement group 'nosuch'"),
    ("senv ActiveMntGrp 3", "ActiveMntGrp must be a measurement group name, not 3"),
    ("senv OutputCols 0", "OutputCols must be a positive number or a list of column names, "
                          "not 0"),
    ("senv OutputCols -2", "OutputCols must be a positive number"),
    ("senv OutputCols 1.5", "OutputCols must be a positive number"),
    ("senv OutputCols True", "OutputCols must be a positive number"),
    ("senv ScanID -1", "ScanID must be a non-negative integer, not -1"),
    ("senv ScanID x", "ScanID must be a non-negative integer, not 'x'"),
    ("senv JsonRecorder yes", "JsonRecorder must be True or False, not 'yes'"),
    ("senv RecorderTimeout 0", "RecorderTimeout must be a positive number of seconds, not 0"),
    ("senv PreScanSnapshot m1 nosuch",
     "PreScanSnapshot: 'nosuch' is not a motor, a Tango attribute"),
    ("senv PreScanSnapshot m1", "PreScanSnapshot must be a list of motor names, Tango "
     "attributes or environment variable names, not 'm1'"),
])
def test_senv_validation(tmp_path, command, message):
    core = make_core(tmp_path)
    before = core.env.snapshot()
    outcome, out = run(core, command)
    assert outcome.state == "exception"
    assert message in outcome.error, outcome.error
    assert core.env.snapshot() == before, "a refused value was stored"


@pytest.mark.parametrize("command, name, value", [
    ("senv ScanDir sample1", "ScanDir", "sample1"),
    ("senv ScanFile a.dat b.h5", "ScanFile", ["a.dat", "b.h5"]),
    ("senv ActiveMntGrp mg", "ActiveMntGrp", "mg"),
    ("senv OutputCols 3", "OutputCols", 3),
    ("senv OutputCols \"['m1', 'c1']\"", "OutputCols", ["m1", "c1"]),
    ("senv PreScanSnapshot m1 m2", "PreScanSnapshot", ["m1", "m2"]),
    ("senv OutputCols m1 c2", "OutputCols", ["m1", "c2"]),
])
def test_senv_accepts_valid_values(tmp_path, command, name, value):
    core = make_core(tmp_path)
    outcome, out = run(core, command)
    assert outcome.state == "finish", out.errors
    assert core.env.get(name) == value


def test_scan_dir_absolute_inside_root(tmp_path):
    core = make_core(tmp_path)
    inside = tmp_path / "data" / "deep" / "er"
    outcome, _ = run(core, f"senv ScanDir {inside}")
    assert outcome.state == "finish"
    # a symlink inside the root that points outside is refused
    (tmp_path / "data" / "link").symlink_to(tmp_path)
    outcome, _ = run(core, f"senv ScanDir {tmp_path / 'data' / 'link'}")
    assert outcome.state == "exception" and "outside the data roots" in outcome.error


def test_default_path_is_a_state_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "st"))
    assert default_env_path("local") == tmp_path / "st" / "tango-macroserver" / "local" / (
        "environment.json")
    monkeypatch.delenv("XDG_STATE_HOME")
    path = default_env_path("door1")
    assert str(path).startswith(str(Path.home()))
    assert path.parts[-3:] == ("tango-macroserver", "door1", "environment.json")


def test_environment_events(tmp_path):
    env = Environment(tmp_path / "e.json")
    seen = []
    env.subscribe(lambda changed, removed: seen.append((changed, removed)))
    env.update({"A": 1, "B": [2]})
    env.update({}, ["A"])
    assert seen == [({"A": 1, "B": [2]}, []), ({}, ["A"])]
    # an in-memory environment (no file) works too
    memory = Environment(None)
    memory.update({"X": 1})
    assert memory.get("X") == 1
    assert os.listdir(tmp_path) == ["e.json"]


def test_read_modify_writes_from_several_doors_lose_nothing(tmp_path):
    """ScanHistory and ScanID are read, changed and written back at the end and start of
    every scan; 4 threads (doors) doing it at once must not lose one another's writes,
    in memory or in the file."""
    import threading

    env = make_core(tmp_path).env
    path = env.store.path
    assert path is not None
    rounds, doors = 60, 4
    ids: list[int] = []
    start = threading.Barrier(doors)

    def door(name: str) -> None:
        start.wait()
        for i in range(rounds):
            env.modify("ScanHistory", lambda history: [*(history or []), f"{name}-{i}"])
            ids.append(env.next_scan_id())

    threads = [threading.Thread(target=door, args=(f"door{n}",)) for n in range(doors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for stored in (env, Environment(path)):
        assert len(stored.get("ScanHistory")) == rounds * doors
        assert stored.get("ScanID") == rounds * doors
    assert sorted(ids) == list(range(1, rounds * doors + 1))


MACRO_WRITING_ENV = """
from macroserver.macros import STRING, Macro, Param


class putenv(Macro):
    \"\"\"Set a variable through the macro's own environment.\"\"\"

    params = [Param("name", STRING), Param("value", STRING)]

    def run(self, name, value):
        self.env.set(name, value)
"""


def test_a_macro_cannot_store_what_senv_refuses(tmp_path):
    """self.env is the same checked path as senv: a ScanDir outside the data roots, an
    unknown measurement group or a bad ScanID are refused with senv's message."""
    macros = tmp_path / "macros"
    macros.mkdir()
    (macros / "putenv.py").write_text(MACRO_WRITING_ENV)
    core = make_core(tmp_path)
    core = MacroServerCore(core.config, core.env.store, extra_data_roots=[tmp_path / "data"],
                           extra_macro_path=[macros])
    outside = tmp_path / "elsewhere"
    for name, value, message in (
        ("ScanDir", str(outside), "is outside the data roots"),
        ("ActiveMntGrp", "nosuch", "unknown measurement group 'nosuch'"),
        ("ScanFile", "a/../../b.dat", "must be a plain file name"),
    ):
        refused_by_senv, _ = run(core, f"senv {name} {value}")
        refused_by_macro, _ = run(core, f"putenv {name} {value}")
        assert refused_by_macro.state == refused_by_senv.state == "exception", name
        assert message in refused_by_macro.error, refused_by_macro.error
        assert refused_by_macro.error == refused_by_senv.error
        assert core.env.get(name) != value
    assert run(core, "putenv Free text")[0].state == "finish"
    assert core.env.get("Free") == "text"


def test_a_group_left_from_another_configuration_names_the_environment_file(tmp_path):
    """A stored ActiveMntGrp this configuration lacks (written by a session with another
    configuration): a facility server refuses the scan saying where the value is stored
    and how to change or clear it; a personal system counts with the first group."""
    path = tmp_path / "state" / "environment.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"version": 1, "env": {"ActiveMntGrp": "mg_demo"}}))
    hint = (f"ActiveMntGrp comes from the environment file {path}: `senv ActiveMntGrp "
            "VALUE` changes it, `usenv ActiveMntGrp` clears it, `macroserver run --env "
            "FILE` starts from another file")
    for personal in (False, True):
        core = MacroServerCore(build_config(FAST_CONFIG), Environment(path),
                               extra_data_roots=[tmp_path], scan_dir_fallback=personal)
        outcome, out = run(core, "ascan m1 0 1 1 0")
        problem = ("ActiveMntGrp 'mg_demo' is no measurement group of this configuration "
                   "(it has: mg)")
        if personal:
            assert outcome.state == "finish", out.errors
            assert f"{problem}; this scan uses mg ({hint})" in out.text(Level.WARNING).split("\n")
        else:
            assert outcome.state == "exception"
            assert out.errors == [f"Error: {problem}; {hint}"]
        assert core.env.get("ActiveMntGrp") == "mg_demo"  # left as stored


def test_a_new_environment_publishes_points_an_existing_one_is_left_alone(tmp_path):
    """docs/web.md: a new environment starts with JsonRecorder True (written with its
    first change); an environment file that exists keeps what it has."""
    from macroserver.config import build_config
    from macroserver.engine.core import MacroServerCore
    from macroserver.env import Environment

    path = tmp_path / "environment.json"

    def core() -> MacroServerCore:
        return MacroServerCore(build_config(FAST_CONFIG), Environment(path))

    fresh = core()
    assert fresh.env.get("JsonRecorder") is True and not path.exists()
    fresh.env.update({"ScanID": 4})
    assert json.loads(path.read_text())["env"] == {"JsonRecorder": True, "ScanID": 4}
    fresh.env.update({"JsonRecorder": False})
    assert core().env.get("JsonRecorder") is False  # the same file: nothing added back


def test_a_scan_file_left_for_a_recorder_not_loaded_names_the_environment_file(tmp_path):
    """README's plug-in example leaves ScanFile scans.csv; a later run without
    --recorder-path has no CSV recorder: the refusal says where the value is stored."""
    path = tmp_path / "state" / "environment.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"version": 1, "env": {
        "ScanDir": str(tmp_path), "ScanFile": "scans.csv", "ActiveMntGrp": "mg"}}))
    core = MacroServerCore(build_config(FAST_CONFIG), Environment(path),
                           extra_data_roots=[tmp_path])
    outcome, out = run(core, "ascan m1 0 1 1 0")
    assert outcome.state == "exception"
    assert out.errors[0].startswith("Error: no recorder writes .csv files such as 'scans.csv'")
    assert out.errors[0].endswith(
        f"; ScanDir, ScanFile come from the environment file {path}: `senv NAME VALUE` "
        "changes one, `usenv NAME` clears it, `macroserver run --env FILE` starts from "
        "another file")


def test_a_scan_reads_the_environment_without_a_copy_and_cannot_change_it(tmp_path):
    """EnvView.current (a scan's start reads it): the values snapshot copies, each from
    its most specific scope, read only, and unaltered by a later change."""
    from macroserver.engine.environment import EnvView

    core = make_core(tmp_path)
    core.env.update({"ScanFile": "all.dat", "ascan.ScanFile": "ascan.dat",
                     "door/x/1.ScanFile": "door.dat", "Hist": [1, 2]})
    view = EnvView(core.env, "Door/X/1", "ascan")
    current = view.current()
    assert dict(current) == view.snapshot()
    assert current["ScanFile"] == "door.dat" and current["Hist"] == [1, 2]
    assert EnvView(core.env, "door/x/2", "dscan").current()["ScanFile"] == "all.dat"
    with pytest.raises(TypeError):
        current["ScanFile"] = "other.dat"  # type: ignore[index]
    core.env.update({"door/x/1.ScanFile": "later.dat"})
    assert current["ScanFile"] == "door.dat" and view.current()["ScanFile"] == "later.dat"
