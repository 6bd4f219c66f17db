"""Symlinks planted inside a data root must not carry writes outside it.

Someone who may write in the scan folder plants links at the names the server is about
to open: the EDF temporary of the next image, the `<stem>_edf/` folder, the NeXus scan
file and the `<stem>_scans/` folder. Every file is opened relative to the scan folder and
never through a link: a planted temporary or file name is not followed (the server
writes a file of its own), a planted folder is refused with an Error on the Door, and
nothing outside changes (content, mode, no new file).
"""

from __future__ import annotations

import os
import stat

import fabio
import h5py
import pytest
from tango_helpers import Events, start_macroserver

pytestmark = pytest.mark.timeout(180)
SECRET = b"not yours\n"


@pytest.fixture(scope="module")
def server(module_device_server, tango_db, tmp_path_factory):
    return start_macroserver(module_device_server, tango_db.tango_host, "confined",
                             tmp_path_factory.mktemp("confined"))


@pytest.fixture
def outside(tmp_path):
    """A folder outside the data roots, with a private file in it."""
    folder = tmp_path / "outside"
    folder.mkdir()
    secret = folder / "secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    return folder


def scan(server, stem: str) -> tuple[dict, list[str]]:
    folder = server.data_dir / stem
    server.set_env({"ScanDir": str(folder), "ScanFile": [f"{stem}.dat", f"{stem}.h5"],
                    "ActiveMntGrp": "mg_demo"})
    events = Events(server.door)
    try:
        macro_id = events.proxy.RunMacro(["ascan theta 0 1 2 0"])[0]
        return events.wait_end(macro_id), events.lines("Error")
    finally:
        events.close()


def assert_untouched(outside) -> None:
    secret = outside / "secret"
    assert secret.read_bytes() == SECRET
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


def test_planted_file_links_are_not_followed(server, outside):
    folder = server.data_dir / "files"
    (folder / "files_scans").mkdir(parents=True)
    (folder / "files_edf").mkdir()
    scan_id = server.environment().get("ScanID", 0) + 1
    # the EDF temporary of the first image, and the NeXus scan file
    (folder / "files_edf" / f".files_S{scan_id}_beam_00000.edf.part").symlink_to(
        outside / "secret")
    (folder / "files_scans" / f"files_{scan_id}.h5").symlink_to(outside / "new.h5")
    status, errors = scan(server, "files")
    assert status["state"] == "finish", status
    assert not errors
    assert_untouched(outside)
    image = fabio.open(str(folder / "files_edf" / f"files_S{scan_id}_beam_00000.edf"))
    assert image.data.shape == (251, 251)
    with h5py.File(folder / "files.h5", "r") as f:  # the scan file took another name
        assert len(f[f"entry{scan_id}/measurement/beam"]) == 3
        assert f.get(f"entry{scan_id}", getlink=True).filename == (
            f"files_scans/files_{scan_id}_2.h5")


def test_planted_folder_links_are_refused_with_an_error(server, outside):
    folder = server.data_dir / "folders"
    folder.mkdir()
    (folder / "folders_edf").symlink_to(outside, target_is_directory=True)
    (folder / "folders_scans").symlink_to(outside, target_is_directory=True)
    status, errors = scan(server, "folders")
    assert status["state"] == "finish", status  # the recorders are not critical
    text = "\n".join(errors)
    for name in ("folders_edf", "folders_scans"):
        assert f"{folder / name} is a symbolic link" in text, text
    assert "nothing was written" in text
    assert_untouched(outside)
    assert not os.path.exists(folder / "folders.dat")  # refused before its first line
