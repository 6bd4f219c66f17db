"""SIGKILL of the device server in the middle of an image scan, then a restart.

Each round runs `ascan theta ...` on the demo beamline (value, a 256-channel spectrum and
the `beam` image, 64x64 here: at 251x251 the rounds left 557 MB in the temp folder) into
a SPEC file (+ EDF images) and a NeXus file, kills the
server at a different moment, checks every file as the kill left it, restarts the
server and checks the environment, the next ScanID and a scan into the same files.
"""

from __future__ import annotations

import time

import h5py
import numpy as np
import pytest
import silx.io
from fault_helpers import (
    check_edf_folder,
    data_rows,
    spec_last_scan_rows,
    spec_scans,
    spec_text_is_clean,
)
from tango_helpers import Events, demo_config, start_macroserver

# Seconds after the first table row at which the server is killed, one round each.
KILL_AFTER = (0.3, 1.2, 2.0, 3.0)
# Points shown on Output more than this long before the kill must be in every file:
# NeXus flushes at most FLUSH_INTERVAL = 0.5 s after a point reaches it, plus margin for
# the recorder queues and the event delivery.
FLUSHED_MARGIN = 1.0
NPOINTS = 400
IMAGE = (64, 64)


@pytest.fixture(scope="module")
def server(module_device_server, tango_db, tmp_path_factory):
    folder = tmp_path_factory.mktemp("faultkill")
    return start_macroserver(module_device_server, tango_db.tango_host, "faultkill", folder,
                             demo_config(folder, IMAGE))


def check_nexus_after_kill(path, entry, flushed):
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        m = f[entry]["measurement"]
        lengths = {name: len(ds) for name, ds in m.items()}
        assert len(set(lengths.values())) == 1, lengths
        n = lengths["point_nb"]
        assert n >= flushed, f"{path}: {n} points, {flushed} were flushed before the kill"
        assert list(m["point_nb"][:flushed]) == list(range(flushed))
        assert m["beam"].shape[1:] == IMAGE
        if flushed:
            assert np.isfinite(m["beam"][flushed - 1]).all()
            assert np.isfinite(m["value"][:flushed]).all()
        assert f[entry]["notes/data"][()] in (b"", "")  # no end status: it was killed
    # the killed scan's own file is marked open (until the next start): silx falls back
    # to SWMR mode itself
    scan_file = path.with_name(f"{path.stem}_scans") / f"{path.stem}_{entry[5:]}{path.suffix}"
    with silx.io.open(str(scan_file)) as f:
        assert len(f[entry]["measurement/point_nb"]) == n
    return n


