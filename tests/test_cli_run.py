"""`macroserver run`: the local runner, as a subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Sequence

import pytest

SCRIPT = Path(sys.executable).with_name("macroserver")

FAST_TOML = """
[motors.m1]
limits = [-5.0, 5.0]

[channels.t]
kind = "timer"

[channels.c]
kind = "counter"
motor = "m1"

[measurement_groups.mg]
timer = "t"
channels = ["t", "c"]
"""


def macroserver(*args: str, cwd: Path, env_extra: dict[str, str] | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(env_extra or {})
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m",
                                                      "macroserver.cli.admin"]
    return subprocess.run([*command, "run", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def run_configured(tmp_path: Path, config: str, *commands: str
                   ) -> subprocess.CompletedProcess[str]:
    """`macroserver run` on the configuration `config` (TOML text) with its state folder
    in tmp_path/state: each call a fresh process on the same state."""
    path = tmp_path / "beamline.toml"
    path.write_text(config)
    return macroserver("--config", str(path), "--env", str(tmp_path / "state" / "env.json"),
                       *commands, cwd=tmp_path)


# `macroserver ARGS` once per argument list, in one Python process; prints
# [exit status, stdout, stderr] of each (argparse's exits, --version and usage errors, too).
EACH_SCRIPT = """
import contextlib, io, json, sys
from macroserver.cli.admin import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def macroserver_each(argvs: Sequence[Sequence[str]], cwd: Path,
                     env: dict[str, str] | None = None
                     ) -> list[subprocess.CompletedProcess[str]]:
    """What `macroserver *argv` gives for each argument list, one after the other, from
    one process instead of one process each (start-up is most of a short command's time;
    each `run` still builds its server from the files, as a fresh process would)."""
    done = subprocess.run([sys.executable, "-c", EACH_SCRIPT, json.dumps(argvs)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return [subprocess.CompletedProcess(argv, code, out, err)
            for argv, (code, out, err) in zip(argvs, json.loads(done.stdout))]


def run_each(tmp_path: Path, config: str, runs: Iterable[str | Sequence[str]]
             ) -> list[subprocess.CompletedProcess[str]]:
    """What `run_configured(tmp_path, config, *commands)` gives for each run (a command,
    or a sequence of commands for one `macroserver run`), from one process."""
    path = tmp_path / "beamline.toml"
    path.write_text(config)
    argvs = [["run", "--config", str(path), "--env", str(tmp_path / "state" / "env.json"),
              *([commands] if isinstance(commands, str) else commands)] for commands in runs]
    return macroserver_each(argvs, tmp_path)


def rows(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if re.match(r"\s+\d+\s", line)]


def test_several_commands_in_a_row(tmp_path):
    env_file = tmp_path / "env" / "environment.json"
    data = tmp_path / "beamtime"
    data.mkdir()
    result = macroserver(
        "--env", str(env_file), "--data-root", str(data),
        f"senv ScanDir {data / 's1'}", "senv ScanFile scan.dat", "senv JsonRecorder False",
        "ascan theta 0 1 4 0", "wm theta", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"ScanDir = '{data / 's1'}'" in out
    assert f"Operation will be saved in {data / 's1' / 'scan.dat'}" in out
    assert re.search(r"^Scan #1 started at .*", out, re.M)
    assert len(rows(out)) == 5
    assert re.search(r"^Scan #1 ended at .*, taking ", out, re.M)
    assert (data / "s1" / "scan.dat").exists()
    assert re.search(r"Current\s+1\b", out)  # wm after the scan: theta at 1
    stored = json.loads(env_file.read_text())["env"]
    assert stored["ScanID"] == 1 and stored["ScanFile"] == "scan.dat"
    # a second run on the same environment file continues the numbering
    result = macroserver("--env", str(env_file), "--data-root", str(data),
                         "timescan 1 0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Scan #2 started at" in result.stdout


def test_exit_status_on_failure_and_stop_at_first_failure(tmp_path):
    env_file = tmp_path / "env.json"
    result = macroserver("--env", str(env_file), "ascan theta 0 20 2 0", "senv Marker 1",
                         cwd=tmp_path)
    assert result.returncode == 1
    assert ("Error: motor theta: position 20 is outside its limits [-10, 10]; "
            "nothing was moved") in result.stderr
    assert "Marker" not in result.stdout
    assert "Marker" not in json.loads(env_file.read_text())["env"] if env_file.exists() else True

    result = macroserver("--env", str(env_file), "ascn theta 0 1 2 0", cwd=tmp_path)
    assert result.returncode == 1  # refused: an error, as in mspock -c
    assert "Error: unknown macro 'ascn'; did you mean ascan" in result.stderr

    result = macroserver("--env", str(env_file), "--config", str(tmp_path / "nope.toml"),
                         "wa", cwd=tmp_path)
    assert result.returncode == 4  # nothing could run
    assert "cannot read configuration" in result.stderr


def test_default_env_file_is_in_the_state_folder(tmp_path):
    state = tmp_path / "state"
    result = macroserver("senv Hello 'world'", cwd=tmp_path,
                         env_extra={"XDG_STATE_HOME": str(state)})
    assert result.returncode == 0, result.stderr
    path = state / "tango-macroserver" / "local" / "environment.json"
    assert json.loads(path.read_text())["env"]["Hello"] == "world"


def test_data_root_default_is_the_current_directory(tmp_path):
    config = tmp_path / "fast.toml"
    config.write_text(FAST_TOML)  # no data_roots configured
    work = tmp_path / "work"
    work.mkdir()
    env_file = tmp_path / "env.json"
    result = macroserver("--config", str(config), "--env", str(env_file),
                         "senv ScanDir here", "senv ScanFile a.dat", "ascan m1 0 1 1 0",
                         cwd=work)
    assert result.returncode == 0, result.stderr
    assert (work / "here" / "a.dat").exists()
    result = macroserver("--config", str(config), "--env", str(env_file),
                         f"senv ScanDir {tmp_path / 'outside'}", cwd=work)
    assert result.returncode == 1
    assert "is outside the data roots" in result.stderr
    # --data-root replaces the default
    other = tmp_path / "other"
    other.mkdir()
    result = macroserver("--config", str(config), "--env", str(env_file),
                         "--data-root", str(other), f"senv ScanDir {other}", cwd=work)
    assert result.returncode == 0, result.stderr
    result = macroserver("--config", str(config), "--env", str(env_file),
                         "--data-root", str(other), f"senv ScanDir {work / 'x'}", cwd=work)
    assert result.returncode == 1


def test_ctrl_c_stops_the_scan(tmp_path):
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m",
                                                      "macroserver.cli.admin"]
    process = subprocess.Popen(
        [*command, "run", "--env", str(tmp_path / "env.json"), "ascan theta 0 1 100 0.05",
         "wa"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        for line in process.stdout:
            if re.match(r"\s+2\s", line):
                break
            assert time.monotonic() < deadline
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 2  # stopped, as mspock -c says it
    assert "Ctrl-C received: Stopping..." in err
    assert re.search(r"Scan #1 stopped after \d+ point\(s\)", out)
    assert "Motor" not in out  # wa did not run after the stop


def test_ascan_with_one_second_points_takes_six_seconds(tmp_path):
    """The only slow test: simulated counting really lasts the integration time."""
    started = time.monotonic()
    result = macroserver("--env", str(tmp_path / "env.json"), "ascan theta 0 0.5 5 1",
                         cwd=tmp_path)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert took >= 6.0
    out = result.stdout
    assert "It will take about 0:00:06" in out
    assert re.search(r"^\s*#Pt No\s+theta\s+uxtimer\s+value\s+wave\s+beam\s*$", out, re.M)
    table = rows(out)
    assert len(table) == 6
    assert all("(256,)" in row and "(251, 251)" in row for row in table)
    assert [row.split()[1] for row in table] == ["0", "0.1", "0.2", "0.3", "0.4", "0.5"]
    ended = re.search(r"^Scan #1 ended at .*, taking 0:00:(\d\d\.\d+)", out, re.M)
    assert ended and float(ended.group(1)) >= 6.0


def test_python_dash_m_macroserver_runs_the_same_command(tmp_path):
    """README's set-up command uses `python3 -m macroserver`, which works wherever
    console scripts end up (pyenv shims, a venv not on PATH)."""
    result = subprocess.run(
        [sys.executable, "-m", "macroserver", "run", "--env", str(tmp_path / "env.json"),
         "--data-root", str(tmp_path), "ascan theta 0 0.5 5 0"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(rows(result.stdout)) == 6


ASKING_MACRO = '''
from macroserver.macros import Macro


class ask_age(Macro):
    """Ask a number and show it."""

    def run(self):
        age = self.input("Your age?", data_type="Integer")
        self.output(f"age {age + 1} next year")
'''


def test_a_macro_asks_on_the_terminal(tmp_path):
    """`macroserver run`: a macro's question is asked on stdin; end of input cancels it."""
    macros = tmp_path / "macros"
    macros.mkdir()
    (macros / "asking.py").write_text(ASKING_MACRO)
    config = tmp_path / "config.toml"
    config.write_text(f'macro_path = ["{macros}"]\n' + FAST_TOML)
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m",
                                                      "macroserver.cli.admin"]
    args = [*command, "run", "--config", str(config), "--env", str(tmp_path / "env.json"),
            "ask_age"]
    done = subprocess.run(args, input="41\n", capture_output=True, text=True, cwd=tmp_path,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Your age? " in done.stdout and "age 42 next year" in done.stdout
    cancelled = subprocess.run(args, input="", capture_output=True, text=True, cwd=tmp_path,
                               timeout=60)
    assert cancelled.returncode != 0 and "cancelled" in cancelled.stdout + cancelled.stderr


def test_the_next_run_closes_a_scan_file_a_killed_run_left_open(tmp_path):
    """Issue 20 item 6 for `macroserver run`: SIGKILL mid-scan leaves the scan's own
    file marked open (plain h5py refuses it); the next run closes it as h5clear -s
    does, says so, and notes in the entry that the scan was cut."""
    import h5py

    path = tmp_path / "beamline.toml"
    path.write_text(FAST_TOML)
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m",
                                                      "macroserver.cli.admin"]
    args = [*command, "run", "--config", str(path), "--env", str(tmp_path / "env.json")]
    scan_file = tmp_path / "k_scans" / "k_1.h5"
    process = subprocess.Popen([*args, f"senv ScanDir {tmp_path}", "senv ScanFile k.h5",
                                "ascan m1 0 1 400 0.01"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not scan_file.exists():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.01)
        time.sleep(0.5)
    finally:
        process.kill()
        process.wait()
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(scan_file, "r")
    done = subprocess.run([*args, "genv ScanID"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"Warning: {scan_file}: left open by a killed writer; closed" in done.stderr
    with h5py.File(scan_file, "r") as f:  # plain, no SWMR
        assert f["entry1/notes/data"][()].decode().startswith("failed: the scan was cut")
        assert len(f["entry1/measurement/point_nb"]) > 0
