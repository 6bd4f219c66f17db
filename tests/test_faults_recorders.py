"""Recorders that raise, hang or are slow, and a data directory that runs out of space.

In-process (MacroServerCore + MacroRunner) for the recorder framework itself, with the
recorders as RecorderPath plug-ins next to the real SPEC and NeXus recorders; through
Tango for what a client sees on the Door's Error stream, including a disk-full data
directory (RLIMIT_FSIZE set in the server process: writes beyond it fail with EFBIG,
as they fail with ENOSPC on a full disk).
"""

from __future__ import annotations

import json
import textwrap
import threading
import time

import h5py
import pytest
import tango
from collect import collector_class, make_core, run, write_collector
from fault_helpers import (
    check_edf_folder,
    data_rows,
    nexus_points,
    spec_scans,
    spec_text_is_clean,
)
from tango_helpers import Events, start_macroserver

from macroserver.cli.showscan import load_scan
from macroserver.records import EndStatus
from macroserver.streams import Level

HANG_SOURCE = '''
import threading
from macroserver.recorders.base import Recorder


class HangRecorder(Recorder):
    """Stops taking points at point 2 (until the test releases it, 30 s at most)."""

    name = "hang"
    queue_size = 2
    release = threading.Event()
    ended = []

    def record(self, point):
        if point.index == 2:
            self.release.wait(30)

    def end(self, end):
        self.ended.append(end)
'''

NPOINTS = 40


@pytest.fixture
def core(tmp_path):
    folder = tmp_path / "recorders"
    write_collector(folder)  # a healthy plug-in, to check nothing else is lost
    write_collector(folder, name="raiser", cls="RaiserRecorder", fail_at=3)
    write_collector(folder, name="slow", cls="SlowRecorder", sleep=0.02, queue=4)
    (folder / "hang.py").write_text(textwrap.dedent(HANG_SOURCE))
    core = make_core(tmp_path, recorder_path=[folder],
                     env={"ScanDir": str(tmp_path / "data"), "ScanFile": ["r.h5", "r.dat"],
                          "RecorderTimeout": 0.5})
    yield core
    collector_class(core, "hang").release.set()


def test_raising_hanging_and_slow_recorders_do_not_stop_the_scan(core, tmp_path):
    started = time.monotonic()
    outcome, out = run(core, f"ascan m1 0 1 {NPOINTS - 1} 0", timeout=30)
    elapsed = time.monotonic() - started
    assert outcome.state == "finish", out.errors
    errors = "\n".join(out.errors)
    assert "recorder raiser failed at point 3: RuntimeError: collector broke on purpose" in errors
    assert "it is disabled for this scan" in errors
    assert "recorder hang took no data for 0.5 s (hung?)" in errors
    # the failed recorder was closed with an explicit failed status
    raiser = collector_class(core, "raiser").scans[-1]
    assert [i for i, _ in raiser["points"]] == [0, 1, 2]
    assert raiser["end"].status is EndStatus.FAILED and "point 3" in raiser["end"].reason
    # the slow one and the healthy one got every point, in order, and the end
    for name in ("slow", "collector"):
        scan = collector_class(core, name).scans[-1]
        assert [i for i, _ in scan["points"]] == list(range(NPOINTS)), name
        assert scan["end"].status is EndStatus.DONE and scan["end"].points == NPOINTS
    # the files are complete and end "done"
    data = tmp_path / "data"
    assert nexus_points(data / "r.h5", "entry1") == (NPOINTS, "done")
    spec_text_is_clean(data / "r.dat")
    rows, _, closing = spec_scans(data / "r.dat")["1.1"]
    assert rows == NPOINTS and "status: done" in closing
    # the hung recorder costs RecorderTimeout at the queue and at the end, not more
    assert elapsed < 10, elapsed
    print(f"scan with raising+hung+slow recorders: {elapsed:.2f} s; errors: {out.errors}")


