"""SharedMem recorder: another process sees the scan live; nothing is left behind.

Both backends run where they can: `shm` (stdlib) always, `sps` when PyMca5 imports.
The `sps` reader is PyMca's own `SpsDataSource`, the data layer of its online viewer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from json_feed_helpers import Collector, make_info, make_point, run_scan

from macroserver import shmreader
from macroserver.recorders.base import RecorderContext
from macroserver.recorders.sharedmem import MAX_SEGMENT_BYTES, SharedMemRecorder, sanitize
from macroserver.records import EndStatus, Point, ScanEnd

try:
    from PyMca5.PyMcaIO import sps
except ImportError:
    sps = None

BACKENDS = [
    "shm",
    pytest.param("sps", marks=pytest.mark.skipif(sps is None, reason="PyMca5 not installed")),
]
TESTS_DIR = Path(__file__).parent

# Reads SCAN_D whenever a line arrives on stdin; prints labels, rows plotted, x and y.
READER = textwrap.dedent("""
    import json, sys
    backend, program = sys.argv[1:3]
    if backend == "sps":
        from PyMca5.PyMcaCore.SpsDataSource import SpsDataSource
        source = SpsDataSource(program)
    else:
        from macroserver.shmreader import ShmArrayReader
        reader = ShmArrayReader(program)
    for _ in sys.stdin:
        if backend == "sps":
            labels = source.getKeyInfo("SCAN_D")["LabelNames"]
            obj = source.getDataObject("SCAN_D", {"cntlist": labels, "x": [0], "y": [4]})
            x, y = obj.x[0].tolist(), obj.y[0].tolist()
        else:
            snap = reader.read()
            labels, x, y = snap.labels, snap.data[:, 0].tolist(), snap.data[:, 4].tolist()
        print(json.dumps({"labels": labels, "x": x, "y": y}), flush=True)
""")

# Runs a scan of N points in its own process, reports, then waits for a line and exits.
WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[3])
    from json_feed_helpers import make_info, points
    from macroserver.recorders.base import RecorderContext
    from macroserver.recorders.sharedmem import SharedMemRecorder
    backend, program = sys.argv[1:3]
    env = {"SharedMemory": backend, "SharedMemoryProgram": program}
    recorder = SharedMemRecorder(RecorderContext(env=env))
    info = make_info(npoints=3, image=False)
    recorder.start(info)
    for point in points(info, 5):
        recorder.record(point)
    print("written", flush=True)
    sys.stdin.readline()
""")


@pytest.fixture
def program() -> str:
    """A program name no other test run uses."""
    return f"t{uuid.uuid4().hex[:12]}"


def _recorder(backend: str, program: str) -> SharedMemRecorder:
    env = {"SharedMemory": backend, "SharedMemoryProgram": program}
    return SharedMemRecorder(RecorderContext(env=env))


def _shm_names(program: str) -> list[str]:
    return sorted(p.name for p in shmreader.SHM_DIR.glob(f"{program}_*"))


def _segments_exist(backend: str, program: str) -> bool:
    if backend == "sps":
        return program in sps.getspeclist()
    return bool(_shm_names(program))


