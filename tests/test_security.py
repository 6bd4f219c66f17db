"""Security: data paths confined to DataRoots, file modes and group, no client input
executed, plug-ins only from configured folders, listeners on loopback.

Every refused data path must be refused with a message naming ScanDir/ScanFile and
BEFORE anything is written: the test compares the whole tree (data root and the
folder outside it) before and after. The same values are tried through `senv`
(MacroRunner), through the Tango MacroServer (Environment attribute and
SetEnvironment), and at scan start when the environment file was edited directly.
"""

from __future__ import annotations

import grp
import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest
import tango
from collect import Collect, make_core
from tango_helpers import SERVE, register_macroserver, small_config, write_config

from macroserver.config import load_config
from macroserver.engine.core import MacroServerCore
from macroserver.engine.runner import MacroRunner
from macroserver.env import Environment, parse_value
from macroserver.errors import MacroServerError
from macroserver.streams import Level
from macroserver.tango.database import stop_process

INSTANCE = "security"

FAST_TOML = small_config("[-100.0, 100.0]", c1="noise = 0.0\n", extra="""
[channels.spectrum]
kind = "spectrum"
model = "wave"
motor = "m1"
shape = [8]

[channels.image]
kind = "image"
model = "spot"
motor = "m1"
shape = [6, 5]

[measurement_groups.mg_images]
timer = "t"
channels = ["t", "c1", "spectrum", "image"]
""")


# -- helpers ---------------------------------------------------------------------------

def tree(*folders: Path) -> set[str]:
    """Every path below `folders` (symlinks not followed), for before/after checks."""
    found: set[str] = set()
    for folder in folders:
        for root, dirs, files in os.walk(folder, followlinks=False):
            found.update(os.path.join(root, name) for name in dirs + files)
    return found


LAST_MESSAGES: list[str] = []  # Error/Warning lines of the last run_args, for diagnosis


def run_args(core: MacroServerCore, args: list[str], timeout: float = 20.0) -> tuple[str, str]:
    """("refused"|final state, message) of one command given as RunMacro arguments."""
    listener = Collect()
    LAST_MESSAGES[:] = []
    runner = MacroRunner(core, listener)
    try:
        runner.start(args)
    except MacroServerError as exc:
        return "refused", str(exc)
    outcome = runner.wait(timeout)
    assert outcome is not None, f"{args!r} did not end within {timeout} s"
    LAST_MESSAGES[:] = listener.errors + listener.messages[Level.WARNING]
    return outcome.state, outcome.error


class Layout:
    """tmp/data (the data root) with symlinks out, tmp/outside, tmp/state."""

    def __init__(self, tmp_path: Path) -> None:
        self.base = tmp_path
        self.data = tmp_path / "data"
        self.outside = tmp_path / "outside"
        self.data.mkdir(exist_ok=True)
        self.outside.mkdir(exist_ok=True)
        (self.outside / "victim.dat").write_text("not yours\n")
        (self.data / "escape").symlink_to(self.outside, target_is_directory=True)
        (self.data / "out.dat").symlink_to(self.outside / "victim.dat")
        (self.data / "new_out.h5").symlink_to(self.outside / "created_by_server.h5")
        (self.data / "inside").mkdir()

    def watched(self) -> set[str]:
        return tree(self.data, self.outside)


def bad_scan_dirs(layout: Layout) -> list[tuple[Any, str]]:
    """(ScanDir value, text the refusal must contain)."""
    return [
        ("..", "'..'"),
        ("inside/../..", "'..'"),
        (str(layout.data / ".." / "outside"), "'..'"),
        (str(layout.outside), "outside the data roots"),
        ("/etc", "outside the data roots"),
        (str(layout.data / "escape"), "outside the data roots"),
        (str(layout.data / "escape" / "new" / "deeper"), "outside the data roots"),
        ("escape/new", "outside the data roots"),
        ("n" * 256, "longer than 255 bytes"),
        ("é" * 128, "longer than 255 bytes"),  # 256 bytes in UTF-8
        ("/".join(["d" * 200] * 21), "bytes long (at most 4096)"),
        ("/".join(["é" * 100] * 21), "bytes long (at most 4096)"),  # 4220 bytes, 2120 chars
        ("bad\x00name", "contains a NUL character"),  # the environment's text check
        ("bad\nname", "NUL or newline"),  # a value may hold a newline, a path may not
        ("bad\rname", "NUL or newline"),
        ("\udc80lone", "not valid text"),
        ("", "empty"),
        (["not", "a", "folder"], "must be a folder name"),
    ]


