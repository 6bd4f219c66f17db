"""A new user's first day (issue 13, items 14, 16 and 17), with the real commands as
subprocesses: `macroserver run` in two folders, `macroserver up --dir` with mspock, both
started with SIGINT ignored (as a script's background job is) and stopped with SIGINT.

The per-user state folder is a temporary one (XDG_STATE_HOME), never the real one.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from process_groups import ignore_sigint, kill_group, read_until, start_group
from tango_helpers import write_config
from test_cli_run import macroserver_each

from macroserver.cli.exitcodes import EXIT_ERROR, EXIT_OK, EXIT_STOPPED
from macroserver.tango.client import DoorClient

pytestmark = pytest.mark.timeout(180)

MACROSERVER = [sys.executable, "-m", "macroserver.cli.admin"]
MSPOCK = [sys.executable, "-m", "macroserver.cli.mspock"]


def user_env(tmp_path: Path) -> dict[str, str]:
    """A user's environment: no TANGO_HOST, state and home in `tmp_path`."""
    env = {k: v for k, v in os.environ.items() if k not in ("TANGO_HOST", "MSPOCK_DOOR")}
    env.update(XDG_STATE_HOME=str(tmp_path / "xdg-state"), HOME=str(tmp_path / "home"),
               PYTHONUNBUFFERED="1", NO_COLOR="1")
    return env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_a_scan_dir_left_in_another_folder_falls_back_with_a_warning(tmp_path):
    env = user_env(tmp_path)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    # README's second example, in one folder (default per-user environment)
    done = run([*MACROSERVER, "run", "--data-root", str(first / "data"),
                f"senv ScanDir {first / 'data'}", "senv ScanFile ['scans.h5','scans.dat']",
                "ascan theta 0 1 2 0"], first, env)
    assert done.returncode == EXIT_OK, done.stderr
    # then a scan in another folder: the demo configuration's data root is ./data there
    done = run([*MACROSERVER, "run", "ascan theta 0 1 2 0"], second, env)
    assert done.returncode == EXIT_OK, done.stderr
    root = (second / "data").resolve()
    assert (f"Warning: ScanDir '{first / 'data'}' (resolved to {(first / 'data').resolve()}) "
            f"is outside the data roots ({root}); this scan writes into {root} instead "
            "(senv ScanDir to choose a folder)") in done.stderr
    assert (root / "scans.h5").is_file() and (root / "scans.dat").is_file()
    assert "Scan #2 ended" in done.stdout  # the per-user environment's numbering goes on
    # the stored ScanDir is left as the user set it
    stored = json.loads((tmp_path / "xdg-state" / "tango-macroserver" / "local" /
                         "environment.json").read_text())["env"]
    assert stored["ScanDir"] == str(first / "data")


def test_an_error_is_said_once_and_exit_statuses_follow_one_table(tmp_path):
    env = user_env(tmp_path)
    done, misspelt, bogus, version = macroserver_each(
        [["run", "senv ScanDir /"], ["run", "ascn theta"], ["run", "--bogus", "wa"],
         ["--version"]], tmp_path, env)
    assert done.returncode == EXIT_ERROR
    assert done.stderr.startswith("Error: ScanDir '/' (resolved to /) is outside"), done.stderr
    assert "Error: Error:" not in done.stderr
    # refused before it runs: an error (1), as mspock -c says it; usage errors: 4
    assert misspelt.returncode == EXIT_ERROR
    assert bogus.returncode == 4
    assert run([*MSPOCK, "--bogus"], tmp_path, env).returncode == 4
    # no Tango database configured anywhere: said once, with what to do
    lost = run([*MSPOCK, "-c", "wa"], tmp_path,
               {**env, "TANGO_RC_FILE": str(tmp_path / "no-tangorc")})
    assert lost.returncode == 4 and lost.stderr == (
        "mspock: TANGO_HOST is not set (not in the environment, ~/.tangorc or /etc/tangorc)\n"
        "Start a system with 'macroserver up' (it prints the TANGO_HOST to export) or give "
        "the door with --door / MSPOCK_DOOR.\n"), lost.stderr
    for shown in (version, run([*MSPOCK, "--version"], tmp_path, env)):  # the package's
        assert shown.returncode == 0 and re.fullmatch(r"tango-macroserver \d+\.\d+\S*\n",
                                                       shown.stdout), shown


