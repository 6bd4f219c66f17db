"""The rest of Sardana's standard set, in-process on the demo beamline: positions the
scans visit (read back from what the recorders got), returns of relative scans, the
helpers (repeat, sleep, report, logmacro, tw), the environment macros and Sardana's
parsing of `newfile scans.h5 7`."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from collect import (
    FAST_CONFIG,
    Collect,
    collector_class,
    make_core,
    run,
    wait_until,
    write_collector,
)

from macroserver.engine.runner import MacroRunner


@pytest.fixture
def core(tmp_path):
    folder = tmp_path / "recorders"
    folder.mkdir()
    write_collector(folder)
    return make_core(tmp_path, "demo", recorder_path=[folder],
                     env={"ScanDir": str(tmp_path / "data")})


def positions(core, *names):
    points = [values for _, values in collector_class(core).scans[-1]["points"]]
    return np.array([[p[n] for n in names] for p in points])


def ok(core, command):
    outcome, out = run(core, command)
    assert outcome.state == "finish", (command, outcome.error, out.messages)
    return out


def output(out, level="Output"):
    return [line for text in out.messages[next(k for k in out.messages if k.value == level)]
            for line in text.split("\n")]


def test_step_scans_visit_sardanas_positions(core):
    theta, chi, phi = (core.pool.motor(n) for n in ("theta", "chi", "phi"))
    ok(core, "amultiscan [[theta 0 1] [chi 0 2] [phi 1 0]] 2 0")
    np.testing.assert_allclose(positions(core, "theta", "chi", "phi"),
                               [[0, 0, 1], [0.5, 1, 0.5], [1, 2, 0]])
    theta.start_move(1.0)
    chi.start_move(2.0)
    ok(core, "d3scan theta -1 1 chi 0 1 phi 0 2 2 0")
    np.testing.assert_allclose(positions(core, "theta", "chi", "phi"),
                               [[0, 2, 0], [1, 2.5, 1], [2, 3, 2]])
    assert (theta.position(), chi.position(), phi.position()) == (1.0, 2.0, 0.0)
    ok(core, "dmultiscan [[theta 0 1]] 1 0")
    np.testing.assert_allclose(positions(core, "theta")[:, 0], [1, 2])
    assert theta.position() == 1.0
    ok(core, "dmesh theta -1 1 2 chi 0 1 1 0")
    np.testing.assert_allclose(positions(core, "theta", "chi"),
                               [[0, 2], [1, 2], [2, 2], [0, 3], [1, 3], [2, 3]])
    assert (theta.position(), chi.position()) == (1.0, 2.0)
    ok(core, "rscan theta 0 [[1 2] [3 1]] 0")
    np.testing.assert_allclose(positions(core, "theta")[:, 0], [0, 0.5, 1, 3])
    ok(core, "r3scan theta chi phi 1 [[2 1]] 0")
    np.testing.assert_allclose(positions(core, "theta", "chi", "phi"), [[1] * 3, [2] * 3])
    ok(core, "ascanh theta 0 1 1 0")
    np.testing.assert_allclose(positions(core, "theta")[:, 0], [0, 1])
    outcome, _ = run(core, "d4scan theta 0 1 chi 0 1 phi 0 1 theta 0 1 1 0")
    assert outcome.state == "exception" and "given more than once" in outcome.error


def test_a4scan_moves_four_motors_together(tmp_path):
    folder = tmp_path / "recorders"
    folder.mkdir()
    write_collector(folder)
    config = {**FAST_CONFIG, "motors": {**FAST_CONFIG["motors"],
                                        "m4": {"limits": [-100.0, 100.0]}}}
    core = make_core(tmp_path, config, recorder_path=[folder])
    ok(core, "a4scan m1 0 1 m2 0 2 m3 0 3 m4 4 0 2 0")
    np.testing.assert_allclose(positions(core, "m1", "m2", "m3", "m4"),
                               [[0, 0, 0, 4], [0.5, 1, 1.5, 2], [1, 2, 3, 0]])


def test_continuous_scans_count_as_long_as_the_motors_move(core):
    ok(core, "ascanc theta 0 1 0.002 0.1")  # 10 deg/s over 1 deg: 0.1 s, 50 points
    theta = positions(core, "theta_planned")[:, 0]
    assert len(theta) == 51 and theta[0] == 0 and theta[-1] == 1
    core.pool.motor("theta").start_move(2.0)
    ok(core, "dscanc theta -1 1 0.002 0.1")
    assert positions(core, "theta_planned")[0, 0] == 1.0
    assert core.pool.motor("theta").position() == 2.0
    ok(core, "a2scanc theta 0 1 phi 0 1 0.005 0.5")  # phi at 25 deg/s is the slowest
    assert len(positions(core, "phi")) == 9
    ok(core, "meshc theta 0 1 0.1 chi 0 1 1 0.002 True")
    grid = positions(core, "theta_planned", "chi")
    assert len(grid) == 102 and set(grid[:, 1]) == {0.0, 1.0}
    assert grid[51, 0] == 1.0  # bidirectional: the second row goes back
    for command, why in (("ascanc theta 0 1 0.01 0", "slow_down"),
                         ("ascanc chi 0 1 0.01", "no velocity")):
        outcome, _ = run(core, command)
        assert outcome.state == "exception" and why in outcome.error


def test_repeat_sleep_report_and_logmacro(core, caplog):
    out = ok(core, "repeat 3 ct 0.01")
    assert sum(line.startswith("uxtimer") for line in output(out)) == 3
    outcome, _ = run(core, "repeat 2 nosuchmacro 1")
    assert outcome.state == "exception" and "nosuchmacro" in outcome.error
    start = time.monotonic()
    ok(core, "sleep 0.3")
    assert time.monotonic() - start >= 0.3
    listener = Collect()
    runner = MacroRunner(core, listener)  # a long sleep ends at once on stop
    runner.start("sleep 60")
    wait_until(lambda: "start" in listener.states(), "sleep 60 started")
    runner.stop()
    assert runner.wait(30).state == "stop"
    with caplog.at_level(logging.INFO, logger="macroserver.report"):
        ok(core, "report beam lost at 10:02")
    assert "beam lost at 10:02" in caplog.text
    ok(core, "logmacro True 1")
    assert core.env.get("LogMacro") is True and core.env.get("LogMacroMode") is True
    folder = Path(core.env.get("ScanDir"))
    folder.mkdir(exist_ok=True)
    ok(core, "ct 0.01")
    outcome, _ = run(core, "mv theta 100")  # its error is logged too
    log = folder / "session_local.log"
    assert log.read_text().startswith("Error: motor theta")
    assert "value" in (folder / "session_local.log.1").read_text()  # mode 1: one per macro
    ok(core, "logmacro True 0")
    ok(core, "sleep 0")
    ok(core, "wa")
    text = log.read_text()
    assert "theta" in text  # sleep and wa appended to the file logmacro started
    assert (folder / "session_local.log.2").exists()
    assert not (folder / "session_local.log.3").exists()
    ok(core, "logmacro False")
    assert core.env.get("LogMacro") is False
    ok(core, "wa")
    assert log.read_text() == text
    core.env.update({"LogMacro": True, "LogMacroDir": "/etc"})  # outside the data roots
    outcome, out = run(core, "sleep 0")
    assert outcome.state == "finish"
    assert "session_local.log cannot be written" in " ".join(output(out, "Warning"))


def test_tw_tweaks_until_told_to_stop(core):
    class Answering(Collect):
        def __init__(self, answers):
            super().__init__()
            self.answers = list(answers)

        def input_request(self, request):
            if request.get("type") == "input":
                threading.Thread(target=runner.answer,
                                 args=({"input": self.answers.pop(0)},)).start()

    listener = Answering(["", "-", "0.25", "n", "q"])
    runner = MacroRunner(core, listener)
    runner.start("tw theta 1")
    assert runner.wait(20).state == "finish"
    # Enter: +1; "-": -1; "0.25": +0.25; "n": -0.25; then q ends
    assert core.pool.motor("theta").position() == pytest.approx(0.0)
    assert "Typing 'q' caused 'tw' macro to stop." in listener.messages[
        next(k for k in listener.messages if k.value == "Info")]


def test_newfile_parses_as_sardana_and_the_environment_macros(core, tmp_path):
    data = tmp_path / "data"
    out = ok(core, "newfile scans.h5 7")
    assert core.env.get("ScanFile") == ["scans.h5"] and core.env.get("ScanID") == 7
    assert output(out) == [f"ScanDir is\t: {data}", "ScanFile set to\t: scans.h5",
                           "Next scan is\t: #8"]
    out = ok(core, f"newfile [{data}/a.h5 {data}/a.dat] 10")
    assert core.env.get("ScanFile") == ["a.h5", "a.dat"] and core.env.get("ScanID") == 10
    assert output(out)[2] == "\t\t  a.dat"
    (data / "config_env.xml").write_text(
        "<root><element><name>auto_filter</name><FilterMax>100</FilterMax>"
        "<FilterSignal>'ct1'</FilterSignal></element>"
        "<miscellaneous><name>misc</name><Energy>8.5</Energy></miscellaneous></root>")
    out = ok(core, "load_env")
    assert output(out)[:3] == ["Loading auto_filter variables:", "FilterMax loaded",
                               "FilterSignal loaded"]
    assert (core.env.get("FilterMax"), core.env.get("FilterSignal"),
            core.env.get("Energy")) == (100, "ct1", 8.5)
    outcome, _ = run(core, "load_env /etc/passwd")
    assert outcome.state == "exception" and "not a file in ScanDir or the data roots" \
        in outcome.error
    (data / "cut.xml").write_text("<root><element")
    outcome, _ = run(core, "load_env cut.xml")  # the file is named, not a bare ParseError
    assert outcome.state == "exception" and outcome.error.startswith(
        f"{data / 'cut.xml'} is not an XML file: unclosed token")
    lines = output(ok(core, "dumpenv"))
    assert lines[0].split() == ["Name", "Value", "Type"]
    assert any(line.split() == ["Energy", "8.5", "float"] for line in lines)
    ok(core, "setvo PosFormat 3")
    ok(core, "setvo ShowDial False")
    lines = output(ok(core, "lsvo"))
    assert lines[0].split() == ["View", "option", "Value"]
    assert {tuple(line.split()) for line in lines[2:]} >= {("PosFormat", "3"),
                                                           ("ShowDial", "False")}
    ok(core, "usetvo ShowDial")
    assert core.env.get("_ViewOptions")["ShowDial"] is True
    outcome, _ = run(core, "setvo NoSuchOption 1")
    assert outcome.state == "exception" and "no view option" in outcome.error


def test_through_macroserver_run_in_fresh_processes(tmp_path):
    """Every macro of this set in `macroserver run`; ScanStats outlives the process, so
    a fresh one moves to the peak of the last scan."""
    from test_cli_run import macroserver

    data = tmp_path / "data"
    data.mkdir()
    (data / "config_env.xml").write_text(
        "<root><miscellaneous><name>m</name><Energy>8.5</Energy></miscellaneous></root>")
    env = ["--env", str(tmp_path / "env.json"), "--data-root", str(data)]
    commands = [
        f"senv ScanDir {data}", "newfile scans.dat 7",
        "ascan theta -4 6 20 0", "scanstats", "scanhist", "scanhist 8",
        "d3scan theta 0 1 chi 0 1 phi 0 1 1 0",
        "amultiscan [[theta 0 1] [chi 0 1]] 1 0", "dmultiscan [[theta 0 1]] 1 0",
        "dmesh theta 0 1 1 chi 0 1 1 0", "ascanh theta 0 1 1 0",
        "rscan theta 0 [[1 1]] 0", "r2scan theta chi 0 [[1 1]] 0",
        "r3scan theta chi phi 0 [[1 1]] 0", "ascanc theta 0 1 0.01 0.1",
        "dscanc theta 0 1 0.01 0.1", "a2scanc theta 0 1 phi 0 1 0.01 0.5",
        "meshc theta 0 1 0.1 chi 0 1 1 0.01", "repeat 2 sleep 0.01", "sleep 0.01",
        "report run test", "logmacro True 0", "load_env", "dumpenv", "setvo PosFormat 2",
        "usetvo PosFormat", "lsvo", "ascan theta -4 6 20 0",
    ]
    result = macroserver(*env, *commands, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "ScanFile set to\t: scans.dat" in out and "Next scan is\t: #8" in out
    assert "Statistics for movable: theta" in out
    assert "Loading m variables:" in out and "Energy loaded" in out
    assert "DescriptionLength" in out
    scans = [line for line in (data / "scans.dat").read_text().splitlines()
             if line.startswith("#S ")]
    assert len(scans) == 14 and scans[0].startswith("#S 8 ascan theta -4 6 20 0")
    assert scans[-1].startswith("#S 21 ascan")
    result = macroserver(*env, "pic value", "where", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    position = float(result.stdout.strip().splitlines()[-1].split()[-1])
    assert abs(position) <= 0.5  # within one step of the demo's peak at 0
