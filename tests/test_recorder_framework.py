"""The recorder framework: plug-in discovery, isolation of failures, slow recorders and
the selection of recorders from the environment."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
import time

import pytest
from collect import COLLECTOR_SOURCE, collector_class, make_core, run, write_collector

from macroserver.errors import EnvError, UnknownName
from macroserver.records import EndStatus
from macroserver.streams import Level

FILE_RECORDER = '''
from macroserver.recorders.base import Recorder, ensure_parent


class ColumnFileRecorder(Recorder):
    """Writes the point numbers and motor positions, one line per point."""

    name = "colfile"
    format_name = "columns"
    extensions = (".col",)

    def start(self, info):
        ensure_parent(self.context.path, self.context.file_policy)
        self.file = open(self.context.path, "w")
        self.motor = info.ref_motors[0]
        self.file.write("#S %d %s\\n" % (info.scan_id, info.title))

    def record(self, point):
        self.file.write("%d %r\\n" % (point.index, point.values[self.motor]))

    def end(self, end):
        self.file.write("#E %s\\n" % end.status_text)
        self.file.close()
'''

BROKEN_INIT = '''
from macroserver.recorders.base import Recorder


class BrokenInit(Recorder):
    name = "brokeninit"

    def __init__(self, context):
        raise OSError("no licence for this recorder")
'''


@pytest.fixture
def entry_point_dist(tmp_path):
    """An installed-looking distribution with a `macroserver.recorders` entry point."""
    site = tmp_path / "site"
    package = site / "ms_test_epplugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(COLLECTOR_SOURCE.format(
        cls="EntryPointRecorder", name="eprec", fail_at=None, sleep=0.0, queue=256)))
    dist = site / "ms_test_epplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ms-test-epplugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[macroserver.recorders]\neprec = ms_test_epplugin:EntryPointRecorder\n")
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("ms_test_epplugin", None)
        importlib.invalidate_caches()


def test_entry_point_and_recorder_path_plugins(tmp_path, entry_point_dist):
    folder = tmp_path / "recorders"
    write_collector(folder)
    core = make_core(tmp_path, recorder_path=[folder])
    assert {"eprec", "collector", "output"} <= set(core.recorders.names())
    assert not core.load_problems
    outcome, out = run(core, "ascan m1 0 1 4 0")
    assert outcome.state == "finish", out.errors
    for name in ("eprec", "collector"):
        scan = collector_class(core, name).scans[-1]
        assert scan["info"].scan_id == core.env.get("ScanID")
        assert scan["info"].title == "ascan m1 0 1 4 0"
        assert [index for index, _ in scan["points"]] == [0, 1, 2, 3, 4]
        assert scan["end"].status is EndStatus.DONE and scan["end"].points == 5
        assert scan["thread"].startswith("recorder-"), "each recorder has its own worker"
    assert collector_class(core, "eprec").__module__ == "ms_test_epplugin"


def test_entry_point_gone_after_cleanup(tmp_path):
    """The fixture above really removed its distribution (no leak into other tests)."""
    core = make_core(tmp_path)
    with pytest.raises(UnknownName):
        core.recorders.by_name("eprec")


def test_broken_plugin_files_are_reported_not_fatal(tmp_path):
    folder = tmp_path / "recorders"
    write_collector(folder)
    (folder / "broken.py").write_text("import no_such_module_anywhere\n")
    (folder / "_private.py").write_text("raise SystemExit('must not be imported')\n")
    core = make_core(tmp_path, recorder_path=[folder, tmp_path / "missing"])
    problems = core.load_problems
    assert any("broken.py" in p and "no_such_module_anywhere" in p for p in problems)
    assert any("missing" in p and "not a folder" in p for p in problems)
    assert not any("_private" in p for p in problems)
    outcome, _ = run(core, "ascan m1 0 1 2 0")
    assert outcome.state == "finish"
    assert len(collector_class(core).scans[-1]["points"]) == 3


def test_failing_recorder_is_disabled_others_go_on(tmp_path):
    folder = tmp_path / "recorders"
    write_collector(folder)
    write_collector(folder, name="fragile", cls="FragileRecorder", fail_at=3)
    core = make_core(tmp_path, recorder_path=[folder])
    outcome, out = run(core, "ascan m1 0 1 9 0")
    assert outcome.state == "finish", out.errors
    good = collector_class(core).scans[-1]
    assert [index for index, _ in good["points"]] == list(range(10))
    assert good["end"].status is EndStatus.DONE
    bad = collector_class(core, "fragile").scans[-1]
    assert [index for index, _ in bad["points"]] == [0, 1, 2]
    assert bad["end"].status is EndStatus.FAILED  # it was closed, and only once
    assert "collector broke on purpose at point 3" in bad["end"].reason
    assert out.errors == [
        "recorder fragile failed at point 3: RuntimeError: collector broke on purpose at "
        "point 3; it is disabled for this scan"]
    rows = [line for line in out.output if line.split() and line.split()[0].isdigit()]
    assert len(rows) == 10  # the table went on too
    # the next scan gets a fresh instance, which works until its point 3 again
    run(core, "ascan m1 0 1 1 0")
    assert collector_class(core, "fragile").scans[-1]["end"].status is EndStatus.DONE


def test_critical_recorder_failure_fails_the_scan(tmp_path):
    folder = tmp_path / "recorders"
    write_collector(folder)
    write_collector(folder, name="fragile", cls="FragileRecorder", fail_at=3)
    core = make_core(tmp_path, recorder_path=[folder], env={"CriticalRecorders": ["fragile"]})
    outcome, out = run(core, "ascan m1 0 1 30 0.01")
    assert outcome.state == "exception"
    assert outcome.error == ("recorder fragile failed at point 3: RuntimeError: collector broke "
                             "on purpose at point 3")
    good = collector_class(core).scans[-1]
    assert good["end"].status is EndStatus.FAILED
    assert "RecorderFailed" in good["end"].reason
    assert len(good["points"]) < 31
    assert any("; the scan stops" in e for e in out.errors)


def test_recorder_that_cannot_be_created(tmp_path):
    folder = tmp_path / "recorders"
    write_collector(folder)
    (folder / "brokeninit.py").write_text(BROKEN_INIT)
    core = make_core(tmp_path, recorder_path=[folder])
    outcome, out = run(core, "ascan m1 0 1 2 0")
    assert outcome.state == "finish"
    assert out.errors == ["recorder brokeninit could not be created: OSError: no licence for "
                          "this recorder; the scan goes on without it"]
    assert len(collector_class(core).scans[-1]["points"]) == 3
    core.env.update({"CriticalRecorders": ["brokeninit"]})
    outcome, _ = run(core, "ascan m1 0 1 2 0")
    assert outcome.state == "exception" and "no licence" in outcome.error


# -- a slow recorder ------------------------------------------------------------------------

POINTS = 20
SLEEP = 0.05


def _slow_scan(tmp_path, queue: int):
    folder = tmp_path / "recorders"
    write_collector(folder)
    write_collector(folder, name="slow", cls="SlowRecorder", sleep=SLEEP, queue=queue)
    core = make_core(tmp_path, recorder_path=[folder])
    started = time.monotonic()
    outcome, out = run(core, f"ascan m1 0 1 {POINTS - 1} 0")
    total = time.monotonic() - started
    assert outcome.state == "finish", out.errors
    fast, slow = collector_class(core).scans[-1], collector_class(core, "slow").scans[-1]
    for scan in (fast, slow):  # no point lost, in order
        assert [index for index, _ in scan["points"]] == list(range(POINTS))
        assert scan["end"].status is EndStatus.DONE
    scan_time = fast["received_at"][-1] - fast["received_at"][0]  # the engine's pace
    lag = slow["received_at"][-1] - fast["received_at"][-1]
    return scan_time, lag, total


def test_slow_recorder_does_not_slow_the_scan(tmp_path):
    scan_time, lag, total = _slow_scan(tmp_path, queue=256)
    # the engine measured all 20 points long before the slow recorder wrote them
    assert scan_time < 0.5 * POINTS * SLEEP, scan_time
    assert lag > 0.5 * POINTS * SLEEP, lag
    # ... and the macro returned only once the slow recorder had everything
    assert total >= POINTS * SLEEP


def test_slow_recorder_with_full_queue_throttles_without_loss(tmp_path):
    scan_time, lag, total = _slow_scan(tmp_path, queue=3)
    # once its queue of 3 is full, the scan waits for it
    assert scan_time >= 0.6 * (POINTS - 5) * SLEEP, scan_time
    assert lag < 6 * SLEEP + 0.5, lag


def test_a_live_recorder_slow_on_its_first_point_holds_the_scan_only_briefly(tmp_path):
    """The scan lets the live recorders send the first point before it goes on (and the
    files open after it): bounded by LIVE_FIRST_WAIT, so a slow one does not hold it."""
    folder = tmp_path / "recorders"
    write_collector(folder)
    write_collector(folder, name="slow", cls="SlowRecorder", sleep=0.4)
    (folder / "colfile.py").write_text(FILE_RECORDER)
    core = make_core(tmp_path, recorder_path=[folder])
    core.env.update({"ScanDir": str(tmp_path / "data"), "ScanFile": ["s.col"]})
    outcome, out = run(core, "ascan m1 0 1 2 0")
    assert outcome.state == "finish", out.errors
    fast, slow = collector_class(core).scans[-1], collector_class(core, "slow").scans[-1]
    assert [index for index, _ in slow["points"]] == [0, 1, 2]
    assert fast["received_at"][-1] - fast["received_at"][0] < 0.3  # 0.05 s waited at most
    assert slow["received_at"][0] - fast["received_at"][-1] > 0.2  # still on its first
    assert (tmp_path / "data" / "s.col").read_text().splitlines()[1:] == [
        "0 0.0", "1 0.5", "2 1.0", "#E done"]


# -- selection from the environment ---------------------------------------------------------


def test_hints_when_switches_are_undefined(tmp_path):
    core = make_core(tmp_path)
    core.env.unset("JsonRecorder")
    outcome, out = run(core, "ascan m1 0 1 1 0")
    assert outcome.state == "finish"
    # the JSON recorder is on while JsonRecorder is not defined (docs/web.md): no hint
    assert "JsonRecorder" not in out.text(Level.INFO)
    assert [json.loads(p)["type"] for _, p in out.records][0] == "data_desc"
    assert 'SharedMemory is not defined. Use "senv SharedMemory' in out.text(Level.INFO)
    assert ('ScanDir is not defined. This operation will not be stored persistently. Use '
            '"newfile <ScanDir>/<ScanFile>" or "senv ScanDir ..." to enable it'
            ) in out.text(Level.WARNING)
    core.env.update({"JsonRecorder": False})
    _, out = run(core, "ascan m1 0 1 1 0")
    assert "JsonRecorder" not in out.text(Level.INFO) and not out.records


def test_scan_file_extension_mapping(tmp_path):
    folder = tmp_path / "recorders"
    (folder).mkdir()
    (folder / "colfile.py").write_text(FILE_RECORDER)
    core = make_core(tmp_path, recorder_path=[folder])
    assert core.recorders.for_file("x.col").name == "colfile"
    assert core.recorders.for_file("X.COL").name == "colfile"
    assert core.recorders.for_file("scans.dat").__name__ == "SpecRecorder"
    assert core.recorders.for_file("scans.h5").__name__ == "NexusRecorder"
    with pytest.raises(EnvError, match=r"no recorder writes \.xyz files such as 'a\.xyz'"):
        core.recorders.for_file("a.xyz")
    with pytest.raises(EnvError, match="no recorder writes"):
        core.env.update({"ScanFile": "a.xyz"})

    outcome, out = run(core, "newfile sample1/run.col")
    assert outcome.state == "finish", out.errors
    outcome, out = run(core, "ascan m1 0 1 2 0")
    assert outcome.state == "finish", out.errors
    path = tmp_path / "data" / "sample1" / "run.col"
    assert f"Operation will be saved in {path} (columns)" in out.output
    scan_id = core.env.get("ScanID")
    assert path.read_text().splitlines() == [
        f"#S {scan_id} ascan m1 0 1 2 0", "0 0.0", "1 0.5", "2 1.0", "#E done"]


def test_scan_recorder_overrides_extension(tmp_path):
    folder = tmp_path / "recorders"
    folder.mkdir()
    (folder / "colfile.py").write_text(FILE_RECORDER)
    core = make_core(tmp_path, recorder_path=[folder])
    # an extension no recorder knows is accepted once ScanRecorder names the writer
    core.env.update({"ScanRecorder": ["colfile"]})
    core.env.update({"ScanDir": "s2", "ScanFile": ["scan.txt"]})
    outcome, out = run(core, "ascan m1 0 2 2 0")
    assert outcome.state == "finish", out.errors
    path = tmp_path / "data" / "s2" / "scan.txt"
    assert path.read_text().splitlines()[1:] == ["0 0.0", "1 1.0", "2 2.0", "#E done"]
    with pytest.raises(EnvError, match="unknown recorder 'colfle'; did you mean colfile"):
        core.env.update({"ScanRecorder": "colfle"})


def test_scan_dir_outside_data_roots_is_refused_before_the_scan(tmp_path):
    folder = tmp_path / "recorders"
    write_collector(folder)
    core = make_core(tmp_path, recorder_path=[folder])
    outside = tmp_path / "elsewhere"
    with pytest.raises(EnvError, match="is outside the data roots"):
        core.env.update({"ScanDir": str(outside)})
    with pytest.raises(EnvError, match="may not contain '..'"):
        core.env.update({"ScanDir": "../elsewhere"})
    # a value stored earlier (the data roots changed since): refused when the scan starts
    core.env.store.update({"ScanDir": str(outside), "ScanFile": ["a.dat"]})
    scan_id = core.env.get("ScanID")
    outcome, out = run(core, "ascan m1 0 1 2 0")
    assert outcome.state == "exception"
    assert f"ScanDir {str(outside)!r}" in outcome.error
    assert "is outside the data roots" in outcome.error
    assert core.env.get("ScanID") == scan_id, "a refused scan must not consume a ScanID"
    assert collector_class(core).scans == []
    assert core.pool.motor("m1").position() == 0.0
    assert not outside.exists()


def test_stored_scan_dir_that_is_not_text_is_refused_with_its_name(tmp_path):
    folder = tmp_path / "recorders"
    write_collector(folder)
    core = make_core(tmp_path, recorder_path=[folder])
    # env.update refuses it; a value stored before that check (or by hand) reaches the scan
    core.env.store.update({"ScanDir": 5, "ScanFile": ["a.dat"]})
    scan_id = core.env.get("ScanID")
    outcome, _ = run(core, "ascan m1 0 1 2 0")
    assert outcome.state == "exception"
    assert "ScanDir must be a folder name, not 5" in outcome.error
    assert core.env.get("ScanID") == scan_id
