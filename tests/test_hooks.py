"""Hooks, as Sardana's: the places of every scan fire in order, a failing hook fails the
scan naming it with its files readable, post-scan hooks finish after a stop, and the
general hooks (defgh/lsgh/udefgh, `_GeneralHooks`) run in every scan, kept across
restarts of `macroserver run` and of the Tango server."""

from __future__ import annotations

import copy
import json
import re

import h5py
import pytest
from collect import FAST_CONFIG, make_core, run, stop_after_rows
from fault_helpers import nexus_points, spec_scans
from tango_helpers import small_config, start_macroserver, write_config
from test_cli_run import macroserver

from macroserver.records import EndStatus
from macroserver.streams import Level
from macroserver.tango.client import DoorClient

HOOK_MACROS = '''
from macroserver.macros import STRING, Macro, Param


class hooked(Macro):
    """Run a scan with a hook at each of its places and one without places, each
    printing 'HOOK <place> <m1 position>'."""

    params = [Param("command", STRING, description="scan command")]

    def run(self, command):
        scan = self.create(command)
        hooks = [(self.printer(place), [place]) for place in scan.hook_places]
        scan.hooks = hooks + [self.printer("no-place")]
        self.run_macro(scan)

    def printer(self, place):
        def hook():
            self.output("HOOK %s %g" % (place, self.pool.motor("m1").position()))
        return hook


class failing_hook(Macro):
    """A scan whose pre-acq hook raises at the third point."""

    params = [Param("command", STRING, description="scan command")]

    def run(self, command):
        scan = self.create(command)
        self.calls = 0
        scan.hooks = [(self.shutter_check, ["pre-acq"])]
        self.run_macro(scan)

    def shutter_check(self):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("shutter closed")


class command_hook(Macro):
    """A scan with a macro command as its hook at one place."""

    params = [Param("command", STRING, description="scan command"),
              Param("hook", STRING, description="hook command"),
              Param("place", STRING, description="hook place")]

    def run(self, command, hook, place):
        scan = self.create(command)
        scan.hooks = [(hook, [place])]
        self.run_macro(scan)
'''

PER_POINT = ["pre-move", "post-move", "pre-acq", "post-acq", "no-place", "post-step"]
PER_ROW = ["pre-move", "pre-configuration", "post-configuration", "pre-acq", "pre-start",
           "post-acq", "no-place", "post-move"]


def hook_lines(output: list[str]) -> list[tuple[str, float]]:
    return [(line.split()[1], float(line.split()[2])) for line in output
            if line.startswith("HOOK ")]


def places(output: list[str]) -> list[str]:
    return [place for place, _ in hook_lines(output)]


@pytest.fixture
def core(tmp_path):
    config = copy.deepcopy(FAST_CONFIG)
    config["motors"]["m3"]["velocity"] = 10.0  # mv m3 2 takes 0.2 s
    folder = tmp_path / "macros"
    folder.mkdir()
    (folder / "hook_macros.py").write_text(HOOK_MACROS)
    return make_core(tmp_path, config=config, macro_path=[folder])


def test_hooks_fire_in_order_at_every_place_of_each_scan(core, tmp_path):
    expected = {
        'hooked "ascan m1 0 1 2 0"': ["pre-scan", *PER_POINT * 3, "post-scan"],
        'hooked "mesh m1 0 1 1 m2 0 1 1 0"': ["pre-scan", *PER_POINT * 4, "post-scan"],
        'hooked "timescan 1 0"': ["pre-scan", *["pre-acq", "post-acq", "no-place"] * 2,
                                  "post-scan"],
        'hooked "ct 0.01"': ["pre-acq", "post-acq", "no-place"],
        'hooked "ascanct m1 0 1 2 0.01"': ["pre-scan", *PER_ROW, "pre-cleanup",
                                           "post-cleanup", "post-scan"],
        'hooked "meshct m1 0 1 2 m2 0 1 1 0.01"': ["pre-scan", *PER_ROW * 2, "pre-cleanup",
                                                   "post-cleanup", "post-scan"],
        'hooked "mv m1 1"': ["pre-move", "post-move"],
        'hooked "umvr m1 1"': ["pre-move", "post-move"],
        'hooked "repeat 2 ct 0.01"': ["body", "body"],  # after each ct
        'hooked "repeat 3"': ["body"] * 3,  # Sardana's repeat of body hooks alone
    }
    for command, order in expected.items():
        outcome, listener = run(core, command)
        assert outcome.status is EndStatus.DONE, (command, outcome.error)
        assert places(listener.output) == order, command

    outcome, _ = run(core, "repeat 3")
    assert outcome.status is EndStatus.FAILED and "nothing to repeat" in outcome.error

    # a relative scan moves back before its post-scan hooks, as Sardana's do_restore
    run(core, "mv m1 5")
    outcome, listener = run(core, 'hooked "dscan m1 -1 1 2 0"')
    assert outcome.status is EndStatus.DONE, outcome.error
    seen = hook_lines(listener.output)
    assert seen[0] == ("pre-scan", 5.0)
    assert seen[-2] == ("post-step", 6.0) and seen[-1] == ("post-scan", 5.0)

    outcome, listener = run(core, f'hooked "newfile {tmp_path / "data" / "s.h5"} 3"')
    assert outcome.status is EndStatus.DONE, outcome.error
    assert places(listener.output) == ["post-newfile"]


