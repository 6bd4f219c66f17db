"""Custom scans written on Sardana's `sardana.macroserver.scan` (SScan, CScan, CTScan,
MoveableDesc, ColumnDesc, step dictionaries) and Sardana 3.7.1's own example macros about
hooks and scans (copied from the installed package to a temporary MacroPath), run on our
engine: the same files (SPEC read by silx, NeXus by h5py) and JSON packets as our `ascan`,
hooks in Sardana's order, a stop mid-scan closing the files `stopped`; in-process, through
`macroserver run` and through the Tango door. (tests/test_sardana_macros.py runs every
example, these included, also where `sardana` cannot be imported.)

Left out of the examples, with the reason: `hooked_dummyscan` (`dummyscan` ships only with
Sardana's tests), `ascan_with_addcustomdata` and `ascanct_midtrigger` (they read the whole
scan back from memory, `data.records`, and write through Sardana's data handler: our
engine keeps no scan in memory), `xas_acq` (instruments and its own environment)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import h5py
import pytest
from collect import Collect, make_core, run, stop_after_rows
from fault_helpers import data_rows, spec_scans
from tango_helpers import demo_config, start_macroserver
from test_cli_run import macroserver

from macroserver.records import EndStatus
from macroserver.streams import Level
from macroserver.tango.client import DoorClient


def sardana_examples() -> Path:
    spec = importlib.util.find_spec("sardana")
    assert spec is not None and spec.submodule_search_locations, "sardana is not installed"
    return Path(spec.submodule_search_locations[0]) / "macroserver" / "macros" / "examples"


HOOKED = '''
from sardana.macroserver.macro import Macro, Type


class hooked_custom(Macro):
    """A Sardana-style parent attaching a printing hook at every place of a scan."""

    param_def = [["command", Type.String, None, "scan command"]]

    def run(self, command):
        scan, _ = self.createMacro(command)
        places = ["pre-scan", "pre-move", "post-move", "pre-acq", "post-acq", "post-step",
                  "post-scan"]
        scan.hooks = [(self.printer(place), [place]) for place in places]
        self.runMacro(scan)

    def printer(self, place):
        def hook():
            self.output("HOOK " + place)
        return hook
'''


CT_CUSTOM = '''
from sardana.macroserver.macro import Hookable, Macro, Type
from sardana.macroserver.scan import CTScan, MoveableDesc


class ct_custom(Macro, Hookable):
    """A continuous scan over two waypoints (there and back), Sardana's CTScan style."""

    hints = {"allowsHooks": ("pre-scan", "pre-move", "post-move", "pre-acq", "post-acq",
                             "post-scan")}
    param_def = [["motor", Type.Moveable, None, "motor"],
                 ["integ_time", Type.Float, None, "integration time"]]

    def prepare(self, motor, integ_time, **opts):
        self.integ_time, self.nr_interv, self.nb_points, self.latency_time = integ_time, 4, 5, 0
        self._gScan = CTScan(self, self._waypoints,
                             [MoveableDesc(moveable=motor, is_reference=True)])

    def _waypoints(self):
        yield {"start_positions": [0.0], "positions": [1.0], "waypoint_id": 0}
        yield {"start_positions": [1.0], "positions": [0.0], "waypoint_id": 1}

    def run(self, *args):
        for step in self._gScan.step_scan():
            yield step
