"""The documents' command lines that take fixed ports or another host's address, run for
real with this host's free ones: README's `macroserver db --port 10000` and `macroserver
serve demo`, docs/deployment.md's `json2tango` lines and its Network section's `serve
bl01 --listen 192.0.2.10` and `-ORBendPoint giop:tcp:192.0.2.10:50000`, and the
`macroserver up --port 10000 --dir ./state` / `export TANGO_HOST` / `mspock` block of
docs/mspock.md.

What stands for what: the documents' port 10000 (the database) and 50000 (a fixed CORBA
port) are free loopback ports; 192.0.2.10 (a documentation address, RFC 5737) is
127.0.0.2, a loopback address other than the default 127.0.0.1, so `--listen` is seen to
change where the server listens. `--listen 0.0.0.0` takes the same path (the address
goes into the endpoint as given) and is not run: tests listen on loopback only. Each
command runs as the documents show it, in a temporary folder; a client then reaches
what it started, and the test ends every process it started by its PID (its group).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import psutil
import pytest
import tango
from process_groups import kill_group, read_until, start_group
from test_docs_examples import DOCS, README

from macroserver.tango.client import DoorClient

pytestmark = pytest.mark.timeout(300)

DB_PORT, FIXED_PORT, OTHER_HOST = "10000", "50000", "192.0.2.10"
THIS_OTHER_HOST = "127.0.0.2"  # loopback, and not the default 127.0.0.1
TOOLS = {"macroserver": [sys.executable, "-m", "macroserver"],
         "mspock": [sys.executable, "-m", "macroserver.cli.mspock"],
         "json2tango": [str(Path(sys.executable).with_name("json2tango"))]}
README_SERVER_LINES = re.compile(r"^    (macroserver (?:serve|db)\b[^#\n]*?)\s*(?:#.*)?$", re.M)
JSON2TANGO_LINES = re.compile(r"^    (json2tango\b[^#\n]*?)\s*(?:#.*)?$", re.M)
NETWORK_LINES = re.compile(r"macroserver serve bl01 (?:--listen|-ORBendPoint) [^\s`]+")


def free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def on_this_host(command: str, ports: dict[str, str]) -> list[str]:
    """The documented command with this host's ports and address, as an argument list
    (the documents' `macroserver`, `mspock`, `json2tango`: this checkout's)."""
    for shown, free in ports.items():
        command = re.sub(rf"(?<=[ :]){shown}\b", free, command)
    words = command.replace(OTHER_HOST, THIS_OTHER_HOST).split()
    return [*TOOLS[words[0]], *words[1:]]


class Folder:
    """A temporary folder the commands run in, with the environment they run with
    (no TANGO_HOST until a database is up; per-user state and temporary files inside)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {name: value for name, value in os.environ.items()
                    if name not in ("TANGO_HOST", "MSPOCK_DOOR")}
        self.env.update(XDG_STATE_HOME=str(path / "xdg-state"), TMPDIR=str(path),
                        NO_COLOR="1", PYTHONUNBUFFERED="1")
        self.started: list[subprocess.Popen] = []

    def start(self, argv: list[str], ready: str, timeout: float = 120) -> list[str]:
        """Start a server as documented; its output until it prints `ready`."""
        process = start_group(argv, cwd=self.path, env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        self.started.append(process)
        return read_until(process, ready, timeout)

    def stop_last(self) -> None:
        """Ctrl-C to the last server started, as a user stops it: it exits 0."""
        process = self.started.pop()
        try:
            process.send_signal(signal.SIGINT)
            assert process.wait(60) == 0
        finally:
            kill_group(process)

    def run(self, argv: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=self.path, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=120)

    def close(self) -> None:
        while self.started:
            kill_group(self.started.pop())


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Folder]:
    opened = Folder(tmp_path)
    (tmp_path / "tango_db").symlink_to(DOCS.parent / "tango_db")
    try:
        yield opened
    finally:
        opened.close()


def listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of the TCP sockets process `pid` listens on."""
    return {(c.laddr.ip, c.laddr.port) for c in psutil.Process(pid).net_connections("tcp")
            if c.status == psutil.CONN_LISTEN}


def test_db_json2tango_serve_and_the_network_options(folder: Folder) -> None:
    """README's database, deployment.md's json2tango (preview: exit 3, changes shown,
    nothing written; -w: exit 2, written; a preview then: 0), README's `serve demo`
    reached by a client running a macro, then deployment.md's `--listen` and
    `-ORBendPoint` serving bl01 on the address and port given, a client reaching each."""
    db_line, serve_line = sorted(README_SERVER_LINES.findall(README.read_text()))
    assert (db_line, serve_line) == ("macroserver db --port 10000", "macroserver serve demo")
    deployment = (DOCS / "deployment.md").read_text()
    ports = {DB_PORT: free_port(), FIXED_PORT: free_port()}
    tango_host = f"127.0.0.1:{ports[DB_PORT]}"
    lines = folder.start(on_this_host(db_line, ports), "Ctrl-C stops it")
    assert lines[-1] == f"Tango database running: TANGO_HOST={tango_host} (Ctrl-C stops it)"
    folder.env["TANGO_HOST"] = tango_host

    preview, write = JSON2TANGO_LINES.findall(deployment)
    done = folder.run(on_this_host(preview, ports))
    assert done.returncode == 3 and "Nothing was written" in done.stdout + done.stderr, done
    done = folder.run(on_this_host(write, ports))
    assert done.returncode == 2, done  # "exit code 2 means written"
    assert folder.run(on_this_host(preview, ports)).returncode == 0  # nothing left to do

    folder.start(on_this_host(serve_line, ports), "Ready to accept request")
    client = DoorClient(f"tango://{tango_host}/door/demo/1").connect()
    try:
        outcome = client.run("wa", timeout=60)
        assert outcome.ok and any("theta" in line for line in outcome.messages["Output"])
    finally:
        client.close()
    folder.stop_last()

    register = folder.run([*TOOLS["macroserver"], "register", "--instance", "bl01"])
    assert register.returncode == 0, register.stderr
    network = sorted(set(NETWORK_LINES.findall(deployment)))
    assert network == ["macroserver serve bl01 --listen 0.0.0.0",
                       "macroserver serve bl01 --listen 192.0.2.10",
                       "macroserver serve bl01 -ORBendPoint giop:tcp:192.0.2.10:50000"]
    for command in network[1:]:  # 0.0.0.0 is every interface: see the docstring
        folder.start(on_this_host(command, ports), "Ready to accept request")
        sockets = listening(folder.started[-1].pid)
        assert sockets and {address for address, _ in sockets} == {THIS_OTHER_HOST}, sockets
        if "-ORBendPoint" in command:
            assert (THIS_OTHER_HOST, int(ports[FIXED_PORT])) in sockets, sockets
        door = tango.DeviceProxy(f"tango://{tango_host}/door/bl01/1")
        assert door.state() == tango.DevState.ON, door.status()
        folder.stop_last()


def test_mspock_md_up_export_and_mspock(folder: Folder) -> None:
    """docs/mspock.md's three lines: `up` with the port prints the `export TANGO_HOST`
    line shown and keeps its files in ./state; mspock, with that TANGO_HOST, runs a
    command on the door."""
    block = re.search(r"^```\n(macroserver up .*?)^```", (DOCS / "mspock.md").read_text(),
                      re.S | re.M)
    assert block, "docs/mspock.md's first block"
    up, export, mspock = [line.split("#")[0].strip() for line in block[1].splitlines()]
    ports = {DB_PORT: free_port()}
    lines = folder.start(on_this_host(up, ports), "Ctrl-C stops")
    assert re.sub(DB_PORT, ports[DB_PORT], export) in lines, lines
    assert (folder.path / "state" / "demo").is_dir()
    folder.env["TANGO_HOST"] = export.split("=", 1)[1].replace(DB_PORT, ports[DB_PORT])
    done = folder.run(on_this_host(mspock, ports), stdin="wa\n")
    assert done.returncode == 0 and "theta" in done.stdout, (done.stdout, done.stderr)
    folder.stop_last()