class _Reader:
    """The reader subprocess: `read()` asks it for one snapshot."""

    def __init__(self, backend: str, program: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", READER, backend, program],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def read(self) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write("read\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"reader exited with {self.proc.wait()}"
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        assert self.proc.wait(timeout=10) == 0


@pytest.fixture
def reader_factory() -> Iterator[Any]:
    readers: list[_Reader] = []

    def start(backend: str, program: str) -> _Reader:
        readers.append(_Reader(backend, program))
        return readers[-1]

    yield start
    for reader in readers:
        reader.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_second_process_sees_labels_and_growing_rows(
    backend: str, program: str, reader_factory: Any
) -> None:
    recorder = _recorder(backend, program)
    info = make_info(npoints=3)  # planned 3, recorded 5: SCAN_D must be re-created bigger
    recorder.start(info)
    reader = reader_factory(backend, program)

    first = reader.read()
    assert first["labels"] == ["mot01", "mot02", "#Pt No", "ct", "ct01", "ct 02", "dt"]
    assert first["x"] == [] and first["y"] == []
    for n in range(1, 6):
        recorder.record(make_point(info, n - 1))
        seen = reader.read()
        expected = [make_point(info, i) for i in range(n)]
        assert seen["x"] == [float(p["mot01"]) for p in expected]
        assert seen["y"] == [float(p["ct01"]) for p in expected]
    recorder.end(ScanEnd(EndStatus.DONE, time.time(), 5))
    assert reader.read()["labels"][0] == "mot01"


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_segment_left_after_writer_process_ends(backend: str, program: str) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, backend, program, str(TESTS_DIR)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert writer.stdout and writer.stdin
    assert writer.stdout.readline().strip() == "written"
    assert _segments_exist(backend, program)
    writer.stdin.write("exit\n")
    writer.stdin.flush()
    assert writer.wait(timeout=20) == 0
    assert not _segments_exist(backend, program)


@pytest.mark.parametrize("backend", BACKENDS)
def test_segments_removed_even_when_writer_is_killed(backend: str, program: str) -> None:
    """SIGKILL skips atexit: sps segments are pre-marked for removal, and the stdlib
    resource tracker unlinks shm segments."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, backend, program, str(TESTS_DIR)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert writer.stdout and writer.stdout.readline().strip() == "written"
    assert _segments_exist(backend, program)
    writer.kill()
    writer.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _segments_exist(backend, program) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _segments_exist(backend, program)


@pytest.mark.parametrize("backend", BACKENDS)
def test_env_reports_scan_and_end_status(backend: str, program: str) -> None:
    info = make_info(npoints=4, scan_dir=Path("/data"), scan_files=("s.dat",))
    run_scan(_recorder(backend, program), info, 3, status=EndStatus.STOPPED)
    if backend == "sps":
        env = {k: sps.getenv(program, "SCAN_D_ENV", k)
               for k in sps.getkeylist(program, "SCAN_D_ENV")}
        assert env["nopts"] == "2"  # index of the last point: PyMca plots nopts + 1 rows
    else:
        snapshot = shmreader.read_scan(program)
        env = snapshot.meta["env"]
        assert snapshot.npts == 3
    assert env["title"] == info.title
    assert env["axistitles"] == "mot01 mot02 {#Pt No} ct ct01 {ct 02} dt"
    assert env["datafile"] == "/data/s.dat"
    assert env["scanno"] == "7"
    assert (env["started"], env["ended"], env["aborted"]) == ("1", "1", "1")
    assert env["status"] == "stopped"


@pytest.mark.parametrize("backend", BACKENDS)
def test_last_spectrum_in_mca_array(backend: str, program: str) -> None:
    info = make_info(npoints=4, image=False)
    run_scan(_recorder(backend, program), info, 3)
    expected = make_point(info, 2)["mca01"].tolist()
    if backend == "sps":
        rows, cols, _, flags = sps.getarrayinfo(program, "MCA_MCA01")
        assert (rows, cols) == (1, 256) and flags & sps.TAG_MCA
        assert sps.getdata(program, "MCA_MCA01")[0].tolist() == expected
    else:
        assert shmreader.read_scan(program, "MCA_MCA01").data[0].tolist() == expected


def test_second_scan_replaces_arrays_and_missing_values_are_nan(program: str) -> None:
    run_scan(_recorder("shm", program), make_info(npoints=10), 10)
    recorder = _recorder("shm", program)
    info = make_info(npoints=2, title="second")
    recorder.start(info)
    values = dict(make_point(info, 0).values)
    del values["ct01"]
    recorder.record(Point(0, values, time.time()))
    snapshot = shmreader.read_scan(program)
    assert snapshot.meta["env"]["title"] == "second"
    assert snapshot.rows == 2 and snapshot.npts == 1
    assert str(snapshot.data[0, 4]) == "nan"
    assert _shm_names(program) == [f"{program}_MCA_MCA01", f"{program}_SCAN_D"]


def test_leftover_segment_of_a_killed_writer_is_replaced(program: str) -> None:
    from multiprocessing import shared_memory

    leftover = shared_memory.SharedMemory(f"{program}_SCAN_D", create=True, size=16)
    leftover.close()
    run_scan(_recorder("shm", program), make_info(npoints=2), 2)
    assert shmreader.read_scan(program).npts == 2


def test_program_defaults_to_sanitized_door_name() -> None:
    recorder = SharedMemRecorder(RecorderContext(env={"SharedMemory": "shm"},
                                                 door_name="door/lab-1/01"))
    assert recorder.program == "door_lab_1_01"
    assert sanitize("///") == "msrv"
    assert len(sanitize("x" * 80)) == 31


def test_unknown_backend_is_a_clear_error() -> None:
    recorder = SharedMemRecorder(RecorderContext(env={"SharedMemory": "True"}))
    with pytest.raises(ValueError, match="'sps' or 'shm'"):
        recorder.start(make_info())
    recorder.end(ScanEnd(EndStatus.FAILED, time.time(), 0))  # end after a failed start


def test_shm_reader_cli_prints_rows(program: str) -> None:
    recorder = _recorder("shm", program)
    run_scan(recorder, make_info(npoints=2), 2)
    out = subprocess.run([sys.executable, "-m", "macroserver.shmreader", program],
                         capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert json.loads(lines[0])["labels"][0] == "mot01"
    assert len(lines) == 3


def test_missing_sps_fails_at_start_saying_how_to_install() -> None:
    """Run where PyMca5 cannot be imported (a None entry in sys.modules blocks it)."""
    script = textwrap.dedent("""
        import sys
        sys.modules["PyMca5"] = None
        sys.path.insert(0, sys.argv[1])
        from json_feed_helpers import make_info
        from macroserver.recorders.base import RecorderContext
        from macroserver.recorders.sharedmem import SharedMemRecorder
        recorder = SharedMemRecorder(RecorderContext(env={"SharedMemory": "sps"}))
        try:
            recorder.start(make_info())
        except RuntimeError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", script, str(TESTS_DIR)],
                         capture_output=True, text=True, check=True).stdout
    assert "not installed" in out and "pip install" in out and "shm" in out


