"""mspock driven as a user would: the real shell in a pseudo-terminal (pexpect) and `-c`
runs, against a real MacroServer device server on the session's embedded database."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np
import pytest
import tango
from collect import wait_until

from macroserver.cli.completion import flat_parameters
from macroserver.cli.console import Console
from macroserver.cli.interrupt import held_interrupts, wait_for_macro
from macroserver.cli.showscan import read_png_data, read_spec, text_plot
from macroserver.records import EndStatus
from macroserver.tango.client import DoorClient
from macroserver.tango.database import apply_dsconfig, stop_process
from macroserver.tango.pool_elements import served_device_name
from macroserver.tango.stack import SERVER, doors_of, server_description

pexpect = pytest.importorskip("pexpect")

pytestmark = pytest.mark.timeout(120)

INSTANCE = "mspocktest"
MSPOCK = [sys.executable, "-m", "macroserver.cli.mspock"]
SERVE = [sys.executable, "-m", "macroserver.cli.admin", "serve"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\r")
CURSOR_FORWARD = re.compile(r"\x1b\[(\d*)C")
ROW = re.compile(r"^\s+(\d+)\s+(-?[\d.]+)\s", re.M)


# A macro with a section that only abort can end (a user macro that does not check
# for stop): the second Ctrl-C must abort it.
STUBBORN_MACRO = """
import time
from macroserver.macros import Macro

class stubborn(Macro):
    \"\"\"Wait 20 s, ending early on abort only.\"\"\"

    def run(self):
        self.output("waiting")
        for _ in range(400):
            self.context.control.check_abort()
            time.sleep(0.05)


class ask_age(Macro):
    \"\"\"Ask a number (Sardana's Macro.input) and show it.\"\"\"

    def run(self):
        age = self.input("Your age?", data_type="Integer", default_value=7)
        self.output(f"age {age + 1} next year")