def test_macro_commands_as_hooks_and_places_a_scan_does_not_have(core):
    outcome, listener = run(core, 'command_hook "ascan m2 0 1 1 0" "mv m1 3" pre-scan')
    assert outcome.status is EndStatus.DONE, outcome.error
    assert core.pool.motor("m1").position() == 3.0
    # the pre-scan hook ran before the scan was described: its snapshot has m1 at 3
    last = core.env.get("ScanHistory")[-1]
    assert last["endstatus"] == "done"

    outcome, listener = run(core, 'command_hook "ascan m2 0 1 1 0" "mv m1 4" aaaa')
    assert outcome.status is EndStatus.DONE, outcome.error
    assert core.pool.motor("m1").position() == 3.0  # never ran
    assert "ascan has no hook place 'aaaa'" in listener.text(Level.WARNING)

    scans_before = core.env.get("ScanID")
    outcome, _ = run(core, 'command_hook "ascan m2 0 1 1 0" "nosuch 1" pre-scan')
    assert outcome.status is EndStatus.FAILED
    assert "unknown macro 'nosuch'" in outcome.error
    assert core.env.get("ScanID") == scans_before  # refused before any scan started


def test_a_failing_hook_fails_the_scan_naming_it_and_the_files_are_closed(core, tmp_path):
    data = tmp_path / "data"
    core.env.update({"ScanDir": str(data), "ScanFile": ["scans.dat", "scans.h5"]})
    outcome, listener = run(core, 'failing_hook "ascan m1 0 1 4 0"')
    assert outcome.status is EndStatus.FAILED
    message = ("pre-acq hook 'failing_hook.shutter_check' failed at point 2: "
               "RuntimeError: shutter closed")
    assert message in outcome.error
    assert any(message in line for line in listener.errors)
    scan_id = core.env.get("ScanID")
    rows, labels, closing = spec_scans(data / "scans.dat")[f"{scan_id}.1"]
    assert rows == 2 and labels[1] == "m1"
    assert "failed" in closing and "shutter_check" in closing
    points, status = nexus_points(data / "scans.h5", f"entry{scan_id}")
    assert points == 2 and "failed" in status and "shutter_check" in status
    with h5py.File(data / "scans.h5", "r") as f:
        assert "end_time" in f[f"entry{scan_id}"]
    assert core.env.get("ScanHistory")[-1]["endstatus"] == "failed"


def test_post_scan_hooks_finish_after_a_stop(core):
    outcome, _ = stop_after_rows(core, 'command_hook "ascan m1 0 1 400 0.02" "mv m3 2" post-scan',
                                 rows=2)
    assert outcome.status is EndStatus.STOPPED
    assert core.pool.motor("m3").position() == 2.0  # the 0.2 s move was not cut short


def test_general_hooks_defgh_lsgh_udefgh(core):
    assert run(core, "lsgh")[1].output == ["No general hooks"]
    outcome, listener = run(core, 'defgh "mv m1 3" pre-scan')
    assert outcome.status is EndStatus.DONE, outcome.error
    assert listener.output == ["Hook: mv m1 3, hook place: pre-scan has been defined"]
    run(core, 'defgh "mv m2 -1" pre-scan post-scan')
    assert core.env.get("_GeneralHooks") == [["mv m1 3", ["pre-scan"]],
                                             ["mv m2 -1", ["pre-scan", "post-scan"]]]
    assert run(core, "lsgh")[1].output == [
        "   Hook place    Hook(s)",
        " ------------ ----------",
        "     pre-scan    mv m1 3",
        "                mv m2 -1",
        "    post-scan   mv m2 -1",
    ]  # as Sardana's (taurus') List lays it out

    outcome, _ = run(core, "ascan m3 0 1 1 0")
    assert outcome.status is EndStatus.DONE, outcome.error
    assert core.pool.motor("m1").position() == 3.0
    assert core.pool.motor("m2").position() == -1.0

    # hooks a parent sets replace the general ones (Sardana's rule), with a warning
    run(core, "mv m1 0")
    outcome, listener = run(core, 'hooked "ascan m3 0 1 1 0"')
    assert outcome.status is EndStatus.DONE, outcome.error
    assert core.pool.motor("m1").position() == 0.0
    assert "replace the 2 hook(s)" in listener.text(Level.WARNING)

    # bad definitions are refused, naming what is wrong; nothing is stored
    for command, error in [('defgh "mv m1 3" pre-scann', "no macro has the hook place "
                            "'pre-scann'"),
                           ('defgh "nosuch 1" pre-scan', "unknown macro 'nosuch'"),
                           ('defgh "mv m1" pre-scan', "mv m1")]:
        outcome, _ = run(core, command)
        assert outcome.status is EndStatus.FAILED and error in outcome.error, outcome.error
    assert len(core.env.get("_GeneralHooks")) == 2

    outcome, listener = run(core, 'udefgh "mv m2 -1" pre-scan')
    assert listener.text(Level.INFO) == "Hook: mv m2 -1, hook place: pre-scan has been undefined"
    assert core.env.get("_GeneralHooks") == [["mv m1 3", ["pre-scan"]],
                                             ["mv m2 -1", ["post-scan"]]]
    run(core, 'udefgh "mv m2 -1"')
    assert core.env.get("_GeneralHooks") == [["mv m1 3", ["pre-scan"]]]
    outcome, listener = run(core, "udefgh all")
    assert "All general hooks have been undefined." in listener.text(Level.INFO)
    assert "_GeneralHooks" not in core.env