def bad_scan_files() -> list[tuple[Any, str]]:
    return [
        ("../up.dat", "plain file name"),
        ("sub/x.dat", "plain file name"),
        ("/etc/passwd.dat", "plain file name"),
        ("..", "plain file name"),
        ("out.dat", "outside the data roots"),  # symlink to an existing file outside
        ("new_out.h5", "outside the data roots"),  # dangling symlink: would create outside
        ("f" * 252 + ".dat", "longer than 255 bytes"),
        ("bad\nname.dat", "NUL or newline"),
        ("bad\x00name.dat", "contains a NUL character"),
        ("\udc80.dat", "not valid text"),
        (["ok.dat", "../x.h5"], "plain file name"),
        (["ok.dat", "out.dat"], "outside the data roots"),
    ]


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path)


@pytest.fixture
def core(layout: Layout) -> MacroServerCore:
    return make_core(layout.base)


# -- data paths, in process --------------------------------------------------------------

def test_senv_refuses_scan_dirs_outside_the_data_roots(core, layout) -> None:
    before_env, before_tree = core.env.snapshot(), layout.watched()
    for value, needle in bad_scan_dirs(layout):
        state, message = run_args(core, ["senv", "ScanDir", repr(value)] if isinstance(
            value, str) else ["senv", "ScanDir", *value])
        assert state == "exception", (value, state)
        assert "ScanDir" in message and needle in message, (value, message)
    assert core.env.snapshot() == before_env
    assert layout.watched() == before_tree


def test_senv_refuses_bad_scan_files(core, layout) -> None:
    assert run_args(core, ["senv", "ScanDir", str(layout.data)]) == ("finish", "")
    before_env, before_tree = core.env.snapshot(), layout.watched()
    for value, needle in bad_scan_files():
        args = ["senv", "ScanFile", *map(repr, value if isinstance(value, list) else [value])]
        state, message = run_args(core, args)
        assert state == "exception", (value, state)
        assert "ScanFile" in message and needle in message, (value, message)
    assert core.env.snapshot() == before_env
    assert layout.watched() == before_tree


def test_scan_dir_refused_when_a_scan_file_symlink_in_it_leads_out(core, layout) -> None:
    """Changing ScanDir re-checks the current ScanFile entries in the new folder."""
    assert run_args(core, ["senv", "ScanDir", str(layout.data / "inside")]) == ("finish", "")
    assert run_args(core, ["senv", "ScanFile", "out.dat"]) == ("finish", "")
    state, message = run_args(core, ["senv", "ScanDir", str(layout.data)])
    assert state == "exception" and "ScanFile 'out.dat'" in message
    assert core.env.get("ScanDir") == str(layout.data / "inside")


def test_newfile_refuses_paths_out(core, layout) -> None:
    before = layout.watched()
    for path in [layout.outside / "a.h5", layout.data / "escape" / "a.h5",
                 layout.data / "out.dat", layout.data / ".." / "a.dat"]:
        state, message = run_args(core, ["newfile", str(path)])
        assert state == "exception" and ("ScanDir" in message or "ScanFile" in message), message
    assert "ScanDir" not in core.env and layout.watched() == before


def _scan_with_env(layout: Layout, values: dict[str, Any]) -> tuple[str, str, MacroServerCore]:
    """Write `values` straight into the environment file, load it, run a scan."""
    env_file = layout.base / "state" / "environment.json"
    document = json.loads(env_file.read_text())
    document["env"].update(values)
    env_file.write_text(json.dumps(document))
    core = MacroServerCore(load_config_text(layout.base, FAST_TOML), Environment(env_file),
                           extra_data_roots=[layout.data])
    state, message = run_args(core, ["ascan", "m1", "0", "1", "2", "0"])
    return state, message, core


def load_config_text(folder: Path, text: str, name: str = "config.toml"):
    path = folder / name
    path.write_text(text)
    return load_config(path)


