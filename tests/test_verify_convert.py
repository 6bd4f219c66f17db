"""`macroserver verify` and `macroserver convert --consolidate` on files a scan with a
self-saving detector wrote, run as a user runs them (subprocesses), including a
deleted source file, a short one, a master copied alone and sources outside the root."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from collect import run
from test_selfsaving import scan_core

from macroserver.cli.exitcodes import EXIT_BROKEN_PIPE
from macroserver.elements.framefiles import LIMA_DATASET

pytestmark = pytest.mark.timeout(120)

MACROSERVER = [sys.executable, "-m", "macroserver"]


def macroserver(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([*MACROSERVER, *map(str, args)], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture
def scan(tmp_path):
    """A finished 10-point scan: data/scan.h5 linking data/scan_scan1/det_000[0-2].h5."""
    core, data = scan_core(tmp_path)
    outcome, _ = run(core, "ascan m1 0 9 9 0")
    assert outcome.state == "finish", outcome.error
    return data


def problems(result: subprocess.CompletedProcess) -> list[str]:
    report = json.loads(result.stdout)
    return [p for source in report["sources"] for p in source["problems"]]


def test_verify_accepts_a_complete_scan_and_gives_checksums(scan):
    result = macroserver("verify", scan / "scan.h5", "--json", "--checksum")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["problems"] == 0
    kinds = {(s["kind"], s["file"]) for s in report["sources"]}
    # entry1 is in the scan's own file, scan_scans/scan_1.h5: its names are relative to it
    assert ("scan file", "scan_scans/scan_1.h5") in kinds
    assert ("external link", "../scan_scan1/det_0002.h5") in kinds
    assert ("virtual source", "../scan_scan1/det_0002.h5") in kinds
    first = next(s for s in report["sources"] if s["file"].endswith("det_0000.h5"))
    data = (scan / "scan_scan1" / "det_0000.h5").read_bytes()
    assert first["sha256"] == hashlib.sha256(data).hexdigest()
    text = macroserver("verify", scan / "scan.h5")
    assert text.returncode == 0 and text.stdout.strip().endswith("0 problems")
    # `verify --json ... | head`: the reader went away before the report was written
    piped = subprocess.Popen([*MACROSERVER, "verify", "--json", str(scan / "scan.h5")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert piped.stdout is not None and piped.stderr is not None
    piped.stdout.close()
    assert (piped.wait(60), piped.stderr.read()) == (EXIT_BROKEN_PIPE, b"")


def test_verify_reports_a_deleted_source_file(scan):
    (scan / "scan_scan1" / "det_0001.h5").unlink()
    result = macroserver("verify", scan / "scan.h5")
    assert result.returncode == 1
    assert "PROBLEM" in result.stdout
    assert "file ../scan_scan1/det_0001.h5 does not exist" in result.stdout


def test_verify_reports_a_master_copied_alone(scan, tmp_path):
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(scan / "scan.h5", alone)
    result = macroserver("verify", alone / "scan.h5", "--json")
    assert result.returncode == 1
    assert problems(result) and all("does not exist" in p for p in problems(result))


def test_verify_reports_a_short_source_file(scan):
    path = scan / "scan_scan1" / "det_0001.h5"
    with h5py.File(path, "r") as f:
        kept = f[LIMA_DATASET][:2]
    path.unlink()
    with h5py.File(path, "w") as f:
        f[LIMA_DATASET] = kept
    result = macroserver("verify", scan / "scan.h5", "--json")
    assert result.returncode == 1
    assert any("holds 2 frames, the master maps frames 0..3" in p for p in problems(result))


def test_verify_reports_sources_outside_the_data_folder(scan):
    elsewhere = scan / "elsewhere"
    elsewhere.mkdir()
    result = macroserver("verify", scan / "scan.h5", "--json", "--root", elsewhere)
    assert result.returncode == 1
    assert any("is outside the data folder" in p for p in problems(result))


def test_consolidated_copy_is_self_contained_and_equal_to_the_linked_view(scan, tmp_path):
    out = tmp_path / "alone" / "consolidated.h5"
    out.parent.mkdir()
    result = macroserver("convert", "--consolidate", scan / "scan.h5", out)
    assert result.returncode == 0, result.stderr
    with h5py.File(scan / "scan.h5", "r") as f:
        linked = f["entry1/instrument/det/data"][()]
        counter = f["entry1/measurement/c1"][()]
    shutil.rmtree(scan)  # nothing of the original is needed any more
    with h5py.File(out, "r") as f:
        data = f["entry1/instrument/det/data"]
        assert not data.is_virtual
        np.testing.assert_array_equal(data[()], linked)
        np.testing.assert_array_equal(f["entry1/measurement/c1"][()], counter)
        assert f["entry1/det_image/data"] == data  # the NeXus link is kept as a link
        files = f["entry1/instrument/det/files"]
        assert list(files) == []  # the external links are not copied, but named
        assert len(files.attrs["consolidated_links"]) == 3
    verified = macroserver("verify", out, "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["sources"] == []


def test_convert_refuses_an_existing_output(scan):
    result = macroserver("convert", "--consolidate", scan / "scan.h5", scan / "scan.dat")
    assert result.returncode == 4 and "exists" in result.stderr


def test_verify_reads_a_virtual_dataset_over_the_same_file(tmp_path):
    path = tmp_path / "same.h5"
    with h5py.File(path, "w") as f:
        f["raw"] = np.arange(12, dtype="u2").reshape(3, 2, 2)
        layout = h5py.VirtualLayout((3, 2, 2), dtype="u2")
        layout[:] = h5py.VirtualSource(".", "raw", shape=(3, 2, 2))
        f.create_virtual_dataset("v", layout)
    result = macroserver("verify", path, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    (source,) = json.loads(result.stdout)["sources"]
    assert (source["file"], source["frames"], source["problems"]) == (".", 3, [])


def test_consolidating_with_a_missing_source_warns_and_copies_the_fill_value(scan, tmp_path):
    (scan / "scan_scan1" / "det_0002.h5").unlink()
    out = tmp_path / "consolidated.h5"
    result = macroserver("convert", "--consolidate", scan / "scan.h5", out)
    assert result.returncode == 0, result.stderr
    assert "Warning: /entry1/" in result.stderr and "det_0002.h5 does not exist" in result.stderr
    with h5py.File(out, "r") as f:
        frames = f["entry1/instrument/det/data"][()]
    assert (frames[8:] == np.iinfo(np.uint16).max).all() and (frames[:8] != 65535).any()