@pytest.mark.parametrize("round_", range(len(KILL_AFTER)))
def test_sigkill_mid_scan_then_restart(server, round_):
    folder = server.data_dir / f"kill{round_}"
    h5, dat = folder / f"k{round_}.h5", folder / f"k{round_}.dat"
    server.set_env({"ScanDir": str(folder), "ScanFile": [h5.name, dat.name],
                    "ActiveMntGrp": "mg_demo", "FaultMarker": [round_, "kept"]})
    events = Events(server.door)
    try:
        scan_id = server.environment().get("ScanID", 0) + 1
        server.proxy().RunMacro([f"ascan theta 0 1 {NPOINTS - 1} 0.01"])
        events.wait_for(lambda ev: bool(data_rows(ev.lines("Output"))), 30)
        time.sleep(KILL_AFTER[round_])
        killed_at = time.monotonic()
        server.kill()
        rows = [(int(line.split()[0]), t) for line, t in events.timed_lines("Output")
                if line.split() and line.split()[0].isdigit()]
    finally:
        events.close()
    assert rows and rows[-1][0] < NPOINTS - 1, "the scan ended before the kill"
    flushed = sum(1 for _, t in rows if t < killed_at - FLUSHED_MARGIN)
    seen = len(rows)

    # NeXus: opens (h5py in SWMR mode, silx), every dataset the same length, flushed points
    in_nexus = check_nexus_after_kill(h5, f"entry{scan_id}", flushed)

    # SPEC: no partial line, the last data line complete, silx reads the scan
    text = spec_text_is_clean(dat)
    last = spec_last_scan_rows(text)
    labels = text[text.rfind("\n#L ") + 4:].split("\n", 1)[0].split("  ")
    assert all(len(row) == len(labels) for row in last), "a data line is incomplete"
    assert len(last) >= flushed
    scans = spec_scans(dat)
    assert scans[f"{scan_id}.1"][0] == len(last)
    assert scans[f"{scan_id}.1"][2] == ""  # no closing line: the scan was killed

    # EDF: each file complete with the whole image, or absent; temporaries are not .edf
    edf_count, temps = check_edf_folder(folder / f"k{round_}_edf", IMAGE)
    assert edf_count >= len(last) >= flushed
    assert edf_count <= len(last) + 1 and temps <= 1

    # Restart: the killed scan's own file is closed as `h5clear -s` would (issue 20 item
    # 6): plain h5py and silx open it, through the master too, its notes say it was cut
    server.start()
    scan_file = h5.with_name(f"{h5.stem}_scans") / f"{h5.stem}_{scan_id}{h5.suffix}"
    with h5py.File(h5, "r") as f:
        assert len(f[f"entry{scan_id}/measurement/point_nb"]) == in_nexus
        assert f[f"entry{scan_id}/notes/data"][()].decode().startswith(
            "failed: the scan was cut")
    with silx.io.open(str(scan_file)) as f:
        assert len(f[f"entry{scan_id}/measurement/beam"]) == in_nexus
    logged = "".join(p.read_text() for p in server.env_path.parent.glob("macroserver-*.log"))
    assert f"{scan_file}: left open by a killed writer; closed" in logged
    # environment intact, next ScanID not reused, same files usable
    env = server.environment()
    assert env["ScanID"] == scan_id
    assert env["FaultMarker"] == [round_, "kept"]
    assert env["ScanFile"] == [h5.name, dat.name] and env["ActiveMntGrp"] == "mg_demo"
    events = Events(server.door)
    try:
        macro_id = server.proxy().RunMacro(["ascan theta 0 1 2 0"])[0]
        assert events.wait_end(macro_id)["state"] == "finish"
        warnings = events.lines("Warning")
    finally:
        events.close()
    assert server.environment()["ScanID"] == scan_id + 1
    # only the killed scan's own file is still marked as being written: the master opens
    # without help (no SWMR), with the next scan added to it
    assert not [w for w in warnings if "h5" in w], warnings
    with h5py.File(h5, "r") as f:
        assert f"entry{scan_id}" in f and f"entry{scan_id + 1}" in f
        assert len(f[f"entry{scan_id + 1}/measurement/beam"]) == 3
        assert f[f"entry{scan_id + 1}/notes/data"][()] == b"done"
    text = spec_text_is_clean(dat)
    scans = spec_scans(dat)
    assert list(scans) == [f"{scan_id}.1", f"{scan_id + 1}.1"]
    assert scans[f"{scan_id + 1}.1"][0] == 3 and "status: done" in scans[f"{scan_id + 1}.1"][2]
    assert scans[f"{scan_id}.1"][0] == len(last)  # the killed scan is unchanged
    check_edf_folder(folder / f"k{round_}_edf", IMAGE)
    print(f"round {round_}: killed {KILL_AFTER[round_]} s after the first row; rows seen "
          f"{seen}, flushed >{FLUSHED_MARGIN} s before {flushed}; NeXus {in_nexus}, "
          f"SPEC {len(last)}, EDF {edf_count} (+{temps} temp)")


def test_next_scan_cuts_what_a_killed_writer_left_of_its_last_point(tmp_path):
    """A kill inside a large write() leaves part of a point (the kernel may complete only
    some pages): the next scan removes it, notes it, and starts on a clean line."""
    from recorder_feed import make_info, make_points, run_scan

    from macroserver.recorders.spec import SpecRecorder

    path = tmp_path / "cut.dat"
    info = make_info(1, 3, spectra=1)
    run_scan(SpecRecorder, path, info, make_points(info, 3))
    complete = path.read_bytes()
    scan_1 = complete[:complete.rfind(b"#C Acquisition ended")]
    # what a killed writer may leave: a whole @A line, half of the next one, no data line
    path.write_bytes(scan_1 + b"@A 1 2 3\\\n 4 5 6\\\n 7 8")
    info = make_info(2, 2, spectra=1)
    run_scan(SpecRecorder, path, info, make_points(info, 2))
    text = spec_text_is_clean(path)
    assert text.startswith(scan_1.decode())
    assert "bytes of an incomplete last point removed" in text
    scans = spec_scans(path)
    assert scans["1.1"][0] == 3 and scans["2.1"][0] == 2
    assert "status: done" in scans["2.1"][2]


# Seconds after RunMacro returned at which the server is killed while the scan is being
# added to an existing NeXus file (its start: scan file, entry, datasets, link).
ADD_KILL_DELAYS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.3)


def run_to_end(server, command: str) -> None:
    events = Events(server.door)
    try:
        macro_id = server.proxy().RunMacro([command])[0]
        assert events.wait_end(macro_id)["state"] == "finish"
    finally:
        events.close()


def check_complete_entries(path, entries: list[int]) -> None:
    """h5py and silx open the master without help (no SWMR, no h5clear) and every
    complete scan reads whole."""
    with h5py.File(path, "r") as f:
        for scan_id in entries:
            assert len(f[f"entry{scan_id}/measurement/theta"]) == 5
            assert f[f"entry{scan_id}/notes/data"][()] == b"done"
    with silx.io.open(str(path)) as f:
        for scan_id in entries:
            assert len(f[f"entry{scan_id}/measurement/value"]) == 5


