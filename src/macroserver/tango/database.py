"""Tango database and device-server processes on loopback.

Used by `macroserver up` for its embedded default (PyTango's database server with the
sqlite3 backend) and by the tests. Every process is started by us, addressed by its own
PID, bound to 127.0.0.1, and waited for with a bound, so nothing hangs and failures come
with the process's own output.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Mapping

import tango

READY_LINE = "Ready to accept request"
LOOPBACK_ENDPOINT = "giop:tcp:127.0.0.1:0"
POLL_INTERVAL = 0.1


PORT_PICKS = 3  # free ports tried in turn by a database whose port is ours to pick


class PortTaken(Exception):
    """Another process bound the port we picked before our server did."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def on_a_free_port(start: Callable[[], None], repick: Callable[[int], None],
                   what: str) -> None:
    """Run `start`; each time it raises PortTaken, give `repick` another free port and
    run it again, PORT_PICKS times in all: a port picked free is only free until another
    process binds it (any client's outgoing connection may get it)."""
    for _ in range(PORT_PICKS):
        try:
            start()
            return
        except PortTaken:
            repick(free_port())
    raise RuntimeError(f"{what}: each of {PORT_PICKS} free ports picked was taken by "
                       "another process before it could bind it")


def port_in_use(port: int) -> bool:
    """Whether some socket holds `port` on 127.0.0.1 (we cannot bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _split_host(tango_host: str) -> tuple[str, int]:
    host, _, port = tango_host.partition(",")[0].rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"TANGO_HOST must be host:port, not {tango_host!r}")
    return host, int(port)


def connect_database(tango_host: str) -> tango.Database:
    """A client of the database at `tango_host`, whatever TANGO_HOST says."""
    return tango.Database(*_split_host(tango_host))


def database_answers(tango_host: str, timeout: float = 5.0) -> bool:
    """True once the Tango database at `tango_host` answers a query, False after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            connect_database(tango_host).get_info()
            return True
        except tango.DevFailed:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_INTERVAL)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def stop_process(process: subprocess.Popen, timeout: float = 5.0) -> None:
    """Terminate one process we started, by its PID; kill it if it does not end in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


class EmbeddedDatabase:
    """PyTango's database server (sqlite3 backend) on 127.0.0.1, its file in `workdir`."""

    def __init__(self, port: int | None, workdir: Path) -> None:
        self._picked = not port  # ours to change if another process takes it first
        self.port = port or free_port()
        self.workdir = Path(workdir)
        self.log_path = self.workdir / "database.log"
        self._process: subprocess.Popen | None = None

    @property
    def tango_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and return once it answers; RuntimeError with its output if not.

        A port picked free (none given) is only free until some other process binds it
        (any client's outgoing connection may get it from the same ephemeral range):
        taken before the server bound it, another one is picked."""
        if self._process is not None:
            raise RuntimeError(f"database on {self.tango_host} is already started")
        def launch() -> None:
            if not self._launch(timeout):
                raise PortTaken(self.port)

        on_a_free_port(launch, lambda port: setattr(self, "port", port),
                       "cannot start a Tango database")

    def _launch(self, timeout: float) -> bool:
        """Start the server on self.port; False if another process holds that port (before
        the server started, or bound it first), for a port we picked; else RuntimeError."""
        if port_in_use(self.port):
            if self._picked:
                return False
            raise RuntimeError(
                f"cannot start a Tango database on {self.tango_host}: the port is in use"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "tango.databaseds.database", "--db_access", "sqlite3",
                   "--port", str(self.port), "--host", "127.0.0.1", "2"]
        env = {k: v for k, v in os.environ.items() if k != "TANGO_HOST"}
        env["PYTHONUNBUFFERED"] = "1"  # so that the ready line reaches the log at once
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(command, cwd=self.workdir, env=env,
                                             stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        try:
            while READY_LINE not in self.log_path.read_text(errors="replace"):
                self._check_alive(deadline)
                time.sleep(POLL_INTERVAL)
            if not database_answers(self.tango_host, max(deadline - time.monotonic(), 1.0)):
                self._check_alive(0.0)
        except PortTaken:
            return False
        return True

    def _check_alive(self, deadline: float) -> None:
        assert self._process is not None
        if self._process.poll() is not None:
            if self._picked and port_in_use(self.port):
                self._process = None
                raise PortTaken(self.port)
            reason = f"it exited with code {self._process.returncode}"
        elif time.monotonic() >= deadline:
            reason = "it did not answer in time"
            stop_process(self._process)
        else:
            return
        self._process = None
        raise RuntimeError(
            f"Tango database on {self.tango_host} failed to start ({reason}); "
            f"its output ({self.log_path}):\n{_tail(self.log_path)}"
        )

    def stop(self, timeout: float = 5.0) -> None:
        if self._process is not None:
            stop_process(self._process, timeout)
            self._process = None

    def __enter__(self) -> EmbeddedDatabase:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def apply_dsconfig(config: Mapping[str, Any] | str | Path, tango_host: str) -> int:
    """Write a dsconfig description (dict or JSON file) into the database at `tango_host`.

    Uses dsconfig's own diff-and-apply, so re-applying is harmless and properties that
    were removed from the file are removed from the database. Returns the number of
    database calls made.
    """
    from dsconfig.json2tango import apply_config, prepare_config

    data: Mapping[str, Any] = (config if isinstance(config, Mapping)
                               else json.loads(Path(config).read_text()))
    try:
        _, _, calls, *_ = apply_config(prepare_config(dict(data)),
                                       connect_database(tango_host), write=True)
    except RuntimeError as exc:
        raise ValueError(f"not a dsconfig description (servers/devices/classes): {exc}") from None
    return len(calls)


def _server_devices(db: tango.Database, server: str) -> list[str]:
    names = list(db.get_device_class_list(server))
    return names[0::2]


def start_device_server(
    executable_args: list[str],
    instance: str,
    tango_host: str,
    env: Mapping[str, str] | None = None,
    *,
    server: str,
    timeout: float = 30.0,
    log_path: Path | None = None,
) -> subprocess.Popen:
    """Launch a device server on loopback and return once all its devices answer.

    `server` is the server name it registers as (for `server/instance` in the database,
    e.g. "MacroServer" for `macroserver serve demo`). Its output goes to `log_path` (a
    temporary file by default); on failure it is stopped and its output is in the error.
    """
    db = connect_database(tango_host)
    full_name = f"{server}/{instance}"
    devices = _server_devices(db, full_name)
    if not devices:
        raise RuntimeError(f"device server {full_name} is not registered in {tango_host}")
    if any(device_answers(tango_host, device) for device in devices):
        raise RuntimeError(f"device server {full_name} is already running on {tango_host}")
    if log_path is None:
        handle, name = tempfile.mkstemp(prefix=f"{server}-{instance}-", suffix=".log")
        os.close(handle)
        log_path = Path(name)
    command = [*executable_args, instance, "-ORBendPoint", LOOPBACK_ENDPOINT]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {}), "TANGO_HOST": tango_host}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        # a server may add devices while it starts (ours: one per simulated element), so
        # it is up once it says it is ready and every device registered then answers
        ready = READY_LINE in log_path.read_text(errors="replace")
        waiting = [device for device in _server_devices(db, full_name)
                   if not device_answers(tango_host, device)]
        if ready and not waiting:
            return process
        if process.poll() is not None:
            reason = f"it exited with code {process.returncode}"
            break
        if time.monotonic() >= deadline:
            stop_process(process)
            reason = (f"{', '.join(waiting)} did not answer within {timeout} s" if waiting
                      else f"it did not say {READY_LINE!r} within {timeout} s")
            break
        time.sleep(POLL_INTERVAL)
    raise RuntimeError(
        f"device server {full_name} ({' '.join(command)}) failed to start: {reason}; "
        f"its output ({log_path}):\n{_tail(log_path)}"
    )


def device_answers(tango_host: str, device: str) -> bool:
    try:
        tango.DeviceProxy(f"tango://{tango_host}/{device}").ping()
        return True
    except tango.DevFailed:
        return False
