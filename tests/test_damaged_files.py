"""Damaged configuration and environment files: a clear message at start-up naming the
file and the problem, the damaged environment file kept aside, nothing silently reset.

`macroserver run` must exit non-zero with one `Error: ...` line (no traceback);
`macroserver serve` keeps running with the MacroServer device (and its doors) in FAULT
and the message in Status, so a control system shows why; in both cases the damaged
environment file is left byte for byte as it was and a `.damaged-*` copy is kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tango
from tango_helpers import SERVE, register_macroserver, small_config

ADMIN = [sys.executable, "-m", "macroserver.cli.admin"]

GOOD = small_config()

#: (name, configuration text, texts the message must contain besides the file name)
BAD_CONFIGS = [
    ("toml_syntax", GOOD + "\n[motors.m2\nlimits = [1, 2]\n", ["not valid TOML", "line"]),
    ("toml_unclosed_string", 'data_roots = ["data]\n', ["not valid TOML"]),
    ("binary", "\x00\x01\x02garbage\xff", ["not valid TOML"]),
    ("limits_type", GOOD.replace("limits = [-10.0, 10.0]", 'limits = "wide"'),
     ["motors.m1", "limits"]),
    ("limit_text", GOOD.replace("limits = [-10.0, 10.0]", 'limits = ["low", 10.0]'),
     ["motors.m1", "low"]),
    ("position_type", GOOD.replace("limits = [-10.0, 10.0]", 'position = "zero"'),
     ["motors.m1", "position"]),
    ("motor_not_table", "[motors]\nm1 = 5\n", ["[motors]"]),
    ("data_roots_type", "data_roots = 5\n" + GOOD.split("\n", 1)[1], ["data_roots"]),
    ("file_mode", GOOD + '\n[files]\nfile_mode = "rw-r--r--"\n', ["files.file_mode"]),
    ("file_mode_number", GOOD + '\n[files]\nfile_mode = "0999"\n', ["files.file_mode"]),
    ("group_unknown", GOOD + '\n[files]\ngroup = "no-such-group-xyz"\n',
     ["files.group", "no-such-group-xyz"]),
    ("group_type", GOOD + "\n[files]\ngroup = 5\n", ["files.group"]),
    ("unknown_motor_type", GOOD.replace("[motors.m1]\n", '[motors.m1]\ntype = "stepper"\n'),
     ["motors.m1", "stepper"]),
    ("unknown_channel_type", GOOD.replace('[channels.c1]\n', '[channels.c1]\ntype = "x"\n'),
     ["channels.c1", "'x'"]),
    ("unknown_channel_kind", GOOD.replace('kind = "counter"', 'kind = "camera"'),
     ["channels.c1", "camera"]),
    ("unknown_motor_in_channel", GOOD.replace('motor = "m1"', 'motor = "theta"'),
     ["theta"]),
    ("unknown_channel_in_group", GOOD.replace('channels = ["t", "c1"]',
                                              'channels = ["t", "c9"]'), ["c9"]),
    ("group_channels_type", GOOD.replace('channels = ["t", "c1"]', "channels = 3"),
     ["measurement_groups.mg", "channels"]),
    ("image_shape", GOOD + '\n[channels.cam]\nkind = "image"\nshape = [0, "x"]\n',
     ["channels.cam", "shape"]),
]


def run_cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TANGO_HOST"}
    env["XDG_STATE_HOME"] = str(cwd / "state")
    return subprocess.run([*ADMIN, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("name, text, needles", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_damaged_configuration_stops_run_with_a_clear_message(tmp_path, name, text,
                                                                needles) -> None:
    config = tmp_path / f"{name}.toml"
    config.write_bytes(text.encode("latin-1"))
    env_file = tmp_path / "env.json"
    done = run_cli("run", "--config", str(config), "--env", str(env_file), "wa", cwd=tmp_path)
    assert done.returncode != 0, done
    assert "Traceback" not in done.stderr, done.stderr
    assert str(config) in done.stderr, done.stderr
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr)
    assert not env_file.exists(), "a refused configuration still created an environment"


def _good_config(folder: Path) -> Path:
    path = folder / "good.toml"
    path.write_text(GOOD)
    return path


DAMAGED_ENV = [
    ("truncated", json.dumps({"version": 1, "env": {"ScanID": 41, "ScanDir": "/d"}})[:-7]),
    ("wrong_version", json.dumps({"version": 99, "env": {"ScanID": 41}})),
    ("no_env", json.dumps({"version": 1})),
    ("env_not_object", json.dumps({"version": 1, "env": [1, 2]})),
    ("list", "[1, 2, 3]"),
    ("empty", ""),
    ("binary", b"\x89HDF\r\n\x1a\n\x00\xff\xfe garbage"),
    ("nested", "[" * 100000),
]


def _write(path: Path, content: str | bytes) -> bytes:
    data = content if isinstance(content, bytes) else content.encode()
    path.write_bytes(data)
    return data


def _check_kept_aside(env_file: Path, original: bytes) -> None:
    assert env_file.read_bytes() == original, "the damaged file was changed"
    copies = list(env_file.parent.glob(f"{env_file.name}.damaged-*"))
    assert copies, f"no .damaged-* copy next to {env_file}"
    assert all(c.read_bytes() == original for c in copies)
    assert not [p for p in env_file.parent.iterdir()
                if p.name.startswith(".env-")], "a new environment was written"


@pytest.mark.parametrize("name, content", DAMAGED_ENV, ids=[c[0] for c in DAMAGED_ENV])
def test_damaged_environment_stops_run_and_is_kept_aside(tmp_path, name, content) -> None:
    env_file = tmp_path / "env" / "environment.json"
    env_file.parent.mkdir()
    original = _write(env_file, content)
    done = run_cli("run", "--config", str(_good_config(tmp_path)), "--env", str(env_file),
                   "senv ScanID 0", "wa", cwd=tmp_path)
    assert done.returncode != 0, done
    assert "Traceback" not in done.stderr, done.stderr
    assert f"environment file {env_file} is damaged" in done.stderr, done.stderr
    assert ".damaged-" in done.stderr and "Repair the file" in done.stderr, done.stderr
    _check_kept_aside(env_file, original)
    # a second start refuses the same way and still does not touch it
    again = run_cli("run", "--config", str(_good_config(tmp_path)), "--env", str(env_file),
                    "wa", cwd=tmp_path)
    assert again.returncode != 0 and "is damaged" in again.stderr
    _check_kept_aside(env_file, original)


def serve(device_server, tango_db, instance: str, config: Path, data_dir: Path,
          env_file: Path) -> tango.DeviceProxy:
    """Register and serve `instance` (data root `data_dir`); its MacroServer's proxy."""
    register_macroserver(tango_db.tango_host, instance, config, data_dir, env_file)
    device_server(SERVE, "MacroServer", instance, timeout=60)
    return tango.DeviceProxy(f"macroserver/{instance}/1")


