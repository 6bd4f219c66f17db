"""`macroserver demo` and `macroserver up` as a user runs them (subprocesses)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import tango
from process_groups import kill_group, read_until, start_group

from macroserver.tango.client import DoorClient
from macroserver.tango.database import connect_database

pytestmark = pytest.mark.timeout(150)

MACROSERVER = [sys.executable, "-m", "macroserver.cli.admin"]


def test_demo_from_a_clean_folder_prints_the_table_and_leaves_tango_host_alone(
        tango_db, tmp_path: Path) -> None:
    db = connect_database(tango_db.tango_host)
    servers_before = set(db.get_server_list("*"))
    exported_before = set(db.get_device_exported("*/demo/*"))
    work = tmp_path / "clean"
    work.mkdir()
    env = {**os.environ, "TANGO_HOST": tango_db.tango_host}
    done = subprocess.run([*MACROSERVER, "demo", "--dir", str(tmp_path / "state")], cwd=work,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["#Pt", "No"])
    rows = [line.split() for line in lines[header + 1:header + 7]]
    assert [r[0] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    assert [float(r[1]) for r in rows] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert not lines[header + 7].split()[0].isdigit()
    assert "Macro ended: finish" in done.stdout
    assert (work / "data" / "demo.dat").is_file() and (work / "data" / "demo.h5").is_file()
    assert "Demo system stopped." in done.stdout
    # the demo's environment (its ScanDir, its scan numbers) is its own: not the file
    # `macroserver up --dir <same>` keeps for its instance "demo"
    assert (tmp_path / "state" / "demo-command" / "environment.json").is_file()
    assert not (tmp_path / "state" / "demo" / "environment.json").exists()
    # nothing registered in the database TANGO_HOST names
    assert set(db.get_server_list("*")) == servers_before
    assert set(db.get_device_exported("*/demo/*")) == exported_before


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children += [int(c) for c in text]
    return children


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def test_up_twice_refuses_the_second_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TANGO_HOST"}
    env["PYTHONUNBUFFERED"] = "1"
    options = ["--dir", str(tmp_path / "state"), "--instance", "uptest",
               "--data-root", str(tmp_path / "data")]
    # port 0: its database picks a free port as it starts (a port picked free here could
    # be taken by another process before the database binds it)
    first = start_group([*MACROSERVER, "up", "--port", "0", *options], cwd=tmp_path,
                        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = read_until(first, "Ctrl-C stops", 90)
        (port,) = [int(found[1]) for line in lines
                   if (found := re.fullmatch(r"export TANGO_HOST=127\.0\.0\.1:(\d+)", line))]
        args = [*MACROSERVER, "up", "--port", str(port), *options]  # the same database
        assert any("door/uptest/1" in line for line in lines)
        started = _children(first.pid)
        # the database, the demo's simulated eiger detector and the device server
        assert len(started) == 3, started
        second = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=60)
        assert second.returncode != 0
        message = second.stdout + second.stderr
        assert "already running" in message and "Traceback" not in message, message
        # the first system still works
        door = f"tango://127.0.0.1:{port}/door/uptest/1"
        (tmp_path / "data").mkdir(exist_ok=True)
        with DoorClient(door) as client:
            client.set_environment({"ScanDir": str(tmp_path / "data"), "ScanFile": "up.dat"})
            outcome = client.run("ascan theta 0 0.1 2 0", timeout=60)
            assert outcome.ok, outcome
            # the eiger up started saves its own frames; the scan links them
            client.set_environment({"ScanFile": ["up.h5"], "ActiveMntGrp": "mg_eiger"})
            outcome = client.run("ascan theta 0 0.1 2 0", timeout=60)
            assert outcome.ok, outcome
        with h5py.File(tmp_path / "data" / "up.h5", "r") as f:
            (entry,) = f.values()
            frames = entry["instrument/eiger/data"]
            assert frames.shape == (3, 1024, 1024) and frames.dtype == "uint16"
            assert entry["instrument/eiger/frame_saved"][()].tolist() == [1, 1, 1]
            assert frames[2].max() > 0
        assert all(_alive(pid) for pid in started)
        first.send_signal(signal.SIGINT)
        assert first.wait(30) == 0
        for pid in started:
            assert not _alive(pid), f"{pid} left running"
        with pytest.raises(tango.DevFailed):
            tango.DeviceProxy(door).ping()
    finally:
        kill_group(first)  # its database and servers too, had the test failed mid-way
