"""Measurement groups from the shell (defmeas, udefmeas, lsmeas, set_meas, get_meas,
set_meas_conf, get_meas_conf) and the element lists (lsa, lsct, ls0d, ls1d, ls2d, lsdef,
lsmaclib, lsrec), through `macroserver run`, in Sardana's layouts. What is changed is
there after a restart: fresh processes; the other runs from one process
(test_cli_run.run_each: each run still builds its server from the state files)."""

from __future__ import annotations

import json
import re

from test_cli_run import run_configured, run_each

CONFIG = """
[motors.m1]
limits = [-5.0, 5.0]

[channels.t]
kind = "timer"

[channels.c1]
kind = "counter"
motor = "m1"

[channels.c2]
kind = "counter"
motor = "m1"

[channels.spec]
kind = "spectrum"
shape = [8]

[measurement_groups.mg]
timer = "t"
channels = ["t", "c1", "spec"]
"""


def run(tmp_path, *commands):
    return run_configured(tmp_path, CONFIG, *commands)


def test_groups_defined_changed_and_removed_are_kept_across_restarts(tmp_path):
    done = run(tmp_path, "defmeas mg2 t c2", "set_meas mg2", "set_meas mg ascan",
               "set_meas_conf enabled False [spec] mg", "set_meas_conf plottype Image [spec] mg",
               "set_meas_conf timer c1 [] mg")
    assert done.returncode == 0, done.stderr
    assert "Created mg2" in done.stdout
    # a fresh process: the new group, its activation, the changed configuration
    done = run(tmp_path, "lsmeas", "get_meas", "get_meas ascan", "get_meas_conf simple mg",
               "ct 0.01")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:4] == [
        "  Active    Name Experim. channels  ",
        " -------- ------ -------------------",
        "              mg t, c1, spec        ",
        "    *        mg2 t, c2              "]  # as Sardana's lsmeas (taurus' List)
    assert "ActiveMntGrp = mg2\nActiveMntGrp = mg\n" in done.stdout
    assert "\n".join([
        "   Channel   enabled   output   plottype   plotaxes",
        " --------- --------- -------- ---------- ----------",
        "         t      True     True   Spectrum      <mov>",
        "        c1      True     True   Spectrum      <mov>",
        "      spec     False     True      Image        n/a"]) in done.stdout
    assert re.search(r"^t\s+=\s+0\.01$", done.stdout, re.M) and "c2  =" in done.stdout  # mg2
    # the timer came first in mg's columns; a scan acquires only what is enabled
    done = run(tmp_path, "ascan m1 0 1 2 0.01")
    assert done.returncode == 0, done.stderr
    header = next(line for line in done.stdout.splitlines() if "#Pt No" in line).split()
    assert header[3:] == ["c1", "t", "dt"] or header[3:5] == ["c1", "t"]
    kept = json.loads((tmp_path / "state" / "measurement_groups.json").read_text())
    assert kept["groups"]["mg"]["enabled"] == ["c1", "t"] and kept["groups"]["mg"]["timer"] == "c1"

    done = run(tmp_path, "udefmeas mg mg2")
    assert done.stdout.splitlines() == ["Deleted mg", "Deleted mg2"]
    done = run(tmp_path, "lsmeas")
    assert done.stdout.strip() == "No measurementgroups defined"


def test_bad_group_commands_are_refused_with_the_reason(tmp_path):
    cases = {"defmeas mg t": "a measurement group named 'mg' already exists",
             "defmeas new nosuch": "nosuch",
             "defmeas 9x t": "'9x' cannot name a measurement group",
             "defmeas dup t t": "a channel is given twice",
             "set_meas_conf enabled False [t] mg": "the timer 't' must be an enabled channel",
             "set_meas_conf synchronizer tg1 [] mg": "synchronizer is not used here",
             "set_meas_conf colour red [] mg": "wrong parameter: colour",
             "set_meas_conf output maybe [] mg": "maybe is not a boolean",
             "set_meas_conf enabled True [c2] mg": "c2: not channels of mg",
             "get_meas_conf everything mg": "wrong detail level: everything"}
    *refusals, get_meas, lsmeas = run_each(tmp_path, CONFIG, [*cases, "get_meas", "lsmeas"])
    for (command, reason), done in zip(cases.items(), refusals):
        assert done.returncode == 1 and reason in done.stderr, (command, done.stderr)
    assert "Active measurement group is not set" in get_meas.stderr + get_meas.stdout
    assert "mg" in lsmeas.stdout  # nothing changed