"""


class System:
    def __init__(self, servers, door: str, data: Path, home: Path) -> None:
        self.servers = servers
        self.door = door
        self.data = data
        self.home = home
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = self.servers(SERVE, SERVER, INSTANCE, timeout=60)

    def stop(self) -> None:
        assert self.process is not None
        stop_process(self.process)

    def env(self) -> dict[str, str]:
        return {**os.environ, "MSPOCK_DOOR": self.door, "NO_COLOR": "1", "TERM": "xterm",
                "PROMPT_TOOLKIT_NO_CPR": "1", "MSPOCK_HISTORY": str(self.home / "history"),
                "MSPOCK_PLOT_DIR": str(self.home / "plots"), "COLUMNS": "120"}

    def client(self) -> DoorClient:
        return DoorClient(self.door)


@pytest.fixture(scope="module")
def system(module_device_server, tango_db, tmp_path_factory) -> Iterator[System]:
    data = tmp_path_factory.mktemp("mspock-data").resolve()
    home = tmp_path_factory.mktemp("mspock-home").resolve()
    macros = tmp_path_factory.mktemp("mspock-macros").resolve()
    (macros / "stubborn.py").write_text(STUBBORN_MACRO)
    description = server_description(INSTANCE, {
        "Config": ["demo"], "DataRoots": [str(data)], "MacroPath": [str(macros)],
        "EnvironmentDb": [str(home / "environment.json")]})
    apply_dsconfig(description, tango_db.tango_host)
    ours = System(module_device_server, doors_of(description)[0], data, home)
    ours.start()
    ours.client().set_environment({"ScanDir": str(data), "ScanFile": ["scans.h5", "scans.dat"]})
    yield ours


class Terminal:
    """The shell in a pty; `expect` searches the output with escape sequences removed."""

    def __init__(self, system: System) -> None:
        self.child = pexpect.spawn(MSPOCK[0], MSPOCK[1:], env=system.env(), encoding="utf-8",
                                   dimensions=(50, 140), timeout=10)
        self.raw = ""
        self.pos = 0

    def text(self) -> str:
        forward = CURSOR_FORWARD.sub(lambda m: " " * int(m.group(1) or 1), self.raw)
        return ANSI.sub("", forward)

    def expect(self, pattern: str, timeout: float = 20.0) -> re.Match:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.text(), self.pos)
            if found:
                self.pos = found.end()
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not seen in {timeout} s; output:\n"
                                     f"{self.text()[-3000:]}")
            try:
                self.raw += self.child.read_nonblocking(65536, timeout=0.2)
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                time.sleep(0.1)

    def prompt(self, timeout: float = 20.0) -> None:
        self.expect(r"\[(ON|ALARM)\] >", timeout)

    def type(self, text: str) -> None:
        self.child.send(text)

    def run(self, line: str) -> None:
        self.child.send(line + "\r")

    def close(self) -> None:
        if self.child.isalive():
            self.child.sendintr()  # an empty line (Ctrl-D leaves only from an empty line)
            time.sleep(0.2)
            self.child.sendeof()
            try:
                self.child.expect(pexpect.EOF, timeout=10)
            except pexpect.TIMEOUT:
                self.child.terminate(force=True)
        self.child.close()


@pytest.fixture
def shell(system: System) -> Iterator[Terminal]:
    terminal = Terminal(system)
    try:
        terminal.prompt()
        yield terminal
    finally:
        terminal.close()


def mspock_c(system: System, *commands: str, timeout: float = 60) -> subprocess.CompletedProcess:
    args = [a for c in commands for a in ("-c", c)]
    return subprocess.run([*MSPOCK, *args], env=system.env(), capture_output=True, text=True,
                          timeout=timeout)


def spec_closing_line(system: System, scan_id: int) -> str:
    text = (system.data / "scans.dat").read_text()
    block = text.split(f"#S {scan_id} ", 1)[1].split("\n#S ", 1)[0]
    return [line for line in block.splitlines() if line.startswith("#C")][-1]


def last_scan_id(system: System) -> int:
    return int(system.client().environment()["ScanID"])


def wait_until_running(system: System, timeout: float = 20) -> None:
    """The door runs a macro (the shell has sent the line): a Ctrl-C now goes to it."""
    door = tango.DeviceProxy(system.door)
    deadline = time.monotonic() + timeout
    while door.state() != tango.DevState.RUNNING:
        assert time.monotonic() < deadline, f"{system.door} did not start the macro"
        time.sleep(0.05)


# -- interactive ------------------------------------------------------------------------

def test_scan_completion_help_and_suggestions(shell: Terminal, system: System) -> None:
    # completion shows in what runs: "asc<Tab> th<Tab> ..." is "ascan theta ..."
    shell.type("asc\t")
    time.sleep(0.3)
    shell.type(" th\t")
    time.sleep(0.3)
    shell.run(" 0 0.5 5 0")
    shell.expect(r">\s*ascan theta 0 0\.5 5 0")  # the accepted line, redrawn whole
    shell.expect(r"#Pt No\s+theta\s+uxtimer\s+value")
    table = shell.expect(r"(?s)(.*?)Scan #(\d+) ended").group(1)
    rows = ROW.findall(table)
    assert [int(n) for n, _ in rows] == list(range(6))
    assert [float(x) for _, x in rows] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4, 0.5])
    shell.prompt()

    shell.run("help ascan")
    shell.expect(r"Usage: ascan motor start_pos final_pos nr_interv integ_time")
    for name, kind in [("motor", "Motor"), ("start_pos", "Float"), ("nr_interv", "Integer"),
                       ("integ_time", "Float")]:
        shell.expect(rf"{name}\s+{kind}\s+\S")
    shell.prompt()
    shell.run("ct?")
    shell.expect(r"integ_time\s+Float\s+integration time.*\(default: 1\.0\)")
    shell.prompt()

    shell.run("ascna theta 0 1 2 0")
    shell.expect(r"Unknown command 'ascna'\. Did you mean: ascan")
    shell.prompt()

    shell.type("genv ScanD\t")
    time.sleep(0.3)
    shell.run("")
    shell.expect(r">\s*genv ScanDir")
    shell.expect(re.escape(str(system.data)))
    shell.prompt()
    shell.close()
    history = (system.home / "history").read_text()
    assert "ascan theta 0 0.5 5 0" in history and "help ascan" in history


def test_history_is_kept_across_sessions(system: System) -> None:
    (system.home / "history").write_text("\n# 2024-01-01 00:00:00\n+wm chi\n")
    terminal = Terminal(system)
    try:
        terminal.prompt()
        terminal.type("\x1b[A")  # Up: the last line of the previous session
        time.sleep(0.3)
        terminal.run("")
        terminal.expect(r">\s*wm chi")
        terminal.expect(r"Current\s+-?[\d.]+")
    finally:
        terminal.close()


def test_ctrl_c_stops_then_a_second_aborts(shell: Terminal, system: System) -> None:
    shell.run("ascan theta 0 5 50 0.1")
    shell.expect(r"#Pt No")
    shell.expect(r"\n\s+2\s+0\.2\s")
    shell.child.sendintr()
    shell.expect(r"Ctrl-C received: Stopping\.\.\.")
    shell.expect(r"Scan #(\d+) stopped after \d+ point")
    shell.expect(r"was stopped")
    shell.prompt()
    stopped = last_scan_id(system)
    assert "status: stopped" in spec_closing_line(system, stopped)

    shell.run("mv phi 150")  # 3 s at 50 deg/s: the first Ctrl-C halts the motion
    wait_until_running(system)
    phi = tango.DeviceProxy(served_device_name("Motor", INSTANCE, "phi"))
    wait_until(lambda: phi.read_attribute("Position").value > 0, "phi leaving 0")
    shell.child.sendintr()
    shell.expect(r"Ctrl-C received: Stopping\.\.\.")
    shell.expect(r"was stopped")
    shell.prompt()
    shell.run("wm phi")
    phi = float(shell.expect(r"Current\s+(-?[\d.]+)").group(1))
    assert 0 < phi < 150
    shell.prompt()

    shell.run("stubborn")  # does not check for stop: the second Ctrl-C aborts it
    shell.expect(r"waiting")
    time.sleep(0.5)
    shell.child.sendintr()
    shell.expect(r"Ctrl-C received: Stopping\.\.\.")
    time.sleep(0.3)
    shell.child.sendintr()
    shell.expect(r"2nd Ctrl-C received: Aborting\.\.\.")
    shell.expect(r"was aborted")
    shell.prompt()
    shell.run("wm theta")  # still usable
    shell.expect(r"Current\s+-?[\d.]+")
    shell.prompt()


def test_ctrl_c_while_a_macro_starts_is_held_then_stops_it(system: System) -> None:
    """A Ctrl-C that lands while RunMacro is returning (the macro already running) is not
    raised out of the shell, which would leave the macro running unwatched: it is held,
    then stops the macro as the first press. The shell's handler is Python's usual one
    (mspock sets it at start, `handle_sigint`): set here too, since a test run started
    as a background job inherits SIGINT ignored."""
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with held_interrupts() as pressed:
            os.kill(os.getpid(), signal.SIGINT)
            deadline = time.monotonic() + 10
            while not pressed and time.monotonic() < deadline:
                time.sleep(0.01)
        assert pressed == [1]
        with pytest.raises(KeyboardInterrupt):  # the usual handler is back
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
    finally:
        signal.signal(signal.SIGINT, inherited)
    with system.client() as client:
        outcome = client.start("ascan theta 0 5 50 0.1")
        console = Console(color=False, status_line=False, split_errors=False)
        end = wait_for_macro(client, outcome, console, lambda: True, early_presses=1)
    assert end is EndStatus.STOPPED


# -- non-interactive --------------------------------------------------------------------

def test_c_exit_codes_success_and_wrong_parameter(system: System) -> None:
    done = mspock_c(system, "ascan theta 0 0.5 5 0", "wm theta")
    assert done.returncode == 0, done.stderr
    assert len(ROW.findall(done.stdout.split("#Pt No", 1)[1])) >= 6
    assert re.search(r"Current\s+0\.5", done.stdout)

    wrong = mspock_c(system, "ascan theta 0 0.5 x 0", "wa")
    assert wrong.returncode == 1
    assert "nr_interv" in wrong.stderr and "'x'" in wrong.stderr
    assert "Motor" not in wrong.stdout  # stopped at the first failing command

    typo = mspock_c(system, "ascn theta 0 1 2 0")
    assert typo.returncode == 1 and "Did you mean: ascan" in typo.stderr

    failing = mspock_c(system, "mv theta 100")
    assert failing.returncode == 1 and "outside its limits" in failing.stderr

    forecast = mspock_c(system, "simulate ascan theta 0 1 10 0.1", "wm theta")
    assert forecast.returncode == 0, forecast.stderr
    assert "ascan theta 0 1 10 0.1: 11 point(s), step scan" in forecast.stdout
    assert re.search(r"Current\s+0\.5", forecast.stdout)  # nothing moved
    refused = mspock_c(system, "simulate ascan theta 0 100 2 0")
    assert refused.returncode == 1 and "REFUSED: motor theta: position 100" in refused.stdout


def test_c_exit_code_of_a_scan_aborted_from_elsewhere(system: System) -> None:
    process = subprocess.Popen([*MSPOCK, "-c", "ascan theta 0 1 10 1"], env=system.env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        door = tango.DeviceProxy(system.door)
        deadline = time.monotonic() + 20
        while door.state() != tango.DevState.RUNNING:
            assert time.monotonic() < deadline, "the scan did not start"
            time.sleep(0.05)
        time.sleep(0.3)
        door.AbortMacro()
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    assert process.returncode == 3, err
    assert "aborted" in err
    assert "#Pt No" in out


# -- showscan ---------------------------------------------------------------------------

def test_showscan_png_holds_the_counter_column(system: System) -> None:
    run = mspock_c(system, "ascan theta -1 1 8 0", "showscan")
    assert run.returncode == 0, run.stderr
    scan_id = last_scan_id(system)
    png = system.home / "plots" / f"scan_{scan_id}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "x: theta" in run.stdout and str(png) in run.stdout
    plotted = read_png_data(png)
    with h5py.File(system.data / "scans.h5", "r", locking=False) as handle:
        measurement = handle[f"entry{scan_id}/measurement"]
        value = measurement["value"][()]
        theta = measurement["theta"][()]
    assert plotted["x_name"] == "theta"
    assert list(plotted["series"]) == ["value"]
    np.testing.assert_array_equal(plotted["series"]["value"], value)
    np.testing.assert_array_equal(plotted["x"], theta)

    # a given ScanID, read from the SPEC file when there is no NeXus file
    system.client().set_environment({"ScanFile": ["only.dat"]})
    try:
        assert mspock_c(system, "ascan theta 0 1 4 0").returncode == 0
        spec_id = last_scan_id(system)
        other = system.home / "spec.png"
        run = mspock_c(system, f"showscan {spec_id} --png {other}")
        assert run.returncode == 0, run.stderr
        assert "only.dat" in run.stdout
        from_spec = read_png_data(other)
        expected = read_spec(system.data / "only.dat", spec_id)
        assert from_spec["series"]["value"] == expected.series["value"]
        assert from_spec["x"] == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    finally:
        system.client().set_environment({"ScanFile": ["scans.h5", "scans.dat"]})
    missing = mspock_c(system, "showscan 99999")
    assert missing.returncode == 1 and "not in ScanHistory" in missing.stderr


def test_showscan_online_needs_the_json_recorder_then_plots_live(system: System) -> None:
    client = system.client()
    client.set_environment({"JsonRecorder": False})
    off = mspock_c(system, "showscan online")
    assert off.returncode == 1 and 'senv JsonRecorder True' in off.stderr
    client.set_environment({"JsonRecorder": True})
    try:
        viewer = subprocess.Popen([*MSPOCK, "-c", "showscan online"], env=system.env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # its note comes once its door connection is live (DoorClient.connect's probe)
            ready = read_line_until(viewer, "Plotting the scans of door", timeout=60)
            assert mspock_c(system, "ascan theta 0 1 5 0").returncode == 0
            out, err = viewer.communicate(timeout=30)
            out = ready + out
        finally:
            if viewer.poll() is None:
                viewer.kill()
                viewer.wait(5)
        assert viewer.returncode == 0, err
        assert "6/6 points, ended: done" in out and "x: theta" in out
    finally:
        client.set_environment({"JsonRecorder": False})


def read_line_until(process: subprocess.Popen, text: str, timeout: float) -> str:
    """`process`'s stdout up to the line holding `text`; fails naming what came instead
    if that line has not come within `timeout` s (or the process ended)."""
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if text in line:
                found.set()
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    assert found.is_set(), f"no {text!r} within {timeout} s; got {''.join(lines)!r}"
    return "".join(lines)


def test_helpers_text_plot_and_repeat_parameters() -> None:
    plot = text_plot([0, 1, 2], {"a": [0, 1, 4]}, width=40, height=5, x_name="m")
    grid = [line for line in plot.splitlines() if line.endswith("|")]
    assert len(grid) == 5 and sum(line.count("*") for line in grid) == 3
    assert grid[0].rstrip("|").endswith("*") and "x: m   * a" in plot
    mv = [{"name": "l", "min": 1, "max": None,  # Sardana's form: a repeat's type is a list
           "type": [{"name": "motor", "type": "Motor"}, {"name": "pos", "type": "Float"}]}]
    assert [flat_parameters(mv, i)["type"] for i in range(4)] == ["Motor", "Float"] * 2


def test_a_macro_asks_and_the_answer_goes_back(shell: Terminal) -> None:
    shell.run("ask_age")
    shell.expect(r"Your age\? \[7\]")
    shell.child.send("41\r")
    shell.expect(r"age 42 next year")
    shell.prompt()
    shell.run("ask_age")
    shell.expect(r"Your age\? \[7\]")
    shell.child.send("\r")  # the default
    shell.expect(r"age 8 next year")
    shell.prompt()


# -- the server goes away and comes back (last: it restarts the server) -------------------

def test_server_lost_and_back(shell: Terminal, system: System) -> None:
    shell.run("wm theta")
    shell.expect(r"Current\s+-?[\d.]+")
    shell.prompt()
    system.stop()
    shell.expect(r"Connection to door \S+ was lost", timeout=20)
    shell.expect(r"\(OFFLINE\) >")
    shell.run("wa")
    shell.expect(r"is offline .*not run")
    system.start()
    shell.expect(r"Connection to door \S+ re-established", timeout=30)
    shell.run("wm chi")
    shell.expect(r"Current\s+-?[\d.]+", timeout=20)
    shell.prompt()
    shell.run("ascan theta 0 0.2 2 0")
    shell.expect(r"Scan #\d+ ended")
    shell.prompt()
