"""`macroserver register` against the session's embedded database (and one that is not there)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tango

from macroserver.cli.admin import main
from macroserver.tango.database import connect_database, free_port
from macroserver.tango.register import RegisterError, customise, load_description

pytestmark = pytest.mark.timeout(60)


def registered(tango_host: str, server: str) -> dict[str, str]:
    """device -> class of the server `server` ("MacroServer/inst") in the database."""
    names = list(connect_database(tango_host).get_device_class_list(server))
    return {d: c for d, c in zip(names[0::2], names[1::2]) if c != "DServer"}


def prop(tango_host: str, device: str, name: str) -> list[str]:
    return list(connect_database(tango_host).get_device_property(device, name)[name])


def test_packaged_template_with_instance_properties_and_doors(tango_db, capsys) -> None:
    host = tango_db.tango_host
    code = main(["register", "--instance", "reg1", "--property", "DataRoots=/data/bl01",
                 "--property", "DataRoots=/data/bl01-b", "--property",
                 "EnvironmentDb=/var/lib/macroserver/reg1.json", "--doors", "3"])
    out = capsys.readouterr().out
    assert code == 0
    assert registered(host, "MacroServer/reg1") == {
        "macroserver/reg1/1": "MacroServer", "door/reg1/1": "Door", "door/reg1/2": "Door",
        "door/reg1/3": "Door", "metadata/reg1/1": "MetadataManager"}
    assert prop(host, "macroserver/reg1/1", "MetadataManager") == ["metadata/reg1/1"]
    assert prop(host, "macroserver/reg1/1", "DataRoots") == ["/data/bl01", "/data/bl01-b"]
    assert prop(host, "macroserver/reg1/1", "EnvironmentDb") == ["/var/lib/macroserver/reg1.json"]
    assert prop(host, "macroserver/reg1/1", "Config") == ["demo"]
    for door in ("door/reg1/1", "door/reg1/2", "door/reg1/3"):
        assert prop(host, door, "MacroServerName") == ["macroserver/reg1/1"]
    assert "add device door/reg1/3" in out and f"registered MacroServer/reg1 in {host}" in out
    # Through TANGO_HOST the plain names resolve too, as any facility client would do it.
    assert tango.Database().get_device_info("door/reg1/2").class_name == "Door"


def test_registering_again_changes_nothing(tango_db, capsys) -> None:
    args = ["register", "--instance", "reg2", "--property", "DataRoots=/data/x"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 0
    assert "already holds this description; nothing to change" in capsys.readouterr().out
    assert main([*args, "--dry-run"]) == 0
    assert "nothing to change" in capsys.readouterr().out


def test_changes_are_applied_and_removed_doors_go(tango_db, capsys) -> None:
    host = tango_db.tango_host
    assert main(["register", "--instance", "reg3", "--doors", "3",
                 "--property", "DataRoots=/a"]) == 0
    assert main(["register", "--instance", "reg3", "--doors", "1",
                 "--property", "DataRoots=/b"]) == 0
    out = capsys.readouterr().out
    assert "delete device door/reg3/3" in out and "~ DataRoots = /b (was /a)" in out
    assert registered(host, "MacroServer/reg3") == {
        "macroserver/reg3/1": "MacroServer", "door/reg3/1": "Door",
        "metadata/reg3/1": "MetadataManager"}
    assert prop(host, "macroserver/reg3/1", "DataRoots") == ["/b"]


def test_dry_run_shows_the_changes_and_writes_nothing(tango_db, capsys) -> None:
    assert main(["register", "--instance", "reg4", "--property", "DataRoots=/d",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "add device macroserver/reg4/1 (MacroServer in MacroServer/reg4)" in out
    assert "+ DataRoots = /d" in out and "add device door/reg4/2" in out
    assert "nothing was written" in out
    assert registered(tango_db.tango_host, "MacroServer/reg4") == {}


def test_facility_file_with_its_own_names(tango_db, tmp_path, capsys) -> None:
    own = {"servers": {
        "MacroServer": {"bl01": {
            "MacroServer": {"bl01/macroserver/main": {"properties": {
                "Config": ["/etc/macroserver/bl01.toml"], "DataRoots": ["/data/bl01"]}}},
            "Door": {
                "bl01/door/alice": {"properties": {"MacroServerName": ["bl01/macroserver/main"]}},
                "bl01/door/bob": {"properties": {"MacroServerName": ["bl01/macroserver/main"]}},
            }}},
        "SimMotor": {"bl01": {"SimMotor": {"bl01/motor/mono": {"properties": {
            "Velocity": ["5"]}}}}},
    }}
    path = tmp_path / "bl01.json"
    path.write_text(json.dumps(own))
    host = tango_db.tango_host
    assert main(["register", "--file", str(path), "--property",
                 "EnvironmentDb=/var/lib/macroserver/bl01.json"]) == 0
    assert registered(host, "MacroServer/bl01") == {
        "bl01/macroserver/main": "MacroServer", "bl01/door/alice": "Door",
        "bl01/door/bob": "Door"}
    assert registered(host, "SimMotor/bl01") == {"bl01/motor/mono": "SimMotor"}
    assert prop(host, "bl01/macroserver/main", "Config") == ["/etc/macroserver/bl01.toml"]
    assert prop(host, "bl01/macroserver/main", "EnvironmentDb") == [
        "/var/lib/macroserver/bl01.json"]
    assert prop(host, "bl01/door/bob", "MacroServerName") == ["bl01/macroserver/main"]
    capsys.readouterr()
    assert main(["register", "--file", str(path), "--property",
                 "EnvironmentDb=/var/lib/macroserver/bl01.json"]) == 0
    assert "nothing to change" in capsys.readouterr().out


def test_instance_rename_follows_the_macroserver_name_of_the_doors() -> None:
    description = customise(load_description(None), "bl02", {"DataRoots": ["/d"]}, 2)
    (classes,) = description["servers"]["MacroServer"].values()
    assert list(description["servers"]["MacroServer"]) == ["bl02"]
    assert classes["MacroServer"] == {"macroserver/bl02/1": {"properties": {
        "Config": ["demo"], "MetadataManager": ["metadata/bl02/1"], "DataRoots": ["/d"]}}}
    assert classes["MetadataManager"] == {"metadata/bl02/1": {}}  # renamed with the instance
    assert {d: b["properties"]["MacroServerName"] for d, b in classes["Door"].items()} == {
        "door/bl02/1": ["macroserver/bl02/1"], "door/bl02/2": ["macroserver/bl02/1"]}


@pytest.mark.parametrize("args, message", [
    (["--property", "DataRoots"], "--property wants KEY=VALUE"),
    (["--doors", "0"], "--doors must be at least 1"),
    (["--instance", "a/b"], "not a server instance name"),
    (["--file", "/nonexistent/ms.json"], "cannot read /nonexistent/ms.json"),
])
def test_bad_arguments_are_refused_before_the_database(tango_db, capsys, args, message) -> None:
    assert main(["register", *args]) == 4
    assert message in capsys.readouterr().err


def test_not_a_description_is_refused(tango_db, tmp_path, capsys) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"motors": {}}')
    assert main(["register", "--file", str(path)]) == 4
    assert "not a dsconfig description" in capsys.readouterr().err
    path.write_text("{not json")
    assert main(["register", "--file", str(path)]) == 4
    assert "is not valid JSON" in capsys.readouterr().err


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "macroserver.cli.admin", "register", *args],
                          env=env, capture_output=True, text=True, timeout=30)


def _without_tango_host(home: Path, system_rc: Path) -> dict[str, str]:
    """No TANGO_HOST in the environment; HOME and the system tangorc file (TANGO_RC_FILE,
    /etc/tangorc by default) are ours, so the machine's own files play no part."""
    env = {k: v for k, v in os.environ.items() if k != "TANGO_HOST"}
    return {**env, "HOME": str(home), "TANGO_RC_FILE": str(system_rc)}