def test_element_and_library_lists_in_sardanas_layout(tmp_path):
    done, lsm, lsp, lsexp = run_each(tmp_path, CONFIG, [
        ("lsa", "lsct", "ls0d", "ls1d", "ls2d", "lsa c.*", "lsdef ct", "lsmaclib groups",
         "lsrec spec"),
        ("lsm", "lsmac lsm.*"), ("lsp", "lsi", "prdef lsp"),
        ("lsexp", "lspm", "lstg", "lsreclib n.*")])
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "\n".join([
        "   Name             Type   Controller   Axis",
        " ------ ---------------- ------------ ------",
        "     c1     CTExpChannel   simulation      3",
        "     c2     CTExpChannel   simulation      4",
        "     m1            Motor   simulation      1",
        "   spec   OneDExpChannel   simulation      5",
        "      t     CTExpChannel   simulation      2"]) in out
    assert "No zerodexpchannels defined" in out
    assert "   Name             Type   Controller   Axis\n ------ ---------------- " \
           "------------ ------\n   spec   OneDExpChannel   simulation      5" in out
    assert "No twodexpchannels defined" in out
    assert " Name   Module Brief Description" in out and "   ct   motion Count with" in out
    assert "   groups " in out and out.count("groups.py") == 1
    assert out.endswith("   Name   Module\n ------ --------\n   spec     spec\n")
    done = lsm
    assert done.stdout.splitlines()[:3] == ["   Name    Type   Controller   Axis",
                                            " ------ ------- ------------ ------",
                                            "     m1   Motor   simulation      1"]
    assert [line.split()[0] for line in done.stdout.splitlines()[5:]] == [
        "lsm", "lsmac", "lsmaclib", "lsmeas", "lsmeta", "lsmg"]
    assert lsp.stdout.splitlines() == [
        "No pools defined", "No instruments defined", "class lsp(_lsobj):",
        '    """Lists all pools (none: the elements come from the configuration file)."""',
        "", '    types, what = ("Pool",), "pool"']
    done = lsexp
    assert done.returncode == 0, done.stderr
    assert "     c2     CTExpChannel   simulation      4" in done.stdout
    assert "m1" not in done.stdout  # channels only
    assert "No pseudomotors defined\nNo triggergates defined\n" in done.stdout
    assert done.stdout.splitlines()[-1].split()[0] == "nexus"
    assert done.stdout.splitlines()[-1].endswith("recorders/nexus.py")


def test_pre_scan_snapshot_group_from_the_shell(tmp_path):
    refusals = {"defsnap m1": "m1 already in pre-scan snapshot",
                "defsnap nosuch": "'nosuch' is not a motor",
                "udefsnap c1": "c1 not in pre-scan snapshot"}
    empty, done, *refused, done_last = run_each(tmp_path, CONFIG, [
        "lssnap", ("senv Sample x", "defsnap m1 Sample", "lssnap"), *refusals,
        ("udefsnap m1", "lssnap", "udefsnap", "lssnap")])
    assert empty.stdout == "No pre-scan snapshot\n"
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == [
        "   Snap item   Snap item full name", " ----------- ---------------------",
        "          m1                    m1", "      Sample                Sample"]
    for (command, reason), done in zip(refusals.items(), refused):
        assert done.returncode == 1 and reason in done.stderr, (command, done.stderr)
    done = done_last
    assert done.stdout.splitlines()[2:] == ["      Sample                Sample",
                                            "No pre-scan snapshot"]