def test_a_critical_recorder_failing_stops_the_scan_cleanly(core, tmp_path):
    core.env.update({"CriticalRecorders": ["raiser"]})
    outcome, out = run(core, f"ascan m1 0 1 {NPOINTS - 1} 0", timeout=30)
    assert outcome.state == "exception"
    assert "RecorderFailed" in outcome.error or "raiser failed at point 3" in outcome.error
    assert any("raiser failed at point 3" in e and "the scan stops" in e for e in out.errors)
    collector = collector_class(core, "collector").scans[-1]
    end = collector["end"]
    assert end.status is EndStatus.FAILED and "raiser failed at point 3" in end.reason
    assert end.points == len(collector["points"]) and 3 < end.points < NPOINTS
    data = tmp_path / "data"
    points, status = nexus_points(data / "r.h5", "entry1")
    assert points == end.points and status.startswith("failed: ")
    assert "recorder raiser failed at point 3" in status
    spec_text_is_clean(data / "r.dat")
    rows, _, closing = spec_scans(data / "r.dat")["1.1"]
    assert rows == end.points and "status: failed: " in closing
    assert "recorder raiser failed at point 3" in closing


FILE_TAKEN_SOURCE = '''
import os
from macroserver.macros import STRING, Macro, Param


class ascan_file_taken(Macro):
    """ascan whose SPEC file becomes a folder once the scan has passed its checks."""

    params = [Param("path", STRING)]

    def run(self, path):
        scan = self.create("ascan m1 0 1 39 0.005")
        scan.append_hook(lambda: os.mkdir(path), ["pre-scan"])
        self.run_macro(scan)
'''


def test_a_file_that_cannot_be_opened_once_the_scan_runs_stops_it(tmp_path):
    """The files are opened while the scan starts (the JSON description and the first
    points do not wait for them): the SPEC file turned into a folder after the
    pre-flight stops the scan with an error naming it, and every point taken is in
    the NeXus file, the table and the JSON stream, which all end failed."""
    macros = tmp_path / "macros"
    macros.mkdir()
    (macros / "file_taken.py").write_text(FILE_TAKEN_SOURCE)
    data = tmp_path / "data"
    core = make_core(tmp_path, macro_path=[macros],
                     env={"ScanDir": str(data), "ScanFile": ["t.h5", "t.dat"],
                          "JsonRecorder": True})
    outcome, out = run(core, f"ascan_file_taken {data / 't.dat'}", timeout=30)
    assert outcome.state == "exception"
    failure = f"recorder spec ({data / 't.dat'}) failed at scan start: DataPathError: "
    assert failure in outcome.error and f"{data / 't.dat'} is a folder" in outcome.error
    assert [e for e in out.errors if failure in e and e.endswith("; the scan stops")]
    assert (data / "t.dat").is_dir()
    packets = [json.loads(payload) for _, payload in out.records]
    end = packets[-1]["data"]
    assert packets[-1]["type"] == "record_end" and end["status"] == "failed"
    assert failure in end["reason"] and end["points"] < 40
    print(f"points taken before the scan stopped: {end['points']}")
    described = [(w["format"], w["path"]) for w in packets[0]["data"]["written"]]
    assert ("NeXus", str(data / "t.h5")) in described  # SPEC too, unless it failed already
    sent = [p for packet in packets[1:-1] for p in (
        packet["data"]["point_nb"] if packet["type"] == "record_block"
        else [packet["data"]["point_nb"]])]
    assert sent == list(range(end["points"]))
    assert data_rows(out.output) == sent
    points, status = nexus_points(data / "t.h5", "entry1")
    assert points == end["points"] and status.startswith("failed: ") and failure in status
    history = core.env.get("ScanHistory")[-1]
    assert (history["endstatus"], history["points"]) == ("failed", end["points"])
    assert [w["format"] for w in history["written"]] == ["NeXus"]


def test_a_recorder_that_cannot_be_created_is_reported(tmp_path):
    folder = tmp_path / "recorders"
    folder.mkdir()
    (folder / "broken.py").write_text(textwrap.dedent('''
        from macroserver.recorders.base import Recorder

        class BrokenRecorder(Recorder):
            name = "broken"
            def __init__(self, context):
                raise ValueError("no such device")
    '''))
    write_collector(folder)
    core = make_core(tmp_path, recorder_path=[folder])
    outcome, out = run(core, "ascan m1 0 1 4 0")
    assert outcome.state == "finish"
    assert any("recorder broken could not be created: ValueError: no such device" in e
               for e in out.errors)
    assert len(collector_class(core, "collector").scans[-1]["points"]) == 5


# -- through Tango ------------------------------------------------------------------------

FAULTY_SOURCE = '''
from macroserver.recorders.base import Recorder


class FaultyRecorder(Recorder):
    """Raises at point 3; on only when the environment variable FaultyRecorder is true."""

    name = "faulty"
    enable_env = "FaultyRecorder"

    def record(self, point):
        if point.index == 3:
            raise RuntimeError("faulty recorder broke on purpose")
'''

