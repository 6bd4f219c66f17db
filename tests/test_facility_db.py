"""The whole path on a facility's Tango database: Debian's C++ DataBaseds on MariaDB.

`macroserver register` writes the servers into it, `macroserver serve` runs against it,
scans go through DoorClient with a Tango-backed motor (tests/devices/sim_motor.py,
registered in the same database), and the environment survives a server restart.

Where mariadb-server/tango-db are missing and apt-get cannot install them (no apt, not
root), the module is SKIPPED with a warning saying so; with MACROSERVER_REQUIRE_FACILITY_DB=1
(set by .ci/run once the packages are installed) that is a failure instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import tango
from facility_db import (
    FacilityDatabase,
    FacilityUnavailable,
    require_installed,
    skip_unavailable,
    start_facility,
)
from fault_helpers import table_rows
from tango_helpers import write_config

from macroserver.tango.client import DoorClient
from macroserver.tango.database import (
    connect_database,
    database_answers,
    start_device_server,
    stop_process,
)

pytestmark = pytest.mark.timeout(180)

DEVICES_DIR = Path(__file__).parent / "devices"
WRAPPER = Path(__file__).parent.parent / "tango_db" / "MacroServer"
INSTANCE = "fac"
MOTOR = "test/simmotor/fac"
MACROSERVER = f"macroserver/{INSTANCE}/1"
DOORS = [f"door/{INSTANCE}/1", f"door/{INSTANCE}/2"]
TANGO_MOTOR_TABLE = f"""
[motors.tmot]
type = "tango"
device = "{MOTOR}"
limits = [-100.0, 100.0]
"""


def _macroserver_command() -> list[str]:
    """The installed `macroserver` script (what the Starter runs), else the module."""
    script = Path(sys.executable).parent / "macroserver"
    if script.exists():
        return [str(script)]
    found = shutil.which("macroserver")
    return [found] if found else [sys.executable, "-m", "macroserver.cli.admin"]


@pytest.fixture(scope="module")
def facility(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FacilityDatabase]:
    database = start_facility(tmp_path_factory, "facility deployment tests")
    try:
        yield database
    finally:
        database.stop()


@dataclass
class Deployment:
    tango_host: str
    folder: Path
    data_dir: Path
    env_path: Path
    register_args: list[str]
    processes: dict[str, subprocess.Popen]

    def full(self, device: str) -> str:
        return f"tango://{self.tango_host}/{device}"

    def register(self, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([*_macroserver_command(), "register", *self.register_args,
                               *extra], env={**os.environ, "TANGO_HOST": self.tango_host},
                              capture_output=True, text=True, timeout=60)

    def start_macroserver(self, as_starter_does: bool = False) -> None:
        """`macroserver serve fac`, or, as the Starter does it, `MacroServer fac` through
        the wrapper script tango_db/MacroServer."""
        command, env = [*_macroserver_command(), "serve"], {}
        if as_starter_does:
            command = [str(WRAPPER)]
            env = {"MACROSERVER": _macroserver_command()[0]} if len(
                _macroserver_command()) == 1 else {}
        self.processes["MacroServer"] = start_device_server(
            command, INSTANCE, self.tango_host, env, server="MacroServer", timeout=90,
            log_path=self.folder / "MacroServer-fac.log")

    def stop_macroserver(self) -> None:
        process = self.processes.pop("MacroServer", None)
        if process is not None:
            stop_process(process, timeout=15)


@pytest.fixture(scope="module")
def deployment(facility: FacilityDatabase, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("facility-deployment")
    data_dir = folder / "data"
    data_dir.mkdir()
    env_path = folder / "state" / "environment.json"
    config = write_config(folder, TANGO_MOTOR_TABLE)
    motor_json = folder / "simmotor.json"
    motor_json.write_text(json.dumps({"servers": {"SimMotor": {INSTANCE: {"SimMotor": {
        MOTOR: {"properties": {"Velocity": ["50"]}}}}}}}))
    deployment = Deployment(
        facility.tango_host, folder, data_dir, env_path,
        ["--instance", INSTANCE, "--property", f"Config={config}",
         "--property", f"DataRoots={data_dir}", "--property", f"EnvironmentDb={env_path}"],
        {})
    try:
        done = deployment.register()
        assert done.returncode == 0, done.stderr
        done = subprocess.run([*_macroserver_command(), "register", "--file", str(motor_json)],
                              env={**os.environ, "TANGO_HOST": facility.tango_host},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        deployment.processes["SimMotor"] = start_device_server(
            [sys.executable, str(DEVICES_DIR / "sim_motor.py")], INSTANCE, facility.tango_host,
            server="SimMotor", log_path=folder / "SimMotor-fac.log")
        deployment.start_macroserver()
        yield deployment
    finally:
        for process in reversed(list(deployment.processes.values())):
            stop_process(process, timeout=15)


def test_ports_taken_before_mariadb_and_databaseds_bind_them_are_replaced(
        tmp_path: Path) -> None:
    """The race of ports picked free: another socket binds one before the server does
    (here both, held on purpose for the whole start); each server gets another port."""
    try:
        require_installed()
    except FacilityUnavailable as exc:
        skip_unavailable(exc, "the facility database's port test")
    with socket.create_server(("127.0.0.1", 0)) as one, \
            socket.create_server(("127.0.0.1", 0)) as two:
        database = FacilityDatabase(tmp_path)
        taken = database.mysql_port, database.port = (one.getsockname()[1],
                                                      two.getsockname()[1])
        database.start(timeout=90)
        try:
            assert database.mysql_port != taken[0] and database.port != taken[1]
            assert database_answers(database.tango_host, timeout=10)
        finally:
            database.stop()


def test_it_is_the_cpp_databaseds_on_mariadb(facility: FacilityDatabase) -> None:
    db = connect_database(facility.tango_host)
    info = tango.DeviceProxy(f"tango://{facility.tango_host}/sys/database/2").info()
    assert info.dev_class == "DataBase" and info.server_id == "DataBaseds/2"
    assert "TANGO Database sys/database/2" in db.get_info()
    assert facility.query("SELECT COUNT(*) FROM device WHERE name='sys/database/2'") == "1"


def test_register_wrote_devices_and_properties_into_mariadb(deployment: Deployment) -> None:
    db = connect_database(deployment.tango_host)
    names = list(db.get_device_class_list(f"MacroServer/{INSTANCE}"))
    devices = dict(zip(names[0::2], names[1::2]))
    registered = {d: c for d, c in devices.items()
                  if c in ("DServer", "MacroServer", "Door", "MetadataManager")}
    assert registered == {  # what register wrote
        f"dserver/MacroServer/{INSTANCE}": "DServer", MACROSERVER: "MacroServer",
        DOORS[0]: "Door", DOORS[1]: "Door", f"metadata/{INSTANCE}/1": "MetadataManager"}
    # and the server, once started, its simulated elements (docs/tango-elements.md)
    assert devices[f"motor/{INSTANCE}/m1"] == "Motor"
    assert devices[f"mntgrp/{INSTANCE}/mg1"] == "MeasurementGroup"
    props = db.get_device_property(MACROSERVER, ["DataRoots", "EnvironmentDb"])
    assert list(props["DataRoots"]) == [str(deployment.data_dir)]
    assert list(props["EnvironmentDb"]) == [str(deployment.env_path)]
    assert list(db.get_device_property(DOORS[1], "MacroServerName")["MacroServerName"]) == [
        MACROSERVER]


def test_register_again_changes_nothing(deployment: Deployment) -> None:
    done = deployment.register()
    assert done.returncode == 0, done.stderr
    assert "nothing to change" in done.stdout
    done = deployment.register("--dry-run", "--doors", "3")
    assert done.returncode == 0, done.stderr
    assert f"add device door/{INSTANCE}/3" in done.stdout and "nothing was written" in done.stdout


def test_ascan_through_the_door_gives_the_output_rows(deployment: Deployment) -> None:
    with DoorClient(deployment.full(DOORS[0])) as client:
        client.set_environment({"ScanDir": str(deployment.data_dir), "ScanFile": ["fac.dat"],
                                "ActiveMntGrp": "mg1"})
        outcome = client.run("ascan m1 0 10 10 0", timeout=60)
        assert outcome.ok, outcome
        rows = table_rows(outcome.messages["Output"])
        assert [int(r[0]) for r in rows] == list(range(11))
        assert [float(r[1]) for r in rows] == pytest.approx([float(i) for i in range(11)])
    spec = (deployment.data_dir / "fac.dat").read_text()
    assert "#S " in spec and "ascan m1 0 10 10 0" in spec


def test_scan_of_a_tango_motor_registered_in_the_same_database(deployment: Deployment) -> None:
    with DoorClient(deployment.full(DOORS[1])) as client:
        outcome = client.run("ascan tmot 0 2 4 0", timeout=60)
        assert outcome.ok, outcome
        rows = table_rows(outcome.messages["Output"])
        assert [float(r[1]) for r in rows] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0],
                                                             abs=1e-3)
    motor = tango.DeviceProxy(deployment.full(MOTOR))
    assert motor.read_attribute("Position").value == pytest.approx(2.0, abs=1e-3)


def test_environment_round_trip_survives_a_restart_by_the_starter_wrapper(
        deployment: Deployment) -> None:
    values = {"FacilityNote": "bl01 shift 3", "FacilityList": [1, 2.5, "x"]}
    with DoorClient(deployment.full(DOORS[0])) as client:
        client.set_environment(values)
        env = client.environment()
        assert {k: env[k] for k in values} == values
    stored = json.loads(deployment.env_path.read_text())
    assert stored["version"] == 1 and stored["env"]["FacilityNote"] == "bl01 shift 3"
    deployment.stop_macroserver()
    deployment.start_macroserver(as_starter_does=True)
    with DoorClient(deployment.full(DOORS[1])) as client:
        env = client.environment()
        assert {k: env[k] for k in values} == values
        assert env["ScanDir"] == str(deployment.data_dir)
        outcome = client.run("ascan m2 0 1 2 0", timeout=60)
        assert outcome.ok, outcome
