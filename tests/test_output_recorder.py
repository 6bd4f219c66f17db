"""The console table of the Output recorder, on the demo configuration."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from collect import make_core, run

from macroserver.formatting import format_cell

CTIME = r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}"
ROW = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\(256,\))\s+(\(251, 251\))\s*$")


@pytest.fixture
def core(tmp_path):
    return make_core(tmp_path, config="demo")


def table(output: list[str]) -> list[str]:
    """The lines of the table: from `Scan #N started` to `Scan #N ended`."""
    start = next(i for i, line in enumerate(output) if re.match(r"Scan #\d+ started", line))
    end = next(i for i, line in enumerate(output) if re.match(r"Scan #\d+ ended", line))
    return output[start : end + 1]


def test_demo_table(core):
    outcome, out = run(core, "ascan theta 0 0.5 5 0.01")
    assert outcome.state == "finish", out.errors
    lines = table(out.output)
    scan_id = core.env.get("ScanID")
    assert re.fullmatch(rf"Scan #{scan_id} started at {CTIME}\. It will take less than a second",
                        lines[0]), lines[0]
    assert lines[1].split() == ["#Pt", "No", "theta", "uxtimer", "value", "wave", "beam"]
    assert re.fullmatch(r"\s*#Pt No\s+theta\s+uxtimer\s+value\s+wave\s+beam\s*", lines[1])
    rows = lines[2:-1]
    assert len(rows) == 6
    for index, line in enumerate(rows):
        match = ROW.match(line)
        assert match, line
        number, theta, timer, value = match.groups()[:4]
        assert int(number) == index
        assert float(theta) == pytest.approx(index * 0.1)
        assert float(timer) == pytest.approx(0.01)
        assert 11.5 < float(value) < 11.9  # about 11.8 at theta 0, falling slowly
    assert float(ROW.match(rows[0]).group(4)) > float(ROW.match(rows[-1]).group(4))
    assert re.fullmatch(
        rf"Scan #{scan_id} ended at {CTIME}, taking 0:00:00(\.\d{{6}})?\. Dead time \d+\.\d%",
        lines[-1]), lines[-1]
    # columns line up under their headers
    header = lines[1]
    for name in ("theta", "uxtimer", "value"):
        centre = header.index(name) + len(name) / 2
        cell = re.search(r"\S+", rows[3][header.index(name) - 3:]).group()
        start = rows[3].index(cell, header.index(name) - 3)
        assert abs(start + len(cell) / 2 - centre) <= 1.5


def test_estimated_time_in_started_line(core):
    # 6 points of 1 s: "about 0:00:06"; check it without waiting, by stopping at once
    from collect import Collect

    from macroserver.engine.runner import MacroRunner

    listener = Collect()
    runner = MacroRunner(core, listener)
    runner.start("ascan theta 0 0.5 5 1")
    deadline = time.monotonic() + 10
    while not any("started" in line for line in listener.output):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    runner.abort()
    assert runner.wait(5).state == "abort"
    lines = table(listener.output)
    assert lines[0].endswith("It will take about 0:00:06")
    assert lines[-2] == f"Scan #{core.env.get('ScanID')} aborted after 0 point(s)"
    assert len(lines) == 4  # started, header, aborted, ended


def test_output_cols_number(core):
    core.env.update({"OutputCols": 3})
    outcome, out = run(core, "ascan theta 0 1 2 0")
    lines = table(out.output)
    assert lines[1].split() == ["#Pt", "No", "theta", "uxtimer"]
    assert [line.split() for line in lines[2:-1]] == [
        ["0", "0", "0"], ["1", "0.5", "0"], ["2", "1", "0"]]


def test_output_cols_names(core):
    core.env.update({"OutputCols": ["VALUE", "theta", "beam"]})
    outcome, out = run(core, "ascan theta 0 1 2 0")
    lines = table(out.output)
    # table order, whatever the order given; names match case-insensitively
    assert lines[1].split() == ["theta", "value", "beam"]
    rows = lines[2:-1]
    assert len(rows) == 3
    assert all(re.fullmatch(r"\s*\S+\s+\S+\s+\(251, 251\)\s*", row) for row in rows)
    # the hidden timestamp column can be asked for by name
    core.env.update({"OutputCols": ["dt", "theta"]})
    _, out = run(core, "ascan theta 0 1 1 0")
    assert table(out.output)[1].split() == ["theta", "dt"]


def test_timescan_table_without_motor(core):
    outcome, out = run(core, "timescan 2 0")
    lines = table(out.output)
    assert lines[1].split() == ["#Pt", "No", "uxtimer", "value", "wave", "beam"]
    assert len(lines) == 6


def test_mesh_table(core):
    outcome, out = run(core, "mesh theta 0 1 1 chi 0 2 1 0")
    lines = table(out.output)
    assert lines[1].split() == ["#Pt", "No", "theta", "chi", "uxtimer", "value", "wave", "beam"]
    assert [line.split()[1:3] for line in lines[2:-1]] == [
        ["0", "0"], ["1", "0"], ["0", "2"], ["1", "2"]]


@pytest.mark.parametrize("value, text", [
    (3, "3"), (np.int64(7), "7"), (0.1, "0.1"), (11.790212345, "11.7902"), (1e-9, "1e-09"),
    (np.float32(2.5), "2.5"), (np.zeros(256), "(256,)"), (np.zeros((251, 251)), "(251, 251)"),
    (None, "<nodata>"), ("text", "text"),
])
def test_format_cell(value, text):
    assert format_cell(value) == text