FSIZE_LIMIT = 3 << 20  # bytes per file: a 251x251 float64 frame is 504 KB


@pytest.fixture(scope="module")
def server(module_device_server, tango_db, tmp_path_factory):
    folder = tmp_path_factory.mktemp("faultrec")
    plugins = folder / "recorders"
    plugins.mkdir()
    (plugins / "faulty.py").write_text(textwrap.dedent(FAULTY_SOURCE))
    return start_macroserver(module_device_server, tango_db.tango_host, "faultrec", folder,
                             recorder_path=[plugins],
                             wrapper_env={"FAULT_FSIZE_LIMIT": str(FSIZE_LIMIT)})


def run_on_door(server, command, timeout=60.0):
    events = Events(server.door)
    try:
        macro_id = server.proxy().RunMacro([command])[0]
        status = events.wait_end(macro_id, timeout)
        time.sleep(0.2)  # the last stream events follow the final status closely
        return status, events
    finally:
        events.close()


def test_a_raising_recorder_is_reported_on_the_door_error_stream(server):
    folder = server.data_dir / "raise"
    server.set_env({"ScanDir": str(folder), "ScanFile": ["e.h5", "e.dat"],
                    "FaultyRecorder": True, "ActiveMntGrp": "mg_demo"})
    try:
        status, events = run_on_door(server, "ascan theta 0 1 4 0")
    finally:
        server.set_env({}, ["FaultyRecorder"])
    assert status["state"] == "finish"
    errors = events.lines("Error")
    assert len(errors) == 1, errors
    assert any("recorder faulty failed at point 3" in e and "faulty recorder broke" in e
               for e in errors), errors
    assert data_rows(events.lines("Output")) == list(range(5))
    assert server.proxy().state() == tango.DevState.ON
    scan_id = server.environment()["ScanID"]
    assert nexus_points(folder / "e.h5", f"entry{scan_id}") == (5, "done")
    assert spec_scans(folder / "e.dat")[f"{scan_id}.1"][0] == 5
    assert check_edf_folder(folder / "e_edf", (251, 251)) == (5, 0)


def test_a_failed_scan_with_no_client_listening_is_in_the_server_log(server):
    """Under Starter nobody may be subscribed to the door: the refused request, the
    recorder's failure with its traceback and the macro's failed end are in the log file
    beside the environment, which no event carried to anyone."""
    log_path = server.env_path.parent / f"macroserver-{server.instance}.log"
    server.set_env({"ScanDir": str(server.data_dir / "unseen"), "ScanFile": ["u.dat"],
                    "FaultyRecorder": True, "CriticalRecorders": ["faulty"],
                    "ActiveMntGrp": "mg_demo"})
    door = server.proxy()  # no subscription: nobody listens to the door's streams
    try:
        with pytest.raises(tango.DevFailed):
            door.RunMacro(["nosuchmacro 1"])
        macro_id = door.RunMacro(["ascan theta 0 1 6 0"])[0]
        for _ in range(600):  # bounded: 60 s
            if door.state() not in (tango.DevState.RUNNING, tango.DevState.STANDBY):
                break
            time.sleep(0.1)
        assert door.state() == tango.DevState.ALARM
    finally:
        server.set_env({}, ["FaultyRecorder", "CriticalRecorders"])
    text = log_path.read_text()
    assert "refused Door.RunMacro: " in text and "nosuchmacro" in text, text[-3000:]
    assert f"ascan theta 0 1 6 0 started (macro id {macro_id})" in text
    failure = text[text.index("recorder faulty failed at point 3"):]
    assert "Traceback (most recent call last)" in failure
    assert "RuntimeError: faulty recorder broke on purpose" in failure
    assert "ascan theta 0 1 6 0 ended: exception (" in failure
    assert f"(macro id {macro_id})" in failure.split("ended: exception", 1)[1]


