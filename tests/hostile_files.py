"""Hostile inputs for `macroserver verify`, `convert`, `catalogue` and `convert
--consolidate` (issue 20 item 4 and 5): each made small in a folder, each a way a careless
user or an attacker made the commands hang, crash, allocate gigabytes or read files
outside the input's folder. Used by tests/test_hostile_files.py and by
benchmarks/reliability_campaign.py."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

SPEC_HEAD = ("#F {name}\n#E 1795614442\n#D Mon Dec  7 21:00:00 2026\n"
             "#C tango-macroserver  User = x\n\n")


def spec_scan(number: int, labels: list[str], rows: list[list[float]], extra: str = "") -> str:
    lines = [f"#S {number} ascan m1 0 1 {max(len(rows) - 1, 1)} 0.1", "#D Mon Dec  7 21:00:00 2026",
             *(extra.splitlines()), f"#N {len(labels)}", "#L " + "  ".join(labels)]
    lines += [" ".join(repr(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n\n"


def nexus_master(path: Path, link_file: str, link_path: str = "/data") -> Path:
    """A master file whose entry holds an external link to `link_file`."""
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry1")
        entry.attrs["NX_class"] = "NXentry"
        entry["frames"] = h5py.ExternalLink(link_file, link_path)
    return path


def make_hostile(folder: Path, outside: Path) -> dict[str, Path]:
    """Every hostile input, by case name; `outside` is a folder beside `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    cases: dict[str, Path] = {}
    os.mkfifo(folder / "frames.fifo")
    cases["fifo link"] = nexus_master(folder / "fifo.h5", "frames.fifo")
    with h5py.File(folder / "fifo_entry.h5", "w") as f:
        f["entry1"] = h5py.ExternalLink("frames.fifo", "/entry1")
    cases["entry linked to a FIFO"] = folder / "fifo_entry.h5"
    os.symlink("/dev/zero", folder / "zero.h5")
    cases["zero device link"] = nexus_master(folder / "zero_master.h5", "zero.h5")
    secret = outside / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["data"] = np.arange(4)
    cases["link outside"] = nexus_master(folder / "outside.h5", os.path.relpath(secret, folder))
    source = folder / "frames_src.h5"
    with h5py.File(source, "w") as f:
        f.create_dataset("data", shape=(1, 4, 4), dtype="u2")
    with h5py.File(folder / "vds.h5", "w") as f:
        layout = h5py.VirtualLayout(shape=(10 ** 11, 4, 4), dtype="u2")
        layout[:] = h5py.VirtualSource("frames_src.h5", "data", shape=(10 ** 11, 4, 4))
        f.create_group("entry1").create_virtual_dataset("data", layout)
    cases["VDS of 10^11 frames"] = folder / "vds.h5"
    columns = [f"c{i}" for i in range(200_000)]
    (folder / "columns.dat").write_text(
        SPEC_HEAD.format(name="columns.dat") + spec_scan(1, columns, [[1.0] * len(columns)]))
    cases["200,000 columns"] = folder / "columns.dat"
    (folder / "junk.dat").write_bytes(
        SPEC_HEAD.format(name="junk.dat").encode() + b"#S 1 ascan m1 0 1 1 0.1\n#N 2\n#L m1  c1\n"
        + bytes(range(256)) * 8 + b"\n")
    cases["binary junk"] = folder / "junk.dat"
    (folder / "chann.dat").write_text(SPEC_HEAD.format(name="chann.dat") + spec_scan(
        1, ["m1", "c1"], [[0.0, 1.0]], "#@MCA 16C\n#@CHANN 1000000000 0 999999999 1"))
    cases["#@CHANN 1e9"] = folder / "chann.dat"
    many = [SPEC_HEAD.format(name="many.dat")]
    many += [f"#S {n} ct 0.1\n#N 2\n#L a  b\n1 2\n\n" for n in range(1, 200_001)]
    (folder / "many.dat").write_text("".join(many))
    cases["200,000 tiny scans"] = folder / "many.dat"
    for name, pattern in (("format_width", "x_{point:>1500000000}.edf"),
                          ("format_attr", "x_{point.__class__.__mro__}.edf"),
                          ("dotdot", "../" + outside.name + "/{channel}_{point:05d}.edf"),
                          ("absolute", str(outside) + "/{channel}_{point:05d}.edf")):
        (folder / f"{name}.dat").write_text(SPEC_HEAD.format(name=name) + spec_scan(
            1, ["m1", "img", "c1"], [[0.0, 0.0, 1.0]],
            f"#C EDF images: {pattern}, point = img, channel in: img"))
        cases[f"EDF pattern {name}"] = folder / f"{name}.dat"
    accents = folder / "données été"
    accents.mkdir()
    (accents / "scan façon.dat").write_text(SPEC_HEAD.format(name="scan façon.dat") + spec_scan(
        1, ["m1", "c1"], [[0.0, 1.0], [1.0, 2.0]]))
    cases["non-ASCII path"] = accents / "scan façon.dat"
    return cases
