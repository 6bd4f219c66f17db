"""Sardana's Qt GUIs, unchanged from PyPI (sardana 3.7.1, taurus 5.4.1, PyQt5), on our
server (issue 12 item 3).

Each GUI runs offscreen in a child process (tests/gui/*.py: a Qt crash cannot take pytest
down), with HOME in a temporary folder for Taurus' settings; dialogs are recorded instead
of shown and uncaught exceptions collected, and both must stay empty. One MacroServer
instance ("sg") per module, on element names no other test uses (so their aliases are
ours: expconf opens a measurement group by its name).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tango
from tango_helpers import MacroServerInstance, start_macroserver

pytestmark = pytest.mark.timeout(300)

GUI_DIR = Path(__file__).parent / "gui"
RESULT_PREFIX = "GUI-RESULT "

CONFIG = """\
data_roots = []

[motors.sgm1]
limits = [-10.0, 10.0]
unit = "mm"

[channels.sgtimer]
kind = "timer"
unit = "s"

[channels.sgct]
kind = "counter"
motor = "sgm1"

[channels.sgspec]
kind = "spectrum"
shape = [32]
motor = "sgm1"

[measurement_groups.sgmg]
timer = "sgtimer"
channels = ["sgtimer", "sgct", "sgspec"]

[measurement_groups.sgmg2]
timer = "sgtimer"
channels = ["sgtimer", "sgct"]
"""


@pytest.fixture(scope="module")
def ms(tango_db, module_device_server, tmp_path_factory) -> MacroServerInstance:
    folder = tmp_path_factory.mktemp("ms-sg")
    config = folder / "gui.toml"
    config.write_text(CONFIG)
    instance = start_macroserver(module_device_server, tango_db.tango_host, "sg", folder, config)
    instance.set_env({"ActiveMntGrp": "sgmg", "JsonRecorder": True,
                      "ScanDir": str(instance.data_dir), "ScanFile": "gui.dat"})
    return instance


def run_gui(script: str, *args: str, home: Path, timeout: float = 180) -> dict[str, Any]:
    """Run tests/gui/<script> offscreen; the result it printed."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(home),
           "XDG_RUNTIME_DIR": str(home), "PYTHONPATH": os.pathsep.join(
               [str(GUI_DIR), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(GUI_DIR / script), *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    assert done.returncode == 0 and lines, (
        f"{script} exited with {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def assert_clean(result: dict[str, Any]) -> None:
    """No dialog, no uncaught exception, no bounded wait that ran out."""
    assert result["dialogs"] == [] and result["errors"] == [], (result["dialogs"],
                                                                result["errors"])
    assert not result.get("timeouts"), result.get("timeouts")


def test_taurus_forms_show_every_attribute_of_the_element_devices(
    ms: MacroServerInstance, tmp_path: Path
) -> None:
    devices = [f"tango://{ms.tango_host}/{name}" for name in
               ("motor/sg/sgm1", "expchan/sg/sgct", "expchan/sg/sgspec", "mntgrp/sg/sgmg")]
    result = run_gui("forms.py", *devices, home=tmp_path)
    assert_clean(result)
    values = result["values"]
    for device in devices:
        attributes = tango.DeviceProxy(device).get_attribute_list()
        for attribute in attributes:
            assert values[f"{device}/{attribute}"] not in ("", "-----", "None"), attribute
    assert values[f"{devices[0]}/Status"] == "sgm1 is idle"
    assert values[f"{devices[3]}/ElementList"] == "('sgtimer', 'sgct', 'sgspec')"


def test_taurus_forms_show_every_attribute_of_the_door_and_macroserver(
    ms: MacroServerInstance, tmp_path: Path
) -> None:
    devices = [ms.door, ms.ms]
    result = run_gui("forms.py", *devices, home=tmp_path)
    assert_clean(result)
    values = result["values"]
    for device in devices:
        for attribute in tango.DeviceProxy(device).get_attribute_list():
            assert values[f"{device}/{attribute}"] not in ("", "-----", "None"), attribute
    assert values[f"{ms.door}/MacroServer"] == ms.macro_server
    assert values[f"{ms.ms}/Status"].startswith("ready")


def test_macroexecutor_lists_our_macros_edits_ascan_and_runs_it_to_100_percent(
    ms: MacroServerInstance, tmp_path: Path
) -> None:
    """What a user sees in macroexecutor: the bar moving from 0 through the scan's steps
    to 100 with its "at N % of progress" messages, and in the output pane the scan's
    start line with our forecast ("It will take about ...") and its end line. Time left
    it cannot show: its code reads `state`, `range`, `step` and `id` of the MacroStatus
    packets, though ours carry `estimated_time` and `remaining_time` too."""
    command = "ascan sgm1 0 1 10 0.2"
    result = run_gui("macroexecutor.py", ms.door, command, home=tmp_path)
    assert_clean(result)
    macros = set(result["macros"])
    assert {"ascan", "dscan", "mesh", "ct", "mv", "wa", "senv"} <= macros
    assert result["parameters"] == ["motor", "start_pos", "final_pos", "nr_interv",
                                    "integ_time"]
    assert result["editor_rows"] == 5
    assert result["values"] == command.split()[1:]
    assert result["spock_line"] == command
    assert result["progress"] == [100, 0, 100]
    assert tango.DeviceProxy(f"tango://{ms.tango_host}/motor/sg/sgm1").Position == 1.0
    bar = result["bar"]  # 0 at the start, then up
    steps = bar[bar.index(0):]
    assert steps == sorted(steps) and steps[-1] == 100, bar
    assert len([v for v in steps if 0 < v < 100]) >= 3, bar  # 11 points over ~2.2 s
    messages = result["messages"]
    assert messages[0] == "Macro ascan started." and messages[-1] == "Macro ascan finished."
    assert any(re.fullmatch(r"Macro ascan at [1-9][0-9]? % of progress\.", m)
               for m in messages), messages
    pane = result["pane"]
    assert any(re.fullmatch(r"Scan #\d+ started at .+\. It will take about 0:00:0[1-9]", line)
               for line in pane), pane
    assert any(re.fullmatch(r"Scan #\d+ ended at .+, taking 0:00:0\d.*", line)
               for line in pane), pane
    assert {"estimated_time", "remaining_time", "step", "range", "state", "id"} <= set(
        result["status_keys"])


def test_sequencer_lists_macros_and_loads_a_plain_text_sequence(
    ms: MacroServerInstance, tmp_path: Path
) -> None:
    sequence = tmp_path / "sequence.txt"
    sequence.write_text("# a plain-text sequence\n"
                        "mv sgm1 0\n\nascan sgm1 0 0.5 5 0.1\nct 0.1\n")
    result = run_gui("sequencer.py", ms.door, str(sequence), home=tmp_path)
    assert_clean(result)
    assert {"ascan", "mv", "ct"} <= set(result["macros"])
    # (ct's optional countable is left unset: the sequencer writes it as None)
    assert result["sequence"] == ["mv sgm1 0", "ascan sgm1 0 0.5 5 0.1", "ct 0.1 None"]
    assert result["play_enabled"]


def test_expconf_shows_groups_channels_and_next_scan_id_and_applies_a_change(
    ms: MacroServerInstance, tmp_path: Path
) -> None:
    group = tango.DeviceProxy(f"tango://{ms.tango_host}/mntgrp/sg/sgmg")
    before = group.read_attribute("Configuration").value
    ms.set_env({"ScanID": 41})
    try:
        result = run_gui("expconf.py", ms.door, "sgspec", "changed.h5", home=tmp_path)
        assert_clean(result)
        assert result["groups"] == ["sgmg", "sgmg2"] and result["active"] == "sgmg"
        assert result["channels"] == ["sgtimer", "sgct", "sgspec"]
        assert result["next_scan_id"] == "42"
        # the element tree, built again once the elements are there: each motor and
        # channel under its controller (Sardana's model failed with UnboundLocalError
        # 'parent_item', or filed them under a macro library, when none was listed)
        # (Sardana files Motor and 1D/2D channels under controllers, CTExpChannel not)
        assert sorted(result["tree"]["sg_simulation"]) == ["sgm1", "sgspec"]
        assert {node for node, names in result["tree"].items() if "sgm1" in names} == {
            "Motors", "sg_simulation"}  # its type and its controller, no macro library
        assert result["applied"] is True
        config = json.loads(group.read_attribute("Configuration").value)
        enabled = {d["name"]: d["enabled"] for ctrl in config["controllers"].values()
                   for d in ctrl["channels"].values()}
        assert enabled == {"sgtimer": True, "sgct": True, "sgspec": False}
        assert ms.environment()["ScanFile"] == ["changed.h5"]
    finally:
        group.write_attribute("Configuration", before)
        ms.set_env({"ScanFile": "gui.dat"})


def test_a_variable_written_as_none_is_unset(ms: MacroServerInstance) -> None:
    """expconf writes every variable it shows, None for those it found unset."""
    ms.set_env({"PreScanSnapshot": ["sgm1"]})
    proxy = ms.proxy("ms")
    proxy.SetEnvironment(json.dumps({"new": {"PreScanSnapshot": None, "NeverSet": None,
                                             "ScanID": 7}}))
    env = ms.environment()
    assert "PreScanSnapshot" not in env and "NeverSet" not in env and env["ScanID"] == 7


def test_showscan_online_plots_the_scan_and_fills_its_point_panel(
    ms: MacroServerInstance, tmp_path: Path
) -> None:
    result = run_gui("showscan.py", ms.door, "ascan sgm1 0 1 5 0.01", home=tmp_path)
    assert_clean(result)
    assert len(result["curves"]["sgct"]) == 6 and len(result["curves"]["sgtimer"]) == 6
    panel = result["point_panel"]
    assert panel["point_nb"] == "5" and float(panel["sgm1"]) == 1.0
    assert float(panel["sgtimer"]) == pytest.approx(0.01)
    assert panel["sgspec"] not in ("", "---")  # a spectrum column: shown as text