def test_disk_full_names_the_file_and_leaves_the_others_and_the_server_alone(server):
    folder = server.data_dir / "full"
    server.set_env({"ScanDir": str(folder), "ScanFile": ["full.h5", "full.dat"],
                    "ActiveMntGrp": "mg_demo"})
    status, events = run_on_door(server, "ascan theta 0 1 19 0")
    errors = events.lines("Error")
    scan_id = server.environment()["ScanID"]
    # a clear error naming the recorder and its file; the scan went on
    assert status["state"] == "finish", (status, errors)
    assert any("recorder nexus" in e and str(folder / "full.h5") in e for e in errors), errors
    assert any("File too large" in e or "EFBIG" in e or "errno = 27" in e for e in errors), errors
    assert data_rows(events.lines("Output")) == list(range(20))
    # the SPEC file and its images are complete
    text = spec_text_is_clean(folder / "full.dat")
    rows, _, closing = spec_scans(folder / "full.dat")[f"{scan_id}.1"]
    assert rows == 20 and "status: done" in closing, text[-300:]
    assert check_edf_folder(folder / "full_edf", (251, 251)) == (20, 0)
    # the server stays ON and answers; the next scan (to a file that fits) works
    door = server.proxy()
    assert door.state() in (tango.DevState.ON, tango.DevState.ALARM)
    assert server.proxy("ms").state() == tango.DevState.ON
    server.set_env({"ScanFile": ["after.dat", "after.h5"], "ActiveMntGrp": "mg_demo"})
    status, events = run_on_door(server, "ascan theta 0 1 2 0")
    assert status["state"] == "finish", events.lines("Error")
    assert nexus_points(folder / "after.h5", f"entry{scan_id + 1}") == (3, "done")
    assert door.state() == tango.DevState.ON
    print(f"disk full errors: {errors}")


# -- a viewer holding the NeXus file open ---------------------------------------------------

VIEWER = """
import sys, time
if sys.argv[2] == "silx":
    import silx.io
    f = silx.io.open(sys.argv[1])
else:
    import h5py
    f = h5py.File(sys.argv[1], "r")
print("open", list(f), flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("viewer", ["h5py", "silx"])
def test_a_viewer_keeping_the_nexus_file_open_does_not_lose_the_next_scan(tmp_path, viewer):
    import subprocess
    import sys

    core = make_core(tmp_path, env={"ScanDir": str(tmp_path / "data"),
                                    "ScanFile": ["v.h5", "v.dat"]})
    path = tmp_path / "data" / "v.h5"
    assert run(core, "ascan m1 0 1 4 0")[0].state == "finish"
    process = subprocess.Popen([sys.executable, "-c", VIEWER, str(path), viewer],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().startswith("open ['entry1']")
        outcome, out = run(core, "ascan m1 0 1 6 0")
        assert outcome.state == "finish", out.errors
        assert not out.errors
        # the master is never written in place (a copy with the new link is renamed over
        # it), so the viewer's lock does not matter: no warning, the scan is in v.h5
        assert not out.text(Level.WARNING)
        assert nexus_points(path, "entry2") == (7, "done")
        # readers find it where it went: ScanHistory, and showscan reading it
        written = core.env.get("ScanHistory")[-1]["written"]
        assert {w["format"]: (w["path"], w["entry"], w["scan_number"]) for w in written} == {
            "NeXus": (str(path), "entry2", None), "SPEC": (str(tmp_path / "data" / "v.dat"),
                                                          None, 2)}
        shown = load_scan(core.env.snapshot(), 2)
        assert (shown.source, shown.nexus_entry, len(shown.x)) == (str(path), "entry2", 7)
    finally:
        process.kill()
        process.wait(timeout=20)
    assert run(core, "ascan m1 0 1 2 0")[0].state == "finish"
    with h5py.File(path, "r") as f:
        assert list(f) == ["entry1", "entry2", "entry3"]
    assert nexus_points(path, "entry3") == (3, "done")
    assert spec_scans(tmp_path / "data" / "v.dat")["2.1"][0] == 7


def test_two_recorders_creating_the_same_new_folder_at_once(tmp_path):
    """The first scan into a new ScanDir: every file recorder creates the folder in its
    own thread at the same moment; none may fail (one used to, with FileExistsError)."""
    from macroserver.datafiles import FilePolicy
    from macroserver.recorders.base import ensure_parent

    for round_ in range(20):
        target = tmp_path / f"r{round_}" / "a" / "b" / "file.dat"
        barrier = threading.Barrier(4)
        failures = []

        def make():
            barrier.wait()
            try:
                ensure_parent(target, FilePolicy())
            except Exception as exc:
                failures.append(exc)

        threads = [threading.Thread(target=make) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert not failures and target.parent.is_dir()