def test_the_shared_memory_hint_names_a_backend_that_is_installed(tmp_path):
    env = user_env(tmp_path)
    blocked = ("import sys; sys.modules['PyMca5'] = None; "
               "from macroserver.cli.admin import main; sys.exit(main(sys.argv[1:]))")
    without = run([sys.executable, "-c", blocked, "run", "--debug", "ascan theta 0 1 1 0"],
                  tmp_path, env)
    assert without.returncode == 0, without.stderr
    assert 'Use "senv SharedMemory shm" to enable it' in without.stdout
    assert "SharedMemory sps" not in without.stdout + without.stderr


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_and_mspock_started_with_sigint_ignored_stop_on_sigint(tmp_path):
    env = user_env(tmp_path)
    state, data = tmp_path / "state", tmp_path / "data"
    data.mkdir()
    config = write_config(tmp_path)
    # a ScanDir left by an earlier session in a folder that is not a data root now
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (state / "firstday").mkdir(parents=True)
    (state / "firstday" / "environment.json").write_text(json.dumps({"version": 1, "env": {
        "ScanDir": str(elsewhere), "ScanFile": "first.dat", "ActiveMntGrp": "mg1"}}))
    up = start_group([*MACROSERVER, "up", "--port", "0", "--dir", str(state), "--instance",
                      "firstday", "--config", str(config), "--data-root", str(data)],
                     cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     text=True, preexec_fn=ignore_sigint)
    mspock = None
    try:
        lines = read_until(up, "Ctrl-C stops", 120)
        tango_host = next(line.split("=", 1)[1] for line in lines
                          if line.startswith("export TANGO_HOST="))
        door = f"tango://{tango_host}/door/firstday/1"
        client = DoorClient(door)
        client.set_environment({"Marker": "kept in --dir"})
        # --dir holds the instance's environment, not the per-user folder
        stored = json.loads((state / "firstday" / "environment.json").read_text())["env"]
        assert stored["Marker"] == "kept in --dir"
        assert not (tmp_path / "xdg-state" / "tango-macroserver" / "firstday").exists()

        mspock = start_group([*MSPOCK, "-c", "ascan m1 0 1 400 0.05"], cwd=tmp_path,
                             env={**env, "TANGO_HOST": tango_host}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, preexec_fn=ignore_sigint)
        read_until(mspock, "#Pt No", 60)
        mspock.send_signal(signal.SIGINT)  # the first Ctrl-C stops the scan
        out, err = mspock.communicate(timeout=60)
        assert mspock.returncode == EXIT_STOPPED, (out, err)
        assert "Ctrl-C received: Stopping..." in err + out
        # several doors: mspock -c says which one it used
        assert ("mspock: 2 doors in the database (door/firstday/1, door/firstday/2); using "
                "door/firstday/1 (choose with --door or MSPOCK_DOOR)") in err
        assert not re.search(r"^\s*400\s", out, re.M)  # stopped before the last point
        # the leftover ScanDir: the scan went into the data root, and said so
        assert (f"ScanDir '{elsewhere}' (resolved to {elsewhere.resolve()}) is outside the "
                f"data roots ({data.resolve()}); this scan writes into {data.resolve()} "
                "instead") in err
        assert (data / "first.dat").is_file() and not list(elsewhere.iterdir())

        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0
        deadline = time.monotonic() + 30
        while _group_alive(up.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_alive(up.pid), "up left its database or server running"
    finally:
        if mspock is not None:
            kill_group(mspock)
        kill_group(up)
