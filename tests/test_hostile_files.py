"""`verify`, `convert`, `--consolidate` on hostile files (issue 20 items 4, 5): each case
in a child process with its memory, file sizes and time bounded (limited.py), so a
regression fails here instead of hanging, crashing or filling the machine. Every
refusal is one line on stderr naming the file, with README's exit status, never a
traceback; nothing outside the input's folder is read or hashed."""

from __future__ import annotations

import h5py
import pytest
from hostile_files import make_hostile
from limited import run_command

pytestmark = pytest.mark.timeout(600)

#: case -> (command, expected exit status, text of the one line (or the report))
VERIFY = {
    "fifo link": "is a FIFO, not a regular file (not read)",
    "zero device link": "file /dev/zero is outside the data folder",
    "link outside": "secret.h5 is outside the data folder",
    "VDS of 10^11 frames": "the master maps 100,000,000,000 frames from frames_src.h5",
}
CONSOLIDATE = {
    "fifo link": (0, "is a FIFO, not a regular file (not read)"),
    "zero device link": (0, "file /dev/zero is outside the data folder"),
    "link outside": (0, "secret.h5 is outside the data folder"),
    "VDS of 10^11 frames": (4, "declares 100,000,000,000 frames, more than the 100,000,000"),
}
CONVERT = {
    "200,000 columns": "line 8 declares 200,000 columns, more than the 10,000 read at most",
    "binary junk": "line 9 holds binary data (NUL bytes), not SPEC text",
    "#@CHANN 1e9": "line 9 declares 1,000,000,000 channels, more than the 1,048,576",
    "200,000 tiny scans": "holds 200,000 scans, more than the 10,000 converted at once",
    "EDF pattern format_width": "has fields other than {channel}, {point} and {point:0Nd}",
    "EDF pattern format_attr": "has fields other than {channel}, {point} and {point:0Nd}",
    "EDF pattern dotdot": "leads out of the SPEC file's folder",
    "EDF pattern absolute": "leads out of the SPEC file's folder",
}


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    return make_hostile(folder / "in", folder / "outside")


def one_line(done, path) -> str:
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr and len(lines) == 1, done.stderr[-3000:]
    assert str(path) in lines[0], lines
    return lines[0]


@pytest.mark.parametrize("case", VERIFY)
def test_verify_never_opens_what_it_flags(cases, case):
    path = cases[case]
    done = run_command("verify", "--checksum", str(path), timeout=60)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and VERIFY[case] in done.stdout, done.stdout
    # a checksum is printed only for files inside the folder that are regular
    hashed = [line for line in done.stdout.splitlines() if "sha256" in line]
    assert case == "VDS of 10^11 frames" or not hashed, hashed


@pytest.mark.parametrize("case", CONSOLIDATE)
def test_consolidate_follows_nothing_hostile(cases, case, tmp_path):
    path, (status, text) = cases[case], CONSOLIDATE[case]
    out = tmp_path / "whole.h5"
    done = run_command("convert", "--consolidate", str(path), str(out), timeout=60)
    assert done.returncode == status, done.stderr
    # refused: the line names the master; copied: the warning names the file not read
    assert text in one_line(done, path if status else path.parent)
    if status == 0:
        with h5py.File(out, "r") as f:
            assert "frames" not in f["entry1"]
            dropped = " ".join(f["entry1"].attrs["consolidated_links"])
            assert "(not read)" in dropped and path.name != dropped, dropped
    else:
        assert not out.exists()


@pytest.mark.parametrize("case", CONVERT)
def test_convert_refuses_hostile_spec_in_one_line(cases, case, tmp_path):
    path = cases[case]
    done = run_command("convert", str(path), str(tmp_path / "out.h5"), timeout=60)
    assert done.returncode == 4, done.stderr
    assert CONVERT[case] in one_line(done, path)


@pytest.mark.parametrize("command", ["convert", "catalogue"])
def test_an_entry_linked_to_a_fifo_is_refused_unopened(cases, command, tmp_path):
    path = cases["entry linked to a FIFO"]
    args = [str(path), str(tmp_path / "out.dat")] if command == "convert" else [str(path)]
    done = run_command(command, *args, timeout=60)
    assert done.returncode == 4, done.stderr
    assert "frames.fifo is a FIFO, not a regular file" in one_line(done, path.parent)


def test_one_scan_of_200000_converts_within_the_time_bound(cases, tmp_path):
    """silx's index of a SPEC file grows quadratically (40,000 scans: 18 s to open); a
    chosen scan is cut out of the file and read alone."""
    out = tmp_path / "one.h5"
    done = run_command("convert", "--scan", "199999", str(cases["200,000 tiny scans"]),
                       str(out), timeout=120)
    assert done.returncode == 0, done.stderr
    with h5py.File(out, "r") as f:
        assert list(f) == ["entry199999"]
        assert f["entry199999/measurement/b"][()].tolist() == [2.0]


def test_a_non_ascii_path_converts(cases, tmp_path):
    out = tmp_path / "sortie été.h5"
    done = run_command("convert", str(cases["non-ASCII path"]), str(out), timeout=60)
    assert done.returncode == 0, done.stderr
    with h5py.File(out, "r") as f:
        assert f["entry1/measurement/c1"][()].tolist() == [1.0, 2.0]


def test_verify_names_a_scan_file_cut_by_a_full_disk(tmp_path):
    """Issue 20 item 7: it said `cannot read <master>`; the cut file is the problem."""
    from recorder_feed import make_info, make_points, run_scan

    from macroserver.recorders.nexus import NexusRecorder

    info = make_info(1, 5)
    run_scan(NexusRecorder, tmp_path / "m.h5", info, make_points(info, 5))
    cut = tmp_path / "m_scans" / "m_1.h5"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    done = run_command("verify", str(tmp_path / "m.h5"), timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"{cut}: cut short: " in done.stdout, done.stdout  # not an SWMR retry loop
