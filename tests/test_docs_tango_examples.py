"""The examples of the documents that need a running Tango system, run against one:
README's `macroserver up`, `mspock -c`, `macroserver web` and `macroserver register`, and
the `console` blocks of docs/mspock.md, docs/web.md and docs/deployment.md (the same
format as tests/test_docs_examples.py; a document's commands run in order, each
document after the one before on the same system).

The system is README's `macroserver up` with `--port 0`, started with no TANGO_HOST in a
temporary folder (its own embedded database, as on a laptop): which door mspock takes and
which doors `macroserver web` lists depend on every door the database exports, and the
session database holds the other tests' servers.

What the documents show for another machine stands for this one's: `$ export
TANGO_HOST=X` sets nothing (the system's TANGO_HOST is set) and X in the output is its
address; `/home/me` is the folder the commands run in; `macroserver web` runs with
`--port 0` (tests never take a fixed port) and prints whatever port it got. Other
`$ export NAME=VALUE` lines hold for the document's next commands. README's `serve` and
`db`, and the fixed ports and addresses of deployment.md and mspock.md, run in
tests/test_docs_serve_examples.py.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from process_groups import kill_group, read_until, start_group
from test_docs_examples import (
    DOCS,
    PRELUDE,
    README,
    commands,
    examples,
    exit_status_expected,
    matches,
)

pytestmark = pytest.mark.timeout(300)

SHELL_PRELUDE = PRELUDE + f'mspock() {{ "{sys.executable}" -m macroserver.cli.mspock "$@"; }}\n'
#: README's Tango commands (indented, a comment after them left out)
README_TANGO = re.compile(
    r"^    ((?:macroserver (?:up|web|register)|mspock -c)\b[^#\n]*?)\s*(?:#.*)?$", re.M)
HOME = "/home/me"  # the documents' folder
WEB_PORT = "8642"  # the documents' `macroserver web` port


class System:
    """README's `macroserver up` running in `folder`, and the environment of the
    commands run against it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {name: value for name, value in os.environ.items()
                    if name not in ("TANGO_HOST", "MSPOCK_DOOR")}
        self.env.update(XDG_STATE_HOME=str(folder / "xdg-state"), NO_COLOR="1",
                        PYTHONUNBUFFERED="1")
        self.up = start_group([sys.executable, "-m", "macroserver", "up", "--port", "0"],
                              cwd=folder, env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        self.lines = read_until(self.up, "Ctrl-C stops", 120)
        self.tango_host = next(line.split("=", 1)[1] for line in self.lines
                               if line.startswith("export TANGO_HOST="))
        self.env["TANGO_HOST"] = self.tango_host

    def stop(self) -> None:
        """Ctrl-C, as the user stops it; the process group killed if that failed."""
        try:
            self.up.send_signal(signal.SIGINT)
            assert self.up.wait(60) == 0
        finally:
            kill_group(self.up)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    started = System(tmp_path_factory.mktemp("docs-tango"))
    try:
        yield started
    finally:
        started.stop()


def readme_commands() -> list[str]:
    """README's `up`, `mspock -c`, `web` and `register` lines, in README's order."""
    found = README_TANGO.findall(README.read_text())
    assert [c.split()[1] if c.startswith("macroserver") else c.split()[0]
            for c in found] == ["up", "mspock", "web", "register"], found
    return found


def run_command(system: System, command: str, env: dict[str, str]
                ) -> tuple[int, list[str]]:
    """Run one shell command of a document against the system: (exit status, output
    lines, stdout then stderr). `macroserver web` is started, read until it says how to
    stop it, and stopped with Ctrl-C."""
    if command.startswith("macroserver web"):
        web = start_group([sys.executable, "-m", "macroserver", *command.split()[1:],
                           "--port", "0"], cwd=system.folder, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            lines = read_until(web, "(Ctrl-C stops it)", 60)
            web.send_signal(signal.SIGINT)
            return web.wait(30), lines
        finally:
            kill_group(web)
    done = subprocess.run(["bash", "-c", SHELL_PRELUDE + command], cwd=system.folder,
                          env=env, capture_output=True, text=True, timeout=120)
    return done.returncode, (done.stdout + done.stderr).splitlines()


def run_console_blocks(system: System, document: Path) -> int:
    """Run the document's console blocks in order; how many commands ran."""
    env = dict(system.env)
    shown_host = system.tango_host
    ran = 0
    for kind, _, body in examples(document.read_text()):
        if kind != "console":
            continue
        for command, expected in commands(body):
            exported = re.fullmatch(r"export (\w+)=(\S+)(?:\s+#.*)?", command)
            if exported and exported[1] == "TANGO_HOST":
                shown_host = exported[2]
                continue
            if exported:
                env[exported[1]] = exported[2]
                continue
            expected = [line.replace(shown_host, system.tango_host)
                        .replace(HOME, str(system.folder))
                        .replace(f":{WEB_PORT}/", ":.../") for line in expected]
            status, output = run_command(system, command, env)
            assert matches(expected, output), (document.name, command, expected, output)
            wanted = exit_status_expected(command, expected)
            assert (status != 0 if wanted is None else status == wanted), \
                (document.name, command, status, output)
            ran += 1
    return ran


def test_readme_up_prints_the_state_folder_then_tango_host_then_the_doors(system):
    assert readme_commands()[0] == "macroserver up"
    lines = system.lines
    state = system.folder / "xdg-state" / "tango-macroserver" / "demo"
    assert lines[0] == f"state folder of demo: {state}"  # also docs/deployment.md's claim
    export = lines.index(f"export TANGO_HOST={system.tango_host}")
    doors = lines.index("doors: door/demo/1, door/demo/2   (mspock --door door/demo/1)")
    assert 0 < export < doors, lines
    assert state.is_dir()


@pytest.mark.parametrize("document", ["mspock.md", "web.md", "deployment.md"])
def test_document_console_examples_run_as_shown(system, document):
    assert run_console_blocks(system, DOCS / document) >= 1


def test_readme_tango_commands(system):
    """README's `mspock -c`, `macroserver web` and `macroserver register` (after the
    documents: its register changes what deployment.md registered): each exits 0 and
    prints what README says of it."""
    for command in readme_commands()[1:]:
        status, output = run_command(system, command, system.env)
        assert status == 0, (command, output)
        if command.startswith("mspock -c"):
            assert any(re.match(r"Scan #\d+ ended at ", line) for line in output), output
        elif command.startswith("macroserver web"):  # README: on http://127.0.0.1:8642
            assert matches(["doors: door/demo/1, door/demo/2",
                            "live scan view on http://127.0.0.1:.../ (Ctrl-C stops it)"],
                           output), output
        else:
            assert output[-1] == f"registered MacroServer/bl01 in {system.tango_host}", output
