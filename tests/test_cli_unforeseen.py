"""`verify`, `convert` and `catalogue` on files no reader of ours foresaw: a damaged HDF5
object, layouts no program writes, a truncated SPEC file, an EDF image with a bad
header, a folder, an unreadable file. Each, run as a user runs it (the real CLI in a
subprocess), gives one line on stderr naming the file and what was wrong (after what a
reader library may have warned of), exit status 4
(unusable input), no traceback and no output left behind; `--debug` shows the traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import fabio
import h5py
import numpy as np
import pytest
from hostile_files import SPEC_HEAD

pytestmark = pytest.mark.timeout(300)

MCA = "#@MCA 8C\n#@CHANN 8 0 7 1\n"


def macroserver(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "macroserver", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def entry(f: h5py.File) -> tuple[h5py.Group, h5py.Group]:
    """An NXentry with a measurement group holding one motor column."""
    group = f.create_group("entry1")
    group.attrs["NX_class"] = "NXentry"
    measurement = group.create_group("measurement")
    measurement["theta"] = np.arange(3.0)
    return group, measurement


def damaged_object(path: Path) -> Path:
    """A NeXus file whose measurement column's object header is overwritten: the link
    to it is there, the object cannot be opened."""
    with h5py.File(path, "w") as f:
        _, measurement = entry(f)
        address = h5py.h5o.get_info(measurement["theta"].id).addr
    with open(path, "r+b") as stream:
        stream.seek(address)
        stream.write(b"\xff" * 16)
    return path


def scalar_frame_flags(path: Path) -> Path:
    """A detector's virtual dataset whose `frame_saved` flags are one scalar, not one
    flag per frame."""
    with h5py.File(path, "w") as f:
        f["frames"] = np.zeros((3, 2, 2))
        detector = f.create_group("entry1/instrument/det")
        layout = h5py.VirtualLayout(shape=(3, 2, 2), dtype="f8")
        layout[:] = h5py.VirtualSource(".", "frames", shape=(3, 2, 2))
        detector.create_virtual_dataset("data", layout)
        detector["frame_saved"] = np.int8(1)
    return path


def title_group(path: Path) -> Path:
    """An entry whose title is a group instead of a text dataset."""
    with h5py.File(path, "w") as f:
        group, _ = entry(f)
        group.create_group("title")
    return path


def compound_column(path: Path) -> Path:
    """A measurement column of records (a compound type), not numbers."""
    with h5py.File(path, "w") as f:
        _, measurement = entry(f)
        measurement["pair"] = np.zeros(3, dtype=[("x", "f8"), ("y", "i4")])
    return path


def truncated_spec(path: Path) -> Path:
    """A SPEC scan with MCA lines, cut in the middle of its second @A line."""
    text = SPEC_HEAD.format(name=path.name) + "#S 1 ascan m1 0 1 1 0.1\n" + MCA
    text += "#N 2\n#L m1  c1\n@A 0 1 2 3 4 5 6 7\n0 1\n@A 0 1 2 3 4 5 6 7\n1 2\n"
    path.write_text(text[:text.rindex("@A") + 9])
    return path


def spec_with_bad_edf(path: Path, bad: int) -> Path:
    """A SPEC scan of two images, the header of point `bad`'s EDF file damaged."""
    images = path.parent / path.stem
    images.mkdir()
    fabio.edfimage.EdfImage(data=np.ones((4, 4), "u2")).write(
        str(images / f"img_{1 - bad:05d}.edf"))
    (images / f"img_{bad:05d}.edf").write_bytes(
        b"{\nHeaderID = EH:000001:000000:000000 ;\nSize = abc ;\nDim_1 = -5 ;\n"
        b"DataType = Nonsense ;\n" + b" " * 400 + b"}\n" + b"\x00" * 20)
    path.write_text(SPEC_HEAD.format(name=path.name) + "#S 1 ascan m1 0 1 1 0.1\n"
                    f"#C EDF images: {path.stem}/img_{{point:05d}}.edf, point = img, "
                    "channel in: img\n#N 3\n#L m1  img  c1\n0 0 1\n1 1 2\n")
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("unforeseen")
    damaged_object(path / "damaged.h5")
    scalar_frame_flags(path / "scalar_flags.h5")
    title_group(path / "title_group.h5")
    compound_column(path / "compound.h5")
    truncated_spec(path / "truncated.dat")
    spec_with_bad_edf(path / "bad_edf.dat", bad=1)
    spec_with_bad_edf(path / "bad_first_edf.dat", bad=0)
    (path / "folder.h5").mkdir()
    unreadable = path / "unreadable.dat"
    unreadable.write_text(SPEC_HEAD.format(name="unreadable.dat"))
    unreadable.chmod(0)
    return path


