"""The plug-in examples of README.md and examples/ work as documented."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from collect import Collect

from macroserver.config import load_config
from macroserver.engine.core import MacroServerCore
from macroserver.engine.runner import MacroRunner
from macroserver.env import Environment

EXAMPLES = Path(__file__).parent.parent / "examples"
README = Path(__file__).parent.parent / "README.md"


def make_server(tmp_path: Path) -> MacroServerCore:
    return MacroServerCore(
        load_config(EXAMPLES / "demo.toml"), Environment(tmp_path / "env.json"),
        extra_data_roots=[tmp_path], extra_macro_path=[EXAMPLES / "macros"],
        extra_recorder_path=[EXAMPLES / "recorders"])


def test_readme_examples_are_the_example_files():
    """README shows the example plug-ins; they must not drift apart."""
    text = README.read_text()
    for path in (EXAMPLES / "macros" / "goto_peak.py", EXAMPLES / "recorders" / "csv_recorder.py"):
        body = path.read_text().split('"""', 2)[2].strip()
        classes = re.findall(r"^class .*?(?=^\S|\Z)", body, re.S | re.M)
        assert classes and all(cls.strip() in text for cls in classes), path


def test_example_macro_and_recorder_run(tmp_path):
    server = make_server(tmp_path)
    assert not server.load_problems
    listener = Collect()
    runner = MacroRunner(server, listener)
    for command in (f"senv ScanDir {tmp_path}", "senv ScanFile scans.csv",
                    "goto_peak theta 0.3", "ascan theta 0 0.5 5 0"):
        outcome = runner.run(command)
        assert outcome.state == "finish", (command, outcome.error)
    assert server.pool.motor("theta").position() == 0.5
    assert any(line.startswith("value") for line in listener.output)
    rows = list(csv.DictReader((tmp_path / "scans.csv").open()))
    assert [float(r["theta"]) for r in rows] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert [int(r["point_nb"]) for r in rows] == list(range(6))