def test_unanswered_tango_host_is_a_clear_error_and_exit_code() -> None:
    host = f"127.0.0.1:{free_port()}"
    done = _cli({**os.environ, "TANGO_HOST": host})
    assert done.returncode == 4
    assert done.stderr.strip() == (
        f"Error: no Tango database answers at TANGO_HOST={host}; is it running?")
    assert "Traceback" not in done.stderr


def test_unset_tango_host_is_a_clear_error_and_exit_code(tmp_path) -> None:
    done = _cli(_without_tango_host(tmp_path, tmp_path / "no-tangorc"))
    assert done.returncode == 4
    assert done.stderr.startswith(
        "Error: TANGO_HOST is not set (not in the environment, ~/.tangorc or /etc/tangorc)")


@pytest.mark.parametrize("where", ["home", "system"])
def test_tango_host_from_a_tangorc_file_as_pytango_reads_it(tango_db, tmp_path, where) -> None:
    """Issue 13 item 16: register ignored the tangorc files that PyTango reads."""
    rc = tmp_path / ".tangorc" if where == "home" else tmp_path / "tangorc"
    rc.write_text(f"# written by the test\nTANGO_HOST={tango_db.tango_host}\n")
    env = _without_tango_host(tmp_path, rc if where == "system" else tmp_path / "none")
    done = _cli(env, "--dry-run", "--instance", "rcfile")
    assert done.returncode == 0, done.stderr
    assert f"would change MacroServer/rcfile in {tango_db.tango_host}" in done.stdout
    # and an unanswered one names the file it came from
    rc.write_text(f"TANGO_HOST=127.0.0.1:{free_port()}\n")
    done = _cli(env, "--dry-run")
    assert done.returncode == 4
    assert f"(from {rc})" in done.stderr


def test_register_error_is_a_macroserver_error() -> None:
    with pytest.raises(RegisterError, match="exactly one MacroServer instance"):
        customise({"servers": {"MacroServer": {"a": {}, "b": {}}}}, instance="c")


def test_packaged_template_is_the_tango_db_file() -> None:
    root = Path(__file__).parent.parent
    assert load_description(None) == json.loads((root / "tango_db" / "macroserver.json")
                                                .read_text())