#: (command line, the file it names, what the line says was wrong)
CASES = [
    (["verify", "damaged.h5"], "damaged.h5",
     "/entry1/measurement/theta cannot be opened (a damaged HDF5 file)"),
    (["convert", "damaged.h5", "out.dat"], "damaged.h5",
     "entry1 cannot be read: 'Unable to synchronously open object"),
    (["catalogue", "damaged.h5"], "damaged.h5", "entry1 cannot be read"),
    (["verify", "scalar_flags.h5"], "cannot verify scalar_flags.h5",
     "IndexError: invalid index to scalar variable"),
    (["convert", "title_group.h5", "out.dat"], "cannot convert title_group.h5 to out.dat",
     "AttributeError: 'Group' object has no attribute"),
    (["catalogue", "title_group.h5"], "cannot read title_group.h5",
     "AttributeError: 'Group' object has no attribute"),
    (["convert", "compound.h5", "out.h5"], "cannot convert compound.h5 to out.h5",
     "TypeError: "),
    (["convert", "truncated.dat", "out.h5"], "cannot convert truncated.dat to out.h5",
     "column 'mca_1': value of shape (3,), declared (8,)"),
    (["convert", "bad_edf.dat", "out.h5"], "img_00001.edf",
     "cannot read the EDF image bad_edf/img_00001.edf: KeyError: 'Nonsense'"),
    (["convert", "bad_first_edf.dat", "out.h5"], "img_00000.edf",  # not a column dropped
     "cannot read the EDF image bad_first_edf/img_00000.edf: KeyError: 'Nonsense'"),
    (["verify", "folder.h5"], "folder.h5", "is a folder, not a regular file"),
    (["convert", "folder.h5", "out.dat"], "folder.h5", "is a folder, not a regular file"),
]
if os.geteuid() != 0:  # root reads a file of mode 000 all the same
    CASES.append((["convert", "unreadable.dat", "out.h5"], "unreadable.dat",
                  "Permission denied"))


def test_each_hostile_file_gives_one_line_naming_it_and_exit_4(folder: Path) -> None:
    for argv, names, says in CASES:
        done = macroserver(*argv, cwd=folder)
        lines = done.stderr.strip().splitlines()
        # before it, only what a reader library said of the file (fabio: "Size abc")
        assert "Traceback" not in done.stderr and len(lines) <= 3, (argv, done.stderr)
        assert lines[-1].startswith("Error: ") and names in lines[-1] and says in lines[-1], (
            argv, lines[-1])
        assert done.returncode == 4, (argv, done.returncode, lines[-1])
        assert not list(folder.glob("out*")) and not list(folder.glob(".out*")), argv


def test_debug_shows_the_traceback_of_an_unforeseen_error(folder: Path) -> None:
    done = macroserver("verify", "--debug", "scalar_flags.h5", cwd=folder)
    assert "Traceback (most recent call last)" in done.stderr, done.stderr
    assert done.stderr.strip().endswith("IndexError: invalid index to scalar variable.")
    assert done.returncode == 1