def test_general_hooks_kept_across_macroserver_run_processes(tmp_path):
    (tmp_path / "elements.toml").write_text(
        "[motors.m1]\nlimits = [-5.0, 5.0]\n\n[motors.m2]\nlimits = [-5.0, 5.0]\n\n"
        '[channels.t]\nkind = "timer"\n\n[measurement_groups.mg]\ntimer = "t"\n'
        'channels = ["t"]\n')
    args = ["--config", str(tmp_path / "elements.toml"),
            "--env", str(tmp_path / "env" / "environment.json")]
    first = macroserver(*args, 'defgh "mv m1 3" pre-scan', cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = macroserver(*args, "lsgh", "ascan m2 0 1 1 0", "wm m1", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert re.search(r"pre-scan\s+mv m1 3", second.stdout)
    assert re.search(r"Current\s+3\b", second.stdout), second.stdout
    third = macroserver(*args, 'udefgh "mv m1 3"', cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    fourth = macroserver(*args, "lsgh", cwd=tmp_path)
    assert "No general hooks" in fourth.stdout


@pytest.mark.timeout(240)
def test_hooks_through_the_tango_door_and_across_a_restart(module_device_server, tango_db,
                                                            tmp_path):
    macros = tmp_path / "macros"
    macros.mkdir()
    (macros / "hook_macros.py").write_text(HOOK_MACROS)
    config = write_config(tmp_path, text=small_config(motors="[motors.m2]\n\n"))
    server = start_macroserver(module_device_server, tango_db.tango_host, "hooks", tmp_path,
                               config, macro_path=[macros])
    server.set_env({"ActiveMntGrp": "mg", "JsonRecorder": False})
    with DoorClient(server.door, timeout_ms=30000) as client:
        info = client.macro_info("ascan")
        assert info["hints"]["allowsHooks"] == ["pre-scan", "pre-move", "post-move",
                                                "pre-acq", "post-acq", "post-step",
                                                "post-scan"]
        assert client.macro_info("mv")["hints"]["allowsHooks"] == ["pre-move", "post-move"]
        assert "allowsHooks" not in client.macro_info("lsm")["hints"]
        outcome = client.run('hooked "ascan m1 0 1 1 0"', timeout=60)
        assert outcome.ok, outcome.error
        assert places(outcome.messages["Output"]) == ["pre-scan", *PER_POINT * 2,
                                                      "post-scan"]
        outcome = client.run('defgh "mv m2 7" pre-scan', timeout=30)
        assert outcome.ok, outcome.error
    assert json.loads(server.env_path.read_text())  # written through to the file

    server.kill()
    server.start()
    with DoorClient(server.door, timeout_ms=30000) as client:
        outcome = client.run("lsgh", timeout=30)
        assert any(re.search(r"pre-scan\s+mv m2 7", line)
                   for line in outcome.messages["Output"]), outcome.messages
        outcome = client.run("ascan m1 0 1 1 0", timeout=60)
        assert outcome.ok, outcome.error
        outcome = client.run("wm m2", timeout=30)
        assert any(re.search(r"Current\s+7\b", line) for line in outcome.messages["Output"])
        outcome = client.run("failing_hook \"ascan m1 0 1 3 0\"", timeout=60)
        assert outcome.state == "exception"
        assert "pre-acq hook 'failing_hook.shutter_check' failed at point 2" in outcome.error
        assert client.run("udefgh all", timeout=30).ok