def test_two_processes_with_one_program_name_keep_their_own_segments(program: str) -> None:
    """Issue 13 item 12: the second writer used to unlink the first one's live segment."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, "shm", program, str(TESTS_DIR)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout and writer.stdin
        assert writer.stdout.readline().strip() == "written"
        listener = Collector()
        env = {"SharedMemory": "shm", "SharedMemoryProgram": program}
        recorder = SharedMemRecorder(RecorderContext(env=env, listener=listener))
        run_scan(recorder, make_info(npoints=2, image=False, title="mine"), 2)
        own = f"{program}_{os.getpid()}"
        warnings = [text for level, text in listener.messages if "WARNING" in level.upper()]
        assert warnings == [(
            f"shared memory segment {program}_SCAN_D is in use by another process (program "
            f"{program!r}, another server or `macroserver run`?); this scan's shared memory "
            f"is published as program {own!r} instead (set SharedMemoryProgram to choose a "
            "name)")], listener.messages
        theirs, mine = shmreader.read_scan(program), shmreader.read_scan(own)
        assert theirs.npts == 5 and theirs.meta["env"]["title"] != "mine"
        assert mine.npts == 2 and mine.meta["env"]["title"] == "mine"
        writer.stdin.write("exit\n")
        writer.stdin.flush()
        assert writer.wait(timeout=20) == 0
        assert not _shm_names(program + "_S")  # the writer removed its own at exit
        # the name is free again: the next scan uses it, no warning
        listener.messages.clear()
        run_scan(recorder, make_info(npoints=2, image=False, title="again"), 2)
        assert not listener.messages
        assert shmreader.read_scan(program).meta["env"]["title"] == "again"
    finally:
        writer.kill()
        writer.wait(timeout=20)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_huge_scan_is_refused_before_reserving_memory(backend: str, program: str) -> None:
    """A 1e8-point scan would have reserved 5.6 GB (1e8 rows x 7 columns x 8 bytes)."""
    recorder = _recorder(backend, program)
    with pytest.raises(ValueError, match=(
            r"shared memory for 100,000,000 points x 7 columns would take 5,341 MiB, more "
            r"than 256 MiB; the scan is not published to shared memory \(its files are "
            r"written as usual\)")):
        recorder.start(make_info(npoints=100_000_000, image=False))
    assert not _segments_exist(backend, program)
    # growing past the bound during a scan of unknown length stops there, clearly
    recorder = _recorder(backend, program)
    info = make_info(npoints=None, image=False)
    recorder.start(info)
    rows_at_bound = MAX_SEGMENT_BYTES // (7 * 8)
    with pytest.raises(ValueError, match="more than 256 MiB"):
        recorder.record(make_point(info, rows_at_bound + 1))


def test_reader_command_prints_the_scan_and_says_what_is_missing(program: str) -> None:
    """`python -m macroserver.shmreader`: the scan's rows; a name nobody published, or
    `--help`, without a traceback (issue 22 item 7)."""
    run_scan(_recorder("shm", program), make_info(npoints=4), 3)
    command = [sys.executable, "-m", "macroserver.shmreader"]
    done = subprocess.run([*command, program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert json.loads(lines[0])["env"]["title"] and len(lines) == 1 + 3
    missing = subprocess.run([*command, f"{program}_none"], capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 4 and missing.stdout == ""
    assert missing.stderr == (f"Error: no shared-memory array /dev/shm/{program}_none_SCAN_D: "
                              "no scan has published it (senv SharedMemory shm, and "
                              "SharedMemoryProgram or the door name as PROGRAM)\n")
    helped = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "usage: python -m macroserver.shmreader" in helped.stdout