'''


@pytest.fixture
def macro_path(tmp_path):
    folder = tmp_path / "macros"
    folder.mkdir()
    for name in ("hooks.py", "scans.py"):
        shutil.copy(sardana_examples() / name, folder / name)
    (folder / "hooked_custom.py").write_text(HOOKED)
    (folder / "ct_custom.py").write_text(CT_CUSTOM)
    return folder


@pytest.fixture
def core(tmp_path, macro_path):
    core = make_core(tmp_path, config="demo", macro_path=[macro_path],
                     env={"ScanDir": str(tmp_path / "data"), "ScanFile": ["s.dat", "s.h5"],
                          "JsonRecorder": True})
    assert not core.load_problems, core.load_problems
    return core


def hooks_fired(output: list[str]) -> list[str]:
    return [line.split()[1] for line in output if line.startswith("HOOK ")]


def data_desc(listener: Collect) -> dict:
    packets = [json.loads(payload) for _, payload in listener.records]
    return next(p["data"] for p in packets if p["type"] == "data_desc")


def test_custom_scans_write_what_ascan_writes(core, tmp_path):
    data = tmp_path / "data"
    ours, ours_listener = run(core, "ascan theta 0 1 4 0.01")
    assert ours.status is EndStatus.DONE, ours.error
    custom, custom_listener = run(core, "ascan_demo theta 0 1 4 0.01")
    assert custom.status is EndStatus.DONE, custom.error
    scans = spec_scans(data / "s.dat")
    assert scans["2.1"][:2] == scans["1.1"][:2]  # rows and labels
    assert "done" in scans["2.1"][2]
    with h5py.File(data / "s.h5", "r") as f:
        assert sorted(f["entry2/measurement"]) == sorted(f["entry1/measurement"])
        assert list(f["entry2/measurement/theta"][()]) == pytest.approx(
            [0, 0.25, 0.5, 0.75, 1])
    assert [c["name"] for c in data_desc(custom_listener)["column_desc"]] == \
        [c["name"] for c in data_desc(ours_listener)["column_desc"]]
    assert core.env.get("ScanHistory")[-1]["title"].startswith("ascan_demo")


def test_sardana_example_scans_run_to_their_end(core, tmp_path):
    data = tmp_path / "data"
    for command, points in [("ascanr theta 0 1 2 0.01 2", 6),
                            ("toothedtriangle theta 0 1 2 0.01 1 2", 10),
                            ("a2scan_mod theta 0 1 4 chi 0 1 2 0.01", 5),
                            ("ascanc_demo theta 0 0.5 0.05", None),
                            ("ct_custom theta 0.05", 10)]:
        outcome, _ = run(core, command, timeout=60)
        assert outcome.status is EndStatus.DONE, (command, outcome.error)
        history = core.env.get("ScanHistory")[-1]
        assert history["endstatus"] == "done"
        if points is not None:
            assert history["points"] == points, command
    scans = spec_scans(data / "s.dat")
    rows, labels, _ = scans["1.1"]  # ascanr: the extra column filled from extrainfo
    assert rows == 6 and "repetition" in labels
    with h5py.File(data / "s.h5", "r") as f:
        assert list(f["entry1/measurement/repetition"][()]) == [0, 1, 0, 1, 0, 1]
        assert list(f["entry1/measurement/theta"][()]) == pytest.approx(
            [0, 0, 0.5, 0.5, 1, 1], abs=1e-6)  # None: theta stays for the repetitions
        assert list(f["entry2/measurement/interval"][()]) == [0, 0, 1, 1, 2, 2, 1, 1, 0, 0]
        chi = f["entry3/measurement/chi"][()]
        assert list(chi) == pytest.approx([0, 0, 0.5, 0.5, 1], abs=1e-6)
        assert len(f["entry4/measurement/theta"]) > 2  # ascanc_demo: one per integ_time
        planned = f["entry5/measurement/theta_planned"][()]  # ct_custom: there and back
        assert list(planned) == pytest.approx([0, 0.25, 0.5, 0.75, 1, 1, 0.75, 0.5, 0.25, 0])


def test_hooks_of_sardana_examples_and_custom_scans_fire_in_order(core):
    outcome, listener = run(core, "captain_hook 0 3 1")
    assert outcome.status is EndStatus.DONE, outcome.error
    assert listener.text(Level.INFO).count("hook execution") == 3
    outcome, listener = run(core, "hooked_scan theta 0 1 2 0.01")
    assert outcome.status is EndStatus.DONE, outcome.error

    # ascanr allows no pre-scan/post-scan; its repetitions (positions None) do not move
    outcome, listener = run(core, 'hooked_custom "ascanr theta 0 1 1 0.01 2"')
    assert outcome.status is EndStatus.DONE, outcome.error
    moved = ["pre-move", "post-move", "pre-acq", "post-acq", "post-step"]
    stayed = ["pre-acq", "post-acq", "post-step"]
    assert hooks_fired(listener.output) == (moved + stayed) * 2
    outcome, listener = run(core, 'hooked_custom "toothedtriangle theta 0 1 1 0.01 1"')
    assert outcome.status is EndStatus.DONE, outcome.error
    assert hooks_fired(listener.output) == ["pre-scan", *moved * 3, "post-scan"]
    # a CTScan: per waypoint row, the places ct_custom allows
    outcome, listener = run(core, 'hooked_custom "ct_custom theta 0.05"', timeout=60)
    assert outcome.status is EndStatus.DONE, outcome.error
    row = ["pre-move", "pre-acq", "post-acq", "post-move"]
    assert hooks_fired(listener.output) == ["pre-scan", *row * 2, "post-scan"]


def test_a_stop_in_a_custom_scan_closes_its_files_stopped(core, tmp_path):
    outcome, _ = stop_after_rows(core, "ascan_demo theta 0 1 400 0.02", rows=3)
    assert outcome.status is EndStatus.STOPPED
    rows, _, closing = spec_scans(tmp_path / "data" / "s.dat")["1.1"]
    assert 3 <= rows < 401 and "stopped" in closing


def test_sardana_examples_through_macroserver_run_and_the_tango_door(
        macro_path, tmp_path, module_device_server, tango_db):
    env = tmp_path / "env.json"
    result = macroserver("--config", str(demo_config(tmp_path)), "--env", str(env),
                         "--macro-path", str(macro_path), "senv ActiveMntGrp mg_demo",
                         "captain_hook2 0 2 1", "toothedtriangle theta 0 1 2 0.01 1",
                         cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Finished loop" in result.stdout
    assert len(data_rows(result.stdout.splitlines())) == 5

    server = start_macroserver(module_device_server, tango_db.tango_host, "sardanascans",
                               tmp_path / "tango", macro_path=[macro_path])
    server.set_env({"ActiveMntGrp": "mg_demo", "JsonRecorder": False})
    with DoorClient(server.door, timeout_ms=30000) as client:
        assert client.macro_info("ascanr")["hints"]["allowsHooks"] == [
            "pre-move", "post-move", "pre-acq", "post-acq", "post-step"]
        for command in ("hooked_scan theta 0 1 2 0.01", "ascanr theta 0 1 2 0.01 2",
                        'hooked_custom "ascan_demo theta 0 1 1 0.01"'):
            outcome = client.run(command, timeout=60)
            assert outcome.ok, (command, outcome.error)
        assert hooks_fired(outcome.messages["Output"]) == []  # ascan_demo allows no hooks