def test_scan_start_refuses_paths_written_directly_into_the_env_file(layout) -> None:
    make_core(layout.base)  # creates the environment file
    cases: list[dict[str, Any]] = [
        {"ScanDir": value, "ScanFile": "scan.dat"} for value, _ in bad_scan_dirs(layout)
        if isinstance(value, str) and value and "\udc80" not in value
    ] + [
        {"ScanDir": str(layout.data), "ScanFile": value} for value, _ in bad_scan_files()
        if "\udc80" not in str(value)
    ]
    before = layout.watched()
    for values in cases:
        state, message, core = _scan_with_env(layout, values)
        assert state == "exception", (values, state)
        assert "ScanDir" in message or "ScanFile" in message, (values, message)
        assert core.env.get("ScanID") is None, "a refused scan consumed a ScanID"
        assert layout.watched() == before, (values, layout.watched() - before)
    assert not (layout.outside / "created_by_server.h5").exists()


# -- file modes and group ------------------------------------------------------------------

def _other_group() -> str:
    """A group that exists and, when possible, is not our primary one (proves chown)."""
    primary = os.getgid()
    if os.geteuid() == 0:
        for entry in grp.getgrall():
            if entry.gr_gid != primary:
                return entry.gr_name
    return grp.getgrgid(primary).gr_name


def test_created_files_and_folders_get_the_configured_mode_and_group(tmp_path) -> None:
    group = _other_group()
    gid = grp.getgrnam(group).gr_gid
    data = tmp_path / "data"
    data.mkdir()
    root_mode = stat.S_IMODE(data.stat().st_mode)
    config = load_config_text(tmp_path, FAST_TOML + textwrap.dedent(f"""
        [files]
        file_mode = "0640"
        dir_mode = "0750"
        group = "{group}"
    """))
    core = MacroServerCore(config, Environment(tmp_path / "state" / "env.json"),
                           extra_data_roots=[data])
    core.env.update({"ActiveMntGrp": "mg_images", "JsonRecorder": False})
    old_umask = os.umask(0o000)  # without the policy: 0666 files, 0777 folders
    try:
        assert run_args(core, ["senv", "ScanDir", str(data / "a" / "b" / "c")]) == ("finish", "")
        assert run_args(core, ["senv", "ScanFile", "scan.dat", "scan.h5"]) == ("finish", "")
        state, error = run_args(core, ["ascan", "m1", "0", "1", "2", "0"])
        assert state == "finish", error
        first_scan = list(LAST_MESSAGES)
        # a second scan into a new nested folder, appending to nothing
        assert run_args(core, ["newfile", str(data / "x" / "y" / "s.dat")]) == ("finish", "")
        state, error = run_args(core, ["ascan", "m1", "0", "1", "1", "0"])
        assert state == "finish", error
        assert core.sidecars.wait(30)  # the catalogue sidecars (written behind the scans)
    finally:
        os.umask(old_umask)
    created = sorted(tree(data))
    folders = [Path(p) for p in created if os.path.isdir(p)]
    files = [Path(p) for p in created if not os.path.isdir(p)]
    names = {p.relative_to(data).as_posix() for p in folders + files}
    assert {"a", "a/b", "a/b/c", "a/b/c/scan_edf", "x", "x/y", "x/y/s_edf"} <= names, (
        names, first_scan, LAST_MESSAGES)
    assert {"a/b/c/scan.dat", "a/b/c/scan.h5", "x/y/s.dat"} <= names, names
    edf = [p for p in files if p.suffix == ".edf"]
    assert len(edf) == 3 + 2, names  # one image per point and scan
    for folder in folders:
        info = folder.stat()
        assert stat.S_IMODE(info.st_mode) == 0o750, (folder, oct(info.st_mode))
        assert info.st_gid == gid, (folder, info.st_gid)
    for path in files:
        info = path.stat()
        assert stat.S_IMODE(info.st_mode) == 0o640, (path, oct(info.st_mode))
        assert info.st_gid == gid, (path, info.st_gid)
    assert stat.S_IMODE(data.stat().st_mode) == root_mode, "the data root itself was changed"


# -- nothing a client sends is executed --------------------------------------------------------

def code_strings(marker: Path) -> list[str]:
    return [
        f"__import__('os').system('touch {marker}')",
        f"exec(\"open('{marker}', 'w')\")",
        f"eval(\"open('{marker}', 'w')\")",
        f"[open('{marker}', 'w')]",
        f"{{'a': open('{marker}', 'w')}}",
        f"(lambda: open('{marker}', 'w'))()",
        f"\"\"; open('{marker}', 'w')",
        f"$(touch {marker})",
        f"`touch {marker}`",
        f"; touch {marker}",
    ]


