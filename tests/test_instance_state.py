"""Two instances side by side keep their state apart (issue 22, item 1): two
`macroserver up --dir` of the same instance name, each with its own embedded database;
metadata set in one (`setmeta`) never reaches the other's files, everything of each is
under its --dir, nothing under the per-user folder, and what reaches a file names the
file it came from.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from process_groups import kill_group, read_until, start_group
from silx.io.specfile import SpecFile
from tango_helpers import write_config
from test_first_day import user_env

from macroserver.tango.client import DoorClient

pytestmark = pytest.mark.timeout(300)

MACROSERVER = [sys.executable, "-m", "macroserver.cli.admin"]
MARK = "thin film 22"
EXAMPLES = Path(__file__).parent.parent / "examples"


def start_up(base: Path, env: dict[str, str], *options: str
             ) -> tuple[subprocess.Popen, str, list[str]]:
    """`macroserver up --port 0 --dir base/state` (instance demo), data in base/data."""
    (base / "data").mkdir(parents=True)
    config = write_config(base)
    up = start_group([*MACROSERVER, "up", "--port", "0", "--dir", str(base / "state"),
                      "--config", str(config), "--data-root", str(base / "data"), *options],
                     cwd=base, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     text=True)
    lines = read_until(up, "Ctrl-C stops", 150)
    tango_host = next(line.split("=", 1)[1] for line in lines
                      if line.startswith("export TANGO_HOST="))
    return up, f"tango://{tango_host}/door/demo/1", lines


def scan(door: str, data: Path, *commands: str) -> DoorClient:
    with DoorClient(door) as client:
        client.set_environment({"ScanDir": str(data), "ScanFile": ["scans.h5", "scans.dat"],
                                "ActiveMntGrp": "mg1"})
        for command in (*commands, "ascan m1 0 1 2 0"):
            outcome = client.run(command, timeout=90)
            assert outcome.ok, (command, outcome)
        return client


def files_holding(folder: Path, text: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_two_instances_side_by_side_share_nothing(tmp_path):
    env = user_env(tmp_path)
    first, second = tmp_path / "first", tmp_path / "second"
    started = []
    try:
        up_a, door_a, lines_a = start_up(first, env, "--macro-path", str(EXAMPLES / "macros"))
        started.append(up_a)
        up_b, door_b, _ = start_up(second, env)
        started.append(up_b)
        # `up` says where the instance keeps its state, first
        assert lines_a[0] == f"state folder of demo: {first / 'state' / 'demo'}", lines_a

        scan(door_a, first / "data", f"setmeta sample/description '{MARK}'",
             "goto_peak m1 0.5",  # up --macro-path: the example macro is there
             "set_user_pos m1 42.25")  # an offset: element state the instance keeps
        with DoorClient(door_a) as client:
            listing = client.run("lsmeta", timeout=60)
        kept_a = first / "state" / "demo" / "metadata" / "metadata_demo_1.json"
        row = next(line for line in listing.messages["Output"] if MARK in line)
        assert "MetadataManager metadata/demo/1 (kept in" in row
        assert str(kept_a) in "".join(listing.messages["Output"])
        scan(door_b, second / "data")
    finally:
        for process in started:
            kill_group(process)

    # the first instance's sample is in its files only, and names where it came from
    umeta = SpecFile(str(first / "data" / "scans.dat"))[0].scan_header_dict["UMETA"]
    line = next(line for line in umeta.split("\n") if line.startswith("sample/description"))
    value, end = json.JSONDecoder().raw_decode(line.split(" ", 1)[1])
    details = json.loads(line.split(" ", 1)[1][end:])
    assert (value, details["source"]) == (MARK, f"MetadataManager metadata/demo/1 (kept in "
                                                f"{kept_a})")
    assert json.loads(kept_a.read_text())["experiment"]["sample/description"] == MARK
    assert files_holding(second, MARK) == []
    offsets = [json.loads((base / "state" / "demo" / "motors.json").read_text())
               for base in (first, second)]
    assert offsets[0] != offsets[1] and "42.25" not in json.dumps(offsets[1])
    assert not files_holding(second, str(first)), "the second instance names the first's files"
    # each keeps its environment, metadata and logs under its own --dir, none per user
    for base in (first, second):
        state = base / "state" / "demo"
        assert (state / "environment.json").is_file()
        assert (state / "macroserver-demo.log").is_file()
        assert (state / "demo-server.log").is_file()
        assert (state / "motors.json").is_file()  # its simulated motors' dial and offset
    assert (first / "state" / "db").is_dir()
    assert not (tmp_path / "xdg-state" / "tango-macroserver").exists()
