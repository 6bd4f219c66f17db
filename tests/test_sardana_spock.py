"""spock (sardana 3.7.1 + itango from PyPI, unchanged) on our door, in a pseudo-terminal.

A real `macroserver serve` process with a MacroPath folder of test macros. spock runs
with HOME and IPYTHONDIR in a temporary folder (it creates its profile there, choosing
our door from the list it shows). What spock prints is judged; nothing of ours runs on
the client side.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pexpect
import pytest
from collect import wait_until
from tango_helpers import SIM_CONFIG, MacroServerInstance, start_macroserver, write_config

pytest.importorskip("sardana.spock", reason="the sardana-clients extra is not installed")

pytestmark = pytest.mark.timeout(600)

PROMPT = r"\[\d+\]: "
SPOCK = str(Path(sys.executable).with_name("spock"))  # installed beside this Python

TEST_MACROS = '''"""Macros the spock tests run."""

import time

from macroserver.macros import Macro


class ask_name(Macro):
    """Ask for a name and greet."""

    def run(self) -> None:
        name = self.input("Your name?")
        self.output(f"Hello {name}")


class stubborn(Macro):
    """Runs until aborted: a stop does not end it."""

    def run(self) -> None:
        while True:
            self.context.control.check_abort()
            time.sleep(0.05)


class greet(Macro):
    """Say hello."""

    def run(self) -> None:
        self.output("hello from greet")
'''

# an $EDITOR for edmac: changes the file IPython's %edit hands it (the last argument)
EDITOR = """#!/bin/sh
for f; do :; done
sed -i 's/hello from greet/howdy from greet/' "$f"
"""


@pytest.fixture(scope="module")
def ms(tango_db, module_device_server, tmp_path_factory) -> MacroServerInstance:
    folder = tmp_path_factory.mktemp("ms-spock")
    macros = folder / "macros"
    macros.mkdir()
    (macros / "spocktest.py").write_text(TEST_MACROS)
    config = write_config(folder, text=f'macro_path = ["{macros}"]\n' + SIM_CONFIG)
    instance = start_macroserver(module_device_server, tango_db.tango_host, "spk", folder,
                                 config)
    instance.set_env({"ScanDir": str(instance.data_dir), "ActiveMntGrp": "mg1"})
    return instance


class Spock:
    """spock in a pseudo-terminal: run a line, wait for the next prompt, get the output."""

    def __init__(self, ms: MacroServerInstance, home: Path) -> None:
        editor = home / "editor.sh"
        editor.write_text(EDITOR)
        editor.chmod(0o755)
        env = dict(os.environ, TANGO_HOST=ms.tango_host, HOME=str(home),
                   IPYTHONDIR=str(home / ".ipython"), EDITOR=str(editor), TERM="dumb")
        env.pop("PYTHONPATH", None)  # nothing of ours on the client side
        self.child = pexpect.spawn(SPOCK, ["--profile=test"], env=env, encoding="utf-8",
                                   timeout=60, dimensions=(50, 200))
        self.child.expect(r"create one now.*\? ")
        self.child.sendline("y")
        self.child.expect(r"Door name from the list.*\? ")
        self.child.sendline(ms.doors[0])
        self.child.expect(PROMPT)

    def run(self, line: str, timeout: float = 60) -> str:
        """Output of `line` until the prompt is back (colour codes removed)."""
        self.child.sendline(line)
        self.child.expect(PROMPT, timeout=timeout)
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", self.child.before)

    def close(self) -> None:
        self.child.sendline("exit")
        self.child.expect(pexpect.EOF, timeout=30)


def wa_table(out: str) -> dict[str, tuple[float, float]]:
    """(user, dial) of each motor in Sardana's wa table: a row of names, then the
    `User` and `Dial` rows under them (blocks of columns)."""
    lines = [line for line in out.splitlines() if line.strip()]
    found: dict[str, tuple[float, float]] = {}
    for i, line in enumerate(lines):
        if line.startswith("User ") and i and i + 1 < len(lines):
            names = lines[i - 1].split()
            users, dials = line.split()[1:], lines[i + 1].split()[1:]
            found.update(zip(names, zip(map(float, users), map(float, dials))))
    return found


@pytest.fixture(scope="module")
def spock(ms, tmp_path_factory):
    shell = Spock(ms, tmp_path_factory.mktemp("spock-home"))
    yield shell
    shell.close()


def test_macros_are_commands_with_sardanas_forms(spock, ms) -> None:
    out = spock.run("ascan theta 0 0.5 5 0.01")
    rows = [line.split() for line in out.splitlines() if re.match(r"\s+\d+\s", line)]
    assert [row[0] for row in rows] == ["0", "1", "2", "3", "4", "5"]
    assert [float(row[1]) for row in rows] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert "Scan #" in out and "ended" in out
    out = spock.run("wa")
    assert "Current positions (user, dial) on" in out
    assert wa_table(out)["theta"] == (0.5, 0.5) and "m1" in wa_table(out)
    out = spock.run("wa th.*")  # Sardana's filter
    assert "theta" in out and "m1" not in out
    assert re.search(r"Current\s+0\.5", spock.run("wm theta"))
    spock.run("mv theta 1")
    assert ms.proxy("door").state().name == "ON"
    assert wa_table(spock.run("wa"))["theta"] == (1.0, 1.0)
    out = spock.run("umv theta 0")
    assert "theta" in out
    assert wa_table(spock.run("wa"))["theta"] == (0.0, 0.0)
    out = spock.run("simulate ascan theta 0 1 10 0.1")  # our `simulate` macro, as spock
    assert "11 point(s), step scan" in out and "theta: 0 -> 1 deg" in out
    assert wa_table(spock.run("wa"))["theta"] == (0.0, 0.0)
    out = spock.run("ct 0.1")
    assert re.search(r"timer\s+=\s+0\.1", out) and "ct1" in out
    assert re.search(r"timer\s+=\s+0\.2", spock.run("ct 0.2 mg1"))  # Sardana's countable
    spock.run("senv ScanFile ['a.dat','b.h5']")
    assert ms.environment()["ScanFile"] == ["a.dat", "b.h5"]
    out = spock.run("lsenv")
    assert "ScanFile" in out and "['a.dat', 'b.h5']" in out
    assert "ScanDir" in spock.run("lsenv ascan")  # lsenv <macro>...
    assert "Success" in spock.run("usenv ScanFile")
    assert "ScanFile" not in ms.environment()
    out = spock.run("lsmac")
    assert "ascan" in out and "ask_name" in out
    assert re.search(r"theta\s+Motor\s+simulation\s+3", spock.run("lsm"))  # Sardana's columns


def test_errors_and_www(spock) -> None:
    out = spock.run("mv theta 100")
    assert "outside its limits" in out
    assert "outside its limits" in spock.run("www")  # the last error, from MacroStatus
    out = spock.run("ascan nosuch 0 1 2 0")  # refused at RunMacro
    assert "nosuch" in out and "Traceback" not in out and "AttributeError" not in out


def test_tab_completion_of_macro_names_and_parameters(spock) -> None:
    def completed(text: str) -> str:
        spock.child.send(text + "\t")
        time.sleep(1)
        spock.child.send(" ")  # closes the completion menu, keeps what it completed
        time.sleep(0.3)
        spock.child.sendline("")
        spock.child.expect(PROMPT)
        return spock.child.before

    assert re.search(r"(hello|howdy) from greet", completed("gree"))
    assert re.search(r"Current\s+", completed("wm th"))


def test_input_ctrl_c_and_edmac(spock, ms) -> None:
    spock.child.sendline("ask_name")
    spock.child.expect(r"Your name\? ")
    spock.child.sendline("Ada")
    spock.child.expect("Hello Ada")
    spock.child.expect(PROMPT)
    # Ctrl-C stops; a macro that ignores the stop is aborted by the second Ctrl-C
    spock.child.sendline("stubborn")
    door = ms.proxy("door")
    wait_until(lambda: door.state().name == "RUNNING", "stubborn running")  # not a guess
    spock.child.sendintr()
    spock.child.expect("Stopping")
    time.sleep(1)
    spock.child.sendintr()
    spock.child.expect("Aborting")
    spock.child.expect(PROMPT)
    assert ms.proxy("door").state().name == "ON"
    # edmac reads the library, the editor changes it, it is written back and reloaded
    spock.child.sendline("edmac greet")
    spock.child.expect("apply the new code")
    spock.child.sendline("y")
    spock.child.expect(PROMPT)
    assert "DONE" in spock.child.before
    assert "howdy from greet" in spock.run("greet")
    assert "howdy from greet" in (ms.folder / "macros" / "spocktest.py").read_text()


def test_wa_a_hundred_times_in_a_row_never_hangs(spock) -> None:
    for _ in range(100):
        assert "theta" in spock.run("wa", timeout=20)


def test_statistics_alignment_and_the_standard_set(spock, ms) -> None:
    spock.run("senv ScanDir " + str(ms.data_dir))
    out = spock.run("newfile scans.dat 7")  # Sardana's parser: one file, then ScanID
    assert "Next scan is" in out and "#8" in out
    assert ms.environment()["ScanFile"] == ["scans.dat"]
    spock.run("ascan m1 -4 6 20 0.01")  # ct1 peaks at m1 = 0; the step is 0.5
    out = spock.run("scanstats")
    assert "Statistics for movable: m1" in out and re.search(r"MAX@\s+0\b", out)
    out = spock.run("pic ct1")
    assert "to PIC of counter ct1" in out
    assert abs(float(re.findall(r"at (-?[\d.]+)", spock.run("where"))[-1])) <= 0.5
    assert "to CEN of counter ct1" in spock.run("cen")
    assert "to COM of counter ct1" in spock.run("com ct1 m1 0.5")
    assert "ascan m1 -4 6 20 0.01" in spock.run("scanhist")
    out = spock.run("macrodata")  # Sardana's RecordData read: the last scan's records
    assert "'point_nb': 0" in out and "'ct1':" in out and "'point_nb': 20" in out
    for line in ("dmesh m1 0 1 1 m2 0 1 1 0.01", "rscan m1 0 [[1 1] [2 1]] 0.01",
                 "r2scan m1 m2 0 [[1 1]] 0.01", "amultiscan [[m1 0 1] [m2 0 1]] 1 0.01",
                 "dmultiscan [[m1 0 1]] 1 0.01", "d3scan m1 0 1 m2 0 1 theta 0 1 1 0.01",
                 "ascanh m1 0 1 1 0.01"):
        assert "ended" in spock.run(line), line
    assert "no velocity to scan continuously" in spock.run("ascanc m1 0 1 0.01")
    assert spock.run("repeat 2 ct 0.01").count("ct1") == 2
    spock.run("sleep 0.1")
    spock.run("setvo PosFormat 2")
    assert re.search(r"PosFormat\s+2", spock.run("lsvo"))
    spock.run("usetvo PosFormat")
    assert re.search(r"ScanID\s+\d+\s+int", spock.run("dumpenv"))
    spock.run("report spock was here")
    spock.run("logmacro False")
    assert ms.environment()["LogMacro"] is False
    # tw asks at the terminal, as Sardana's does
    spock.child.sendline("tw m1 0.5")
    spock.child.expect(r"which way\? ")
    spock.child.sendline("+")
    spock.child.expect(r"which way\? ")
    spock.child.sendline("q")
    spock.child.expect(PROMPT)
    assert "caused 'tw' macro to stop" in spock.child.before
    spock.run("mv m1 0 m2 0")  # as the next tests of this session expect them


def test_motor_calibration_and_measurement_groups_from_spock(spock, ms) -> None:
    """Sardana's shell drives the calibration and group macros: their output as Sardana
    prints it, a group defined here is known to spock at once (Elements event)."""
    out = spock.run("set_user_pos m2 5")
    assert "m2 reset from 0.0000 (offset 0.0000) to 5.0000 (offset 5.0000)" in out
    out = spock.run("wm m2")
    assert re.search(r"User\s*\n High\s+1005\.0\s*\n Current\s+5\.0\s*\n Low\s+-995\.0\s*\n"
                     r"Dial\s*\n High\s+inf\s*\n Current\s+0\.0\s*\n Low\s+-inf", out), out
    assert wa_table(spock.run("wa m.*"))["m2"] == (5.0, 0.0)
    out = spock.run("wu")
    assert "Current positions (user) on" in out and re.search(r"m2\s+theta", out)
    assert "m2 limits set to -100.0000 100.0000 (dial units)" in spock.run(
        "set_dial_lim m2 -100 100")
    assert "outside its limits" in spock.run("mv m2 200")  # dial 195: beyond 100
    assert "Motor ON" in spock.run("mstate m2")
    out = spock.run("uct 0.2 mg1")  # the updating table, as Sardana's uct shows it
    assert re.search(r"timer\s+ct1", out) and re.search(r"0\.2000\s+\d+\.\d{4}", out), out
    assert "Created spockmg" in spock.run("defmeas spockmg timer ct1")
    out = spock.run("lsmeas")
    assert re.search(r"\s+spockmg timer, ct1", out) and "mg1" in out
    assert re.search(r"timer\s+=\s+0\.05", spock.run("ct 0.05 spockmg"))  # a Countable now
    out = spock.run("get_meas_conf simple spockmg")
    assert re.search(r"Channel\s+enabled\s+output\s+plottype\s+plotaxes", out)
    assert re.search(r"ct1\s+True\s+True\s+Spectrum\s+<mov>", out)
    assert "CTExpChannel" in spock.run("lsct") and "Motor" in spock.run("lsa")
    assert "Deleted spockmg" in spock.run("udefmeas spockmg")
    assert "spockmg" not in spock.run("lsmeas")
    spock.run("set_user_pos m2 0")
    assert wa_table(spock.run("wa m2"))["m2"] == (0.0, 0.0)