def test_parse_value_never_executes(tmp_path) -> None:
    marker = tmp_path / "executed"
    for text in code_strings(marker):
        assert parse_value(text) == text
    assert not marker.exists()


def test_environment_values_and_macro_parameters_are_not_executed(core, tmp_path) -> None:
    marker = tmp_path / "executed"
    for text in code_strings(marker):
        assert run_args(core, ["senv", "Code", text]) == ("finish", "")
        assert core.env.get("Code") == text
        assert run_args(core, ["senv", "ScanUser", text]) == ("finish", "")
        for args in (["mv", "m1", text], ["ct", text], ["ascan", "m1", "0", text, "2", "0"],
                     ["genv", text], ["senv", text, "1"], ["usenv", text], ["wm", text]):
            state, message = run_args(core, args)
            assert state in ("refused", "exception"), (args, state)
            assert message
        run_args(core, ["lsenv"])
        run_args(core, ["genv", "Code"])
    # a scan with the code as user name and title, recorded to files
    core.env.update({"ScanDir": str(tmp_path / "data"), "ScanFile": ["s.dat", "s.h5"]})
    assert run_args(core, ["ascan", "m1", "0", "1", "1", "0"]) == ("finish", "")
    assert not marker.exists()


# -- plug-ins only from configured folders -------------------------------------------------------

def plugin_source(marker: Path, kind: str, name: str) -> str:
    if kind == "macro":
        body = f"""
            from macroserver.engine.macro import Macro

            class {name}(Macro):
                def run(self):
                    self.output("planted")
        """
    else:
        body = f"""
            from macroserver.recorders.base import Recorder

            class {name.capitalize()}Recorder(Recorder):
                name = "{name}"
        """
    return textwrap.dedent(f"""
        import pathlib
        pathlib.Path({str(marker)!r}).touch()
    """) + textwrap.dedent(body)


