"""A facility Tango database for the tests: Debian's C++ DataBaseds on MariaDB.

This is the database most facilities run (reference note: shared/reference/
facility-db.md). For isolation from anything else on the machine, each
`FacilityDatabase` runs its own MariaDB server in a temporary folder (own data files,
own socket, a free loopback port), loads the schema shipped by Debian's `tango-db`
package into it, and starts `/usr/lib/tango/DataBaseds` on another free loopback port.
`stop()` ends both processes, by their PIDs.

The tests never install the packages (a test suite must not change the machine: apt
also writes /etc/tangorc, which every later Tango client reads); `.ci/run` installs
them. Where they are missing, `FacilityUnavailable` says what, and the tests skip
loudly (fail under MACROSERVER_REQUIRE_FACILITY_DB=1, as in CI).

Run by hand: `python tests/facility_db.py` starts one and prints its TANGO_HOST
(Ctrl-C stops it).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, NoReturn

from macroserver.tango.database import (
    PortTaken,
    database_answers,
    free_port,
    on_a_free_port,
    port_in_use,
    stop_process,
)

DATABASEDS = Path("/usr/lib/tango/DataBaseds")
SCHEMA_SQL = Path("/usr/share/dbconfig-common/data/tango-db/install/mysql")
PACKAGES = ("mariadb-server", "tango-db")
# InnoDB's default redo log is 96 MB per test database (left in the temp folder); the
# tests write a few hundred rows
SMALL_REDO_LOG = "--innodb-log-file-size=8M"
READY_LINE = "Ready to accept request"
POLL = 0.1


class FacilityUnavailable(RuntimeError):
    """MariaDB/DataBaseds are not installed and cannot be installed here (no apt, not root)."""


def _mariadbd() -> str | None:
    for name in ("mariadbd", "mysqld"):
        for folder in ("/usr/sbin", "/usr/bin"):
            if os.access(f"{folder}/{name}", os.X_OK):
                return f"{folder}/{name}"
    return shutil.which("mariadbd") or shutil.which("mysqld")


def _tool(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def missing() -> list[str]:
    """What is missing to run a facility database here (empty when all is installed)."""
    needs = {
        "mariadbd": _mariadbd(),
        "mariadb-install-db": _tool("mariadb-install-db", "mysql_install_db"),
        "mariadb client": _tool("mariadb", "mysql"),
        str(DATABASEDS): DATABASEDS if os.access(DATABASEDS, os.X_OK) else None,
        str(SCHEMA_SQL): SCHEMA_SQL if SCHEMA_SQL.is_file() else None,
    }
    return [name for name, found in needs.items() if not found]


def require_installed() -> None:
    """FacilityUnavailable naming what is missing. The tests never install anything
    (they must not change the machine): `.ci/run` installs the packages, as root."""
    gone = missing()
    if gone:
        raise FacilityUnavailable(
            f"missing {', '.join(gone)}: install {' and '.join(PACKAGES)} (.ci/run does, "
            "as root; or see shared/reference/facility-db.md)")


def skip_unavailable(exc: FacilityUnavailable, what: str = "tests") -> NoReturn:
    """Skip, loudly (stderr, a warning and the skip reason), that the facility database
    cannot run here; a failure instead under MACROSERVER_REQUIRE_FACILITY_DB=1."""
    import warnings

    import pytest

    message = (f"FACILITY DATABASE (DataBaseds on MariaDB) NOT TESTED: {exc}. These {what} "
               "did not run; only the embedded sqlite database was tested.")
    if os.environ.get("MACROSERVER_REQUIRE_FACILITY_DB") == "1":
        pytest.fail(message + " (MACROSERVER_REQUIRE_FACILITY_DB=1)", pytrace=False)
    print(f"\n*** {message} ***", file=sys.stderr)
    warnings.warn(message, pytest.PytestWarning, stacklevel=2)
    pytest.skip(message)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen, name: str, doing: str,
                log: Path, deadline: float, port: int) -> None:
    """Poll `ready`; RuntimeError with the tail of `log` if `process` exits first or
    `deadline` passes (the message: "<name> did not <doing> in time"); PortTaken if it
    exited while another process holds the `port` it was to listen on."""
    while not ready():
        if process.poll() is not None:
            if port_in_use(port):
                raise PortTaken(port)
            raise RuntimeError(f"{name} exited with code {process.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not {doing} in time:\n{_tail(log)}")
        time.sleep(POLL)


def start_facility(tmp_path_factory: Any, what: str) -> FacilityDatabase:
    """A started FacilityDatabase in a new temporary folder, or a loud skip of `what`
    (see skip_unavailable) where its packages cannot be installed."""
    try:
        require_installed()
    except FacilityUnavailable as exc:
        skip_unavailable(exc, what)
    database = FacilityDatabase(tmp_path_factory.mktemp("facility-db"))
    database.start(timeout=90)
    return database


class FacilityDatabase:
    """A private MariaDB server plus DataBaseds on 127.0.0.1, all files in `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.port = free_port()
        self.mysql_port = free_port()
        self.socket = self.workdir / "mysqld.sock"
        self.datadir = self.workdir / "data"
        self._mariadb: subprocess.Popen | None = None
        self._databaseds: subprocess.Popen | None = None

    @property
    def tango_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start MariaDB, load the Tango schema, start DataBaseds; RuntimeError with the
        output of whatever failed."""
        if missing():
            raise FacilityUnavailable(f"not installed: {', '.join(missing())}")
        deadline = time.monotonic() + timeout
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_mariadb(deadline)
            self._load_schema(deadline)
            on_a_free_port(lambda: self._start_databaseds(deadline),
                           lambda port: setattr(self, "port", port), "DataBaseds")
        except BaseException:
            self.stop()
            raise

    def _user_args(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def _start_mariadb(self, deadline: float) -> None:
        install_db = _tool("mariadb-install-db", "mysql_install_db")
        log = self.workdir / "mariadb-install-db.log"
        with open(log, "wb") as out:
            done = subprocess.run(
                [install_db, "--no-defaults", f"--datadir={self.datadir}", *self._user_args(),
                 "--auth-root-authentication-method=normal", "--skip-test-db", SMALL_REDO_LOG],
                stdout=out, stderr=subprocess.STDOUT,
                timeout=max(deadline - time.monotonic(), 5.0))
        if done.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed ({done.returncode}):\n{_tail(log)}")
        on_a_free_port(lambda: self._run_mariadb(deadline),
                       lambda port: setattr(self, "mysql_port", port), "MariaDB")

    def _run_mariadb(self, deadline: float) -> None:
        error_log = self.workdir / "mariadb.log"
        command = [_mariadbd(), "--no-defaults", f"--datadir={self.datadir}",
                   f"--socket={self.socket}", f"--port={self.mysql_port}",
                   "--bind-address=127.0.0.1", f"--pid-file={self.workdir / 'mysqld.pid'}",
                   f"--log-error={error_log}", "--innodb-buffer-pool-size=32M", SMALL_REDO_LOG,
                   "--skip-name-resolve", *self._user_args()]
        with open(self.workdir / "mariadb.out", "wb") as out:
            self._mariadb = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _wait_until(lambda: self._mysql_ok("SELECT 1"), self._mariadb, "MariaDB",
                    "answer", error_log, deadline, self.mysql_port)

    def _mysql(self, sql: str, database: str = "", timeout: float = 30.0
               ) -> subprocess.CompletedProcess:
        client = _tool("mariadb", "mysql")
        command = [client, "--no-defaults", f"--socket={self.socket}", "-uroot", "--batch"]
        if database:
            command.append(database)
        return subprocess.run(command, input=sql, text=True, capture_output=True,
                              timeout=timeout)

    def query(self, sql: str, database: str = "tango") -> str:
        """The result of one SQL statement run in MariaDB itself (tab-separated, no header)."""
        done = self._mysql(sql, database)
        if done.returncode != 0:
            raise RuntimeError(f"{sql!r} failed: {done.stderr.strip()}")
        return "\n".join(done.stdout.splitlines()[1:])

    def _mysql_ok(self, sql: str) -> bool:
        if not self.socket.exists():
            return False
        try:
            return self._mysql(sql, timeout=5).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def _load_schema(self, deadline: float) -> None:
        # As dbconfig-common does for the tango-db package: database and user tango/tango.
        users = ("'tango'@'localhost'", "'tango'@'127.0.0.1'")
        setup = "CREATE DATABASE tango;\n" + "".join(
            f"CREATE USER {u} IDENTIFIED BY 'tango';\nGRANT ALL ON tango.* TO {u};\n"
            for u in users)
        for sql, database in ((setup, ""), (SCHEMA_SQL.read_text(), "tango")):
            done = self._mysql(sql, database, timeout=max(deadline - time.monotonic(), 5.0))
            if done.returncode != 0:
                raise RuntimeError(f"loading the Tango schema into MariaDB failed:\n"
                                   f"{done.stderr.strip()}")

    def _start_databaseds(self, deadline: float) -> None:
        log = self.workdir / "DataBaseds.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MYSQL")}
        env.update(MYSQL_USER="tango", MYSQL_PASSWORD="tango", MYSQL_DATABASE="tango",
                   MYSQL_HOST=f"127.0.0.1:{self.mysql_port}", TANGO_HOST=self.tango_host)
        command = [str(DATABASEDS), "2", "-ORBendPoint", f"giop:tcp:127.0.0.1:{self.port}"]
        with open(log, "wb") as out:
            self._databaseds = subprocess.Popen(command, cwd=self.workdir, env=env,
                                                stdout=out, stderr=subprocess.STDOUT)
        _wait_until(lambda: READY_LINE in log.read_text(errors="replace"), self._databaseds,
                    "DataBaseds", "get ready", log, deadline, self.port)
        if not database_answers(self.tango_host, max(deadline - time.monotonic(), 2.0)):
            raise RuntimeError(f"DataBaseds on {self.tango_host} does not answer:\n{_tail(log)}")

    def stop(self) -> None:
        """End DataBaseds, then MariaDB (SIGTERM is its clean shutdown), by their PIDs."""
        if self._databaseds is not None:
            stop_process(self._databaseds)
            self._databaseds = None
        if self._mariadb is not None:
            stop_process(self._mariadb, timeout=30.0)
            self._mariadb = None

    def __enter__(self) -> FacilityDatabase:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    import tempfile

    require_installed()
    with tempfile.TemporaryDirectory(prefix="facility-db-") as folder:
        with FacilityDatabase(Path(folder)) as database:
            print(f"export TANGO_HOST={database.tango_host}   (DataBaseds on MariaDB; "
                  "Ctrl-C stops it)", flush=True)
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
