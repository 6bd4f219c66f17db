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