def test_sigkill_while_a_scan_is_added_to_an_existing_file(server):
    folder = server.data_dir / "adding"
    h5 = folder / "add.h5"
    server.set_env({"ScanDir": str(folder), "ScanFile": [h5.name], "ActiveMntGrp": "mg_demo"})
    run_to_end(server, "ascan theta 0 1 4 0")
    complete = [server.environment()["ScanID"]]
    for delay in ADD_KILL_DELAYS:
        server.proxy().RunMacro(["ascan theta 0 1 50 0.01"])
        time.sleep(delay)
        server.kill()
        check_complete_entries(h5, complete)
        server.start()
        run_to_end(server, "ascan theta 0 1 4 0")
        complete.append(server.environment()["ScanID"])
        check_complete_entries(h5, complete)
    print(f"{len(ADD_KILL_DELAYS)} kills while adding a scan: master and "
          f"{len(complete)} complete scans readable after each")


def started_ids(events: Events) -> list[int]:
    """The ScanIDs of the "Scan #N started" lines seen on Output."""
    return [int(line.split()[1][1:]) for line in events.lines("Output")
            if line.startswith("Scan #") and " started at " in line]


@pytest.mark.parametrize("files", [False, True], ids=["no files", "with files"])
def test_a_scan_id_given_before_a_kill_is_never_given_again(server, files):
    """SIGKILL the moment "Scan #N started" reaches a client (the next ScanID used to be
    written only with the first file, or at the end of a scan without files), restart:
    the environment holds N, the next scan is N + 1."""
    folder = server.data_dir / "reuse"
    server.set_env({"ScanDir": str(folder), "ActiveMntGrp": "mg_demo"})
    if files:
        server.set_env({"ScanFile": ["reuse.h5", "reuse.dat"]})
    elif "ScanFile" in server.environment():
        server.set_env({}, remove=["ScanFile"])
    events = Events(server.door)
    try:
        server.proxy().RunMacro(["ascan theta 0 1 200 0.05"])
        events.wait_for(lambda ev: bool(started_ids(ev)), 30)
        server.kill()
        given = started_ids(events)[0]
    finally:
        events.close()
    server.start()
    assert server.environment()["ScanID"] == given
    events = Events(server.door)
    try:
        macro_id = server.proxy().RunMacro(["ascan theta 0 1 2 0"])[0]
        assert events.wait_end(macro_id)["state"] == "finish"
        assert started_ids(events) == [given + 1]
    finally:
        events.close()
    if files:  # the killed scan may have reached its files or not: the next is apart
        with h5py.File(folder / "reuse.h5", "r") as f:
            assert f"entry{given + 1}" in f and f"entry{given + 1}_1" not in f
        assert f"{given + 1}.1" in spec_scans(folder / "reuse.dat")


def test_an_environment_file_that_cannot_be_written_refuses_the_scan(server):
    """The environment file replaced by a folder (a write fails for root too): a scan is
    refused before anything moves or any file is written, naming the file and the
    reason; the server stays up, and once the file can be written again nothing is lost
    and the next scan gets the next ScanID."""
    folder = server.data_dir / "unwritable"  # the refused scan writes no file there
    server.set_env({"ScanDir": str(folder), "ScanFile": ["u.h5", "u.dat"],
                    "ActiveMntGrp": "mg_demo", "FaultMarker": "kept"})
    run_to_end(server, "mv theta 0.25")
    before = server.environment()
    env_file = server.env_path
    kept = env_file.read_bytes()
    env_file.unlink()
    env_file.mkdir()
    try:
        events = Events(server.door)
        try:
            macro_id = server.proxy().RunMacro(["ascan theta 1 2 3 0"])[0]
            assert events.wait_end(macro_id)["state"] == "exception"
            errors = events.lines("Error")
            output = events.lines("Output")
        finally:
            events.close()
        assert any(f"cannot write the environment file {env_file}: Is a directory" in line
                   and "the scan was not started" in line for line in errors), errors
        assert not [line for line in output if line.startswith("Scan #")], output
        assert not folder.exists() or not list(folder.iterdir())  # lock files removed too
        assert server.environment()["ScanID"] == before["ScanID"]
        moved, events = Events(server.door), None
        try:
            macro_id = server.proxy().RunMacro(["wm theta"])[0]
            assert moved.wait_end(macro_id)["state"] == "finish"
            current = [line for line in moved.lines() if line.split()[:1] == ["Current"]]
        finally:
            moved.close()
        assert float(current[0].split()[1]) == 0.25  # nothing moved
    finally:
        env_file.rmdir()
        env_file.write_bytes(kept)
    run_to_end(server, "ascan theta 0 1 2 0")
    after = server.environment()
    assert after["ScanID"] == before["ScanID"] + 1 and after["FaultMarker"] == "kept"
    server.kill()  # what the file holds is what a restart finds
    server.start()
    assert server.environment()["ScanID"] == before["ScanID"] + 1
    with h5py.File(folder / "u.h5", "r") as f:
        assert list(f) == [f"entry{before['ScanID'] + 1}"]