def test_plugins_load_only_from_configured_folders(tmp_path, monkeypatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    marker = tmp_path / "imported"
    for folder in (work, data):
        (folder / "planted_macro.py").write_text(plugin_source(marker, "macro", "planted"))
        (folder / "planted_recorder.py").write_text(
            plugin_source(marker, "recorder", "plantedrec"))
        (folder / "macroserver_plugin.py").write_text(plugin_source(marker, "macro", "planted2"))
    config = load_config_text(tmp_path, FAST_TOML)
    core = MacroServerCore(config, Environment(tmp_path / "env.json"), extra_data_roots=[data])
    assert "planted" not in core.macros and "planted2" not in core.macros
    assert "plantedrec" not in core.recorders.names()
    assert not marker.exists(), "a plug-in outside the configured folders was imported"
    state, message = run_args(core, ["planted"])
    assert state == "refused" and "unknown macro" in message
    # the same files in MacroPath / RecorderPath are loaded
    macros, recorders = tmp_path / "macros", tmp_path / "recorders"
    macros.mkdir()
    recorders.mkdir()
    (macros / "planted_macro.py").write_text(plugin_source(marker, "macro", "planted"))
    (recorders / "planted_recorder.py").write_text(plugin_source(marker, "recorder", "plantedrec"))
    core = MacroServerCore(config, Environment(tmp_path / "env.json"), extra_data_roots=[data],
                           extra_macro_path=[macros], extra_recorder_path=[recorders])
    assert "planted" in core.macros and "plantedrec" in core.recorders.names()
    assert marker.exists()
    assert run_args(core, ["planted"]) == ("finish", "")


def test_broken_plugin_is_reported_not_fatal(tmp_path) -> None:
    macros = tmp_path / "macros"
    macros.mkdir()
    (macros / "broken_syntax.py").write_text("def (:\n")
    (macros / "broken_import.py").write_text("raise RuntimeError('broken on purpose')\n")
    (macros / "good.py").write_text(plugin_source(tmp_path / "m", "macro", "good_macro"))
    core = MacroServerCore(load_config_text(tmp_path, FAST_TOML), Environment(None),
                           extra_macro_path=[macros, tmp_path / "missing"])
    problems = "\n".join(core.load_problems)
    assert "broken_syntax.py" in problems and "SyntaxError" in problems
    assert "broken_import.py" in problems and "broken on purpose" in problems
    assert "missing" in problems and "not a folder" in problems
    assert "good_macro" in core.macros and "ascan" in core.macros


# -- over Tango: one server, started as `macroserver serve` without -ORBendPoint ----------------

class Server:
    def __init__(self, process: subprocess.Popen, base: Path, layout: Layout) -> None:
        self.process = process
        self.base = base
        self.layout = layout
        self.ms = tango.DeviceProxy(f"macroserver/{INSTANCE}/1")
        self.door = tango.DeviceProxy(f"door/{INSTANCE}/1")

    def env(self) -> dict[str, Any]:
        return json.loads(self.ms.read_attribute("Environment").value[1])["new"]


def _wait_answers(devices: list[str], process: subprocess.Popen, log: Path,
                  timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    for device in devices:
        while True:
            try:
                tango.DeviceProxy(device).ping()
                break
            except tango.DevFailed:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"server did not start: {log.read_text()[-3000:]}") from None
                time.sleep(0.2)


@pytest.fixture(scope="module")
def server(tango_db, tmp_path_factory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("security-server")
    layout = Layout(base)
    macros = base / "macros"
    macros.mkdir()
    (macros / "broken_plugin.py").write_text("raise RuntimeError('broken on purpose')\n")
    (macros / "fine_plugin.py").write_text(plugin_source(base / "m", "macro", "fine_macro"))
    register_macroserver(tango_db.tango_host, INSTANCE,
                         write_config(base, name="config.toml", text=FAST_TOML), layout.data,
                         base / "state" / "environment.json", {"MacroPath": [str(macros)]})
    log = base / "server.log"
    env = {**os.environ, "TANGO_HOST": tango_db.tango_host, "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as out:  # the default endpoint on purpose: no -ORBendPoint
        process = subprocess.Popen([*SERVE, INSTANCE], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, cwd=base)
    try:
        _wait_answers([f"macroserver/{INSTANCE}/1", f"door/{INSTANCE}/1"], process, log)
        srv = Server(process, base, layout)
        srv.ms.write_attribute("Environment", ("utf8_json", json.dumps(
            {"ActiveMntGrp": "mg", "JsonRecorder": False}).encode()))
        yield srv
    finally:
        stop_process(process)


def _env_write_refused(srv: Server, payload: dict[str, Any], needle: str) -> None:
    data = json.dumps(payload).encode()
    with pytest.raises(tango.DevFailed):
        srv.ms.write_attribute("Environment", ("utf8_json", data))
    if "SetEnvironment" in [c.cmd_name for c in srv.ms.command_list_query()]:
        with pytest.raises(tango.DevFailed) as info:
            srv.ms.command_inout("SetEnvironment", data.decode())
        error = info.value.args[0]
        assert error.reason == "EnvError", (payload, error.reason, error.desc)
        assert needle in error.desc, (payload, error.desc)


def test_tango_environment_writes_refuse_paths_out(server) -> None:
    layout = server.layout
    before_env, before_tree = server.env(), layout.watched()
    for value, needle in bad_scan_dirs(layout):
        if isinstance(value, str) and ("\x00" in value or "\udc80" in value):
            continue  # not representable in a Tango string / JSON over latin-1: see below
        _env_write_refused(server, {"ScanDir": value}, needle)
        _env_write_refused(server, {"change": {"ScanDir": value, "ScanFile": "s.dat"}}, needle)
    # NUL and lone surrogates as JSON escapes
    for escaped, needle in [('"bad\\u0000name"', "NUL"), ('"\\udc80"', "not valid text")]:
        text = '{"ScanDir": %s}' % escaped
        with pytest.raises(tango.DevFailed):
            server.ms.write_attribute("Environment", ("utf8_json", text.encode()))
        # (a refused DevEncoded write hides the reason; the command keeps it)
        with pytest.raises(tango.DevFailed) as refused:
            server.ms.SetEnvironment(text)
        assert needle in refused.value.args[0].desc, (escaped, refused.value.args[0].desc)
    server.ms.write_attribute("Environment", ("utf8_json", json.dumps(
        {"ScanDir": str(layout.data)}).encode()))
    for value, needle in bad_scan_files():
        if "\udc80" in str(value) or "\x00" in str(value):
            continue
        _env_write_refused(server, {"ScanFile": value}, needle)
    after = server.env()
    assert after.pop("ScanDir") == str(layout.data)
    assert after == before_env
    assert layout.watched() == before_tree
    assert server.ms.state() == tango.DevState.ON


def test_tango_values_with_code_are_stored_as_text(server) -> None:
    marker = server.base / "executed"
    for text in code_strings(marker):
        payload = {"Code": text, "__class__": {"__init__": text}, "__reduce__": [text],
                   "__builtins__": text}
        try:
            server.ms.write_attribute("Environment", ("utf8_json", json.dumps(payload).encode()))
        except tango.DevFailed:
            pass  # names such as __class__ may be refused; nothing may run either way
        server.ms.write_attribute("Environment", ("utf8_json", json.dumps(
            {"Code": text}).encode()))
        assert server.env()["Code"] == text
        for args in (["senv", "Other", text], ["mv", "m1", text], ["ct", text], ["genv", text]):
            try:
                server.door.RunMacro(args)
            except tango.DevFailed as exc:
                assert exc.args[0].desc
            _wait_idle(server.door)
    assert not marker.exists()
    assert server.ms.state() == tango.DevState.ON


def _wait_idle(door: tango.DeviceProxy, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while door.state() in (tango.DevState.RUNNING, tango.DevState.STANDBY):
        assert time.monotonic() < deadline, door.status()
        time.sleep(0.01)


def test_tango_scan_start_refuses_a_path_out(server) -> None:
    """A ScanDir that was fine when set but leads out at scan time (symlink swapped in)."""
    layout = server.layout
    target = layout.data / "later"
    target.mkdir()
    server.ms.write_attribute("Environment", ("utf8_json", json.dumps(
        {"ScanDir": str(target), "ScanFile": ["s.dat", "s.h5"]}).encode()))
    target.rmdir()
    target.symlink_to(layout.outside, target_is_directory=True)
    before, scan_id = layout.watched(), server.env().get("ScanID")
    try:
        server.door.RunMacro(["ascan", "m1", "0", "1", "2", "0"])
        _wait_idle(server.door)
        assert server.door.state() == tango.DevState.ALARM
        assert "outside the data roots" in server.door.status()
    finally:
        target.unlink()
        server.ms.write_attribute("Environment", ("utf8_json", json.dumps(
            {"del": ["ScanDir", "ScanFile"]}).encode()))
    assert layout.watched() == before - {str(target)}, "the refused scan created files"
    assert server.env().get("ScanID") == scan_id


def test_broken_plugin_reported_and_server_on(server) -> None:
    assert server.ms.state() == tango.DevState.ON
    status = server.ms.status()
    assert "broken_plugin.py" in status and "broken on purpose" in status, status
    assert "fine_macro" in server.ms.MacroList


def test_listeners_bind_to_loopback(server, tango_db) -> None:
    # events make the server open its ZMQ publisher sockets
    event_id = server.door.subscribe_event("State", tango.EventType.CHANGE_EVENT,
                                           lambda event: None)
    try:
        time.sleep(0.3)
        listening = _listening(server.process.pid)
    finally:
        server.door.unsubscribe_event(event_id)
    assert len(listening) >= 2, listening  # CORBA + ZMQ event/heartbeat
    assert all(_loopback(ip) for ip, _ in listening), listening
    database = getattr(tango_db, "_process", None)
    if database is not None:
        listening = _listening(database.pid)
        assert listening and all(_loopback(ip) for ip, _ in listening), listening


def _listening(pid: int) -> list[tuple[str, int]]:
    process = psutil.Process(pid)
    sockets = []
    for proc in [process, *process.children(recursive=True)]:
        for conn in proc.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                sockets.append((conn.laddr.ip, conn.laddr.port))
    return sockets


def _loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip == "::1"


def test_web_view_binds_to_loopback(tango_db, tmp_path) -> None:
    """`macroserver web` with default options (but port 0: the OS picks a free one as it
    binds, no race) listens on loopback only."""
    command = [sys.executable, "-m", "macroserver.cli.admin", "web", "--port", "0"]
    env = {**os.environ, "TANGO_HOST": tango_db.tango_host}
    log = tmp_path / "web.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        listening: list[tuple[str, int]] = []
        while not listening and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            listening = _listening(process.pid)
        assert listening, f"`macroserver web` did not listen: {log.read_text()[-2000:]}"
        assert all(_loopback(ip) for ip, _ in listening), listening
    finally:
        stop_process(process)