def test_damaged_environment_puts_the_served_macroserver_in_fault(
        device_server, tango_db, tmp_path) -> None:
    instance = "damagedenv"
    env_file = tmp_path / "env" / "environment.json"
    env_file.parent.mkdir()
    original = _write(env_file, DAMAGED_ENV[0][1])
    ms = serve(device_server, tango_db, instance, _good_config(tmp_path), tmp_path, env_file)
    door = tango.DeviceProxy(f"door/{instance}/1")
    assert ms.state() == tango.DevState.FAULT
    status = ms.status()
    assert f"environment file {env_file} is damaged" in status, status
    assert ".damaged-" in status, status
    assert door.state() == tango.DevState.FAULT
    # clients get the reason, not a crash or an empty environment
    for call in (lambda: ms.read_attribute("Environment"),
                 lambda: door.RunMacro(["wa"]),
                 lambda: ms.command_inout("SetEnvironment", '{"ScanID": 0}')):
        with pytest.raises(tango.DevFailed) as info:
            call()
        assert info.value.args[0].desc.strip()
    with pytest.raises(tango.DevFailed) as info:
        ms.read_attribute("Environment")
    assert "damaged" in info.value.args[0].desc
    _check_kept_aside(env_file, original)


def test_damaged_configuration_puts_the_served_macroserver_in_fault(
        device_server, tango_db, tmp_path) -> None:
    instance = "damagedcfg"
    config = tmp_path / "bad.toml"
    config.write_text(GOOD.replace('motor = "m1"', 'motor = "theta"'))
    ms = serve(device_server, tango_db, instance, config, tmp_path, tmp_path / "env.json")
    assert ms.state() == tango.DevState.FAULT
    assert str(config) in ms.status() and "theta" in ms.status(), ms.status()
    assert not (tmp_path / "env.json").exists()
