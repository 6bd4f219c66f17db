"""Shared fixtures: one embedded Tango database per session, and device servers on it.

- `tango_db` (session): an EmbeddedDatabase on a free loopback port (with
  MACROSERVER_TEST_DB=mariadb: Debian's DataBaseds on MariaDB); TANGO_HOST points
  at it for the whole session, so plain device names such as "test/simmotor/1" resolve.
- `device_server` (per test) and `module_device_server` (per module): a DeviceServers
  factory, `start(executable_args, server, instance, devices=None, env=None)`, that
  registers the instance (a dsconfig `{class: {device: {"properties": ...}}}` dict) when
  `devices` is given, starts it on loopback, waits until its devices answer and stops
  it (its own PID) at teardown.
- `sim_motor` / `sim_detector` (per module): names of running simulated devices
  (tests/devices/), for tests that need real Tango hardware stand-ins.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest

from macroserver.tango.database import (
    EmbeddedDatabase,
    apply_dsconfig,
    start_device_server,
    stop_process,
)

DEVICES_DIR = Path(__file__).parent / "devices"
SIM_MOTOR_SERVER = [sys.executable, str(DEVICES_DIR / "sim_motor.py")]
SIM_DETECTOR_SERVER = [sys.executable, str(DEVICES_DIR / "sim_detector.py")]
SIM_MOTOR = "test/simmotor/1"
SIM_DETECTOR = "test/simdetector/1"
SIM_MOTOR_VELOCITY = 20.0


# Which Tango database the session runs on: "sqlite" (PyTango's embedded server, the
# default) or "mariadb" (Debian's C++ DataBaseds on MariaDB, tests/facility_db.py; the
# session is skipped loudly where it cannot be installed). One per process: PyTango keeps
# the first TANGO_HOST database it resolves plain device names with.
TEST_DB = os.environ.get("MACROSERVER_TEST_DB", "sqlite").strip().lower() or "sqlite"


def pytest_report_header() -> str:
    return f"Tango database for the tests: {TEST_DB} (MACROSERVER_TEST_DB=sqlite|mariadb)"


# Where libraries write in the user's folders (matplotlib's font cache, Qt settings of
# punx, a server's default state folder): a folder of the session instead, for this
# process and every child it starts, so the suite leaves nothing outside temporary folders.
USER_FOLDER_VARIABLES = ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "MPLCONFIGDIR")
_user_folders: list[Path] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tango_db: uses the session Tango database (set "
                            "automatically); `-m tango_db` selects the Tango integration tests")
    folder = Path(tempfile.mkdtemp(prefix="macroserver-tests-user-"))
    _user_folders.append(folder)
    for name in USER_FOLDER_VARIABLES:
        os.environ[name] = str(folder / name.lower())


def pytest_unconfigure(config: pytest.Config) -> None:
    while _user_folders:
        shutil.rmtree(_user_folders.pop(), ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tango_db" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.tango_db)


def _start_session_database(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedDatabase:
    if TEST_DB == "sqlite":
        database = EmbeddedDatabase(None, tmp_path_factory.mktemp("tango-db"))
        database.start(timeout=30)
        return database
    if TEST_DB != "mariadb":
        raise pytest.UsageError(f"MACROSERVER_TEST_DB must be sqlite or mariadb, not {TEST_DB!r}")
    from facility_db import start_facility

    facility = start_facility(tmp_path_factory, "Tango tests (MACROSERVER_TEST_DB=mariadb)")
    return facility  # type: ignore[return-value]  # same tango_host/port/stop interface


@pytest.fixture(scope="session")
def tango_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedDatabase]:
    database = _start_session_database(tmp_path_factory)
    previous = os.environ.get("TANGO_HOST")
    os.environ["TANGO_HOST"] = database.tango_host
    try:
        yield database
    finally:
        if previous is None:
            os.environ.pop("TANGO_HOST", None)
        else:
            os.environ["TANGO_HOST"] = previous
        database.stop()


class DeviceServers:
    """Starts device servers against one database and stops every one it started."""

    def __init__(self, tango_host: str, log_dir: Path) -> None:
        self.tango_host = tango_host
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    def __call__(
        self,
        executable_args: list[str],
        server: str,
        instance: str,
        devices: Mapping[str, Mapping[str, Any]] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> subprocess.Popen:
        if devices is not None:
            apply_dsconfig({"servers": {server: {instance: dict(devices)}}}, self.tango_host)
        process = start_device_server(
            executable_args, instance, self.tango_host, env, server=server, timeout=timeout,
            log_path=self.log_dir / f"{server}-{instance}.log",
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        while self.processes:
            stop_process(self.processes.pop())


def _device_servers(tango_db: EmbeddedDatabase,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceServers]:
    servers = DeviceServers(tango_db.tango_host, tmp_path_factory.mktemp("device-servers"))
    try:
        yield servers
    finally:
        servers.stop_all()


@pytest.fixture
def device_server(tango_db: EmbeddedDatabase,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceServers]:
    yield from _device_servers(tango_db, tmp_path_factory)


@pytest.fixture(scope="module")
def module_device_server(tango_db: EmbeddedDatabase,
                         tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceServers]:
    yield from _device_servers(tango_db, tmp_path_factory)


@pytest.fixture(scope="module")
def sim_motor(module_device_server: DeviceServers) -> str:
    properties = {"Velocity": [str(SIM_MOTOR_VELOCITY)]}
    module_device_server(SIM_MOTOR_SERVER, "SimMotor", "test",
                         {"SimMotor": {SIM_MOTOR: {"properties": properties}}})
    return SIM_MOTOR


@pytest.fixture(scope="module")
def sim_detector(module_device_server: DeviceServers) -> str:
    module_device_server(SIM_DETECTOR_SERVER, "SimDetector", "test",
                         {"SimDetector": {SIM_DETECTOR: {}}})
    return SIM_DETECTOR


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With MACROSERVER_NO_SKIPS=1 (set by .ci/run, which installs every optional part:
    PyMca5, validators, chromium, the facility database) a skipped test fails the run:
    in CI a skip would be a missing check, not evidence."""
    if os.environ.get("MACROSERVER_NO_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        for report in skipped:
            print(f"\n*** SKIPPED IN CI (counts as a failure): {report.nodeid}: "
                  f"{report.longrepr[-1] if isinstance(report.longrepr, tuple) else ''}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
