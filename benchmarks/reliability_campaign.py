"""The long versions of the data-integrity fault tests (issue 13), run by hand; figures
go to docs/reliability.md. Each case runs `macroserver run` processes (the same engine
and recorders as the Tango server) and checks the files with independent readers
(silx for SPEC, plain h5py and silx for NeXus).

    python benchmarks/reliability_campaign.py pairs [--tries 100]
        two processes scan into the same SPEC + NeXus files at once: the second is
        refused while the first writes; count bad scans (rows or labels wrong)
    python benchmarks/reliability_campaign.py kills [--tries 50]
        SIGKILL 1 ms to 5 s (log-uniform) after starting a scan into an existing .h5;
        count masters that plain h5py or silx cannot open, and damaged earlier scans
    python benchmarks/reliability_campaign.py fulldisk [--tries 20]   (root: tmpfs mount)
        fill a 2 MiB tmpfs with an image scan, then scan elsewhere, into it again and
        elsewhere, in one process; count crashes (death by a signal) and failed scans

Third round (issue 20, reliability_third.py; each big case in a child process with its
memory, file sizes and time bounded):

    ... mesh        a 10^6 x 10^6 meshct and mesh stopped after 3 s: the file's size
    ... memory      peak RSS of ascanct 50,000 x 251x251 images, recorders slower
    ... hostile     verify/convert/--consolidate on FIFO, /dev/zero, outside links, VDS
                    of 10^11 frames, malformed SPEC, EDF patterns, non-ASCII paths
    ... recovery [--tries 5]   SIGKILL mid-scan, start again: killed files readable
    ... ctstop [--tries 3]     stop/abort during ascanct of images; two doors at once
"""

from __future__ import annotations

import argparse
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reliability_third as third  # noqa: E402

RUN = [sys.executable, "-m", "macroserver", "run"]
CONFIG = """
data_roots = []
[motors.m1]
limits = [-1000.0, 1000.0]
[motors.m2]
limits = [-1000.0, 1000.0]
[channels.t]
kind = "timer"
[channels.c1]
kind = "counter"
motor = "m1"
[channels.beam]
kind = "image"
model = "spot"
motor = "m1"
shape = [251, 251]
[measurement_groups.mg]
timer = "t"
channels = ["t", "c1"]
[measurement_groups.mg_image]
timer = "t"
channels = ["t", "c1", "beam"]
[channels.t2]
kind = "timer"
[channels.c2]
kind = "counter"
motor = "m2"
[channels.beam2]
kind = "image"
model = "spot"
motor = "m2"
shape = [251, 251]
[measurement_groups.mg_image2]
timer = "t2"
channels = ["t2", "c2", "beam2"]
"""
POINTS = 21


def run_args(folder: Path, name: str, data: Path, files: list[str], scan_id: int,
             group: str, *commands: str) -> list[str]:
    return [*RUN, "--config", str(folder / "config.toml"), "--env",
            str(folder / f"{name}.json"), "--data-root", str(data),
            f"senv ScanDir {data}", f"senv ScanFile {files!r}", f"senv ScanID {scan_id}",
            f"senv ActiveMntGrp {group}", *commands]


def spec_rows(path: Path) -> dict[str, tuple[int, list[str]]]:
    from silx.io.specfile import SpecFile

    sf = SpecFile(str(path))
    try:
        return {key: (0 if sf[key].data.size == 0 else sf[key].data.shape[1],
                      list(sf[key].labels)) for key in sf.keys()}
    finally:
        sf.close()


def nexus_lengths(path: Path, entries: list[str] | None = None) -> dict[str, int]:
    """Points of each entry (all, or `entries`), read by plain h5py (no SWMR)."""
    with h5py.File(path, "r") as f:
        return {name: len(f[name]["measurement/c1"]) for name in entries or list(f)}


def pairs(folder: Path, tries: int) -> None:
    data = folder / "pairs"
    data.mkdir()
    refused = finished = other = 0
    scan = f"ascan m1 0 1 {POINTS - 1} 0.01"
    for i in range(tries):
        processes = [subprocess.Popen(run_args(folder, f"p{side}", data, ["p.dat", "p.h5"],
                                               1000 * side + i, "mg", scan),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True) for side in (1, 2)]
        for process in processes:
            _, err = process.communicate(timeout=120)
            if process.returncode == 0:
                finished += 1
            elif "is being written by another process" in err:
                refused += 1
            else:
                other += 1
                print(f"try {i}: exit {process.returncode}: {err.strip()[-300:]}")
    spec = spec_rows(data / "p.dat")
    bad_spec = {k: v for k, v in spec.items() if v != (POINTS, ["Pt_No", "m1", "t", "c1", "dt"])}
    nexus = nexus_lengths(data / "p.h5")
    bad_nexus = {k: v for k, v in nexus.items() if v != POINTS}
    print("| pairs | scans finished | refused (file busy) | other failures | SPEC scans "
          "(bad) | NeXus entries (bad) |")
    print("|---|---|---|---|---|---|")
    print(f"| {tries} | {finished} | {refused} | {other} | {len(spec)} ({len(bad_spec)}) | "
          f"{len(nexus)} ({len(bad_nexus)}) |")
    if bad_spec or bad_nexus:
        print("bad:", bad_spec, bad_nexus)


def kills(folder: Path, tries: int, seed: int = 20261201) -> None:
    rng = random.Random(seed)
    data = folder / "kills"
    data.mkdir()
    master = data / "k.h5"
    complete: list[str] = []

    def complete_scan(scan_id: int) -> None:
        done = subprocess.run(run_args(folder, "k", data, ["k.h5"], scan_id, "mg",
                                       "ascan m1 0 1 4 0"), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        complete.append(f"entry{scan_id + 1}")

    complete_scan(0)
    unreadable = damaged = 0
    delays = []
    for i in range(tries):
        delay = math.exp(rng.uniform(math.log(0.001), math.log(5.0)))
        delays.append(delay)
        process = subprocess.Popen(run_args(folder, "k", data, ["k.h5"], 100 + 10 * i, "mg",
                                            "ascan m1 0 1 400 0.01"),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        try:
            lengths = nexus_lengths(master, complete)  # not the killed one's own file
            import silx.io
            with silx.io.open(str(master)) as f:
                silx_ok = all(len(f[e]["measurement/c1"]) == 5 for e in complete)
        except (OSError, KeyError) as exc:
            unreadable += 1
            print(f"kill {i} after {delay * 1000:.1f} ms: {exc}")
            continue
        if not silx_ok or any(lengths.get(e) != 5 for e in complete):
            damaged += 1
        complete_scan(100 + 10 * i + 5)
    print("| kills | delays | master unreadable (h5py or silx) | earlier scans damaged |")
    print("|---|---|---|---|")
    print(f"| {tries} | {min(delays) * 1000:.1f} ms – {max(delays):.2f} s (log-uniform) | "
          f"{unreadable} | {damaged} |")


def fulldisk(folder: Path, tries: int) -> None:
    data = folder / "fulldisk"
    small, space = data / "small", data / "space"
    small.mkdir(parents=True)
    space.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)],
                           capture_output=True, text=True)
    if mount.returncode:
        raise SystemExit(f"cannot mount a tmpfs (needs root): {mount.stderr.strip()}")
    crashes = failed = 0
    try:
        for i in range(tries):
            for old in small.iterdir():
                subprocess.run(["rm", "-rf", str(old)], check=True)
            args = [*RUN, "--config", str(folder / "config.toml"), "--env",
                    str(folder / "f.json"), "--data-root", str(data),
                    "senv ActiveMntGrp mg_image",
                    f"senv ScanDir {small}", "senv ScanFile ['full.h5','full.dat']",
                    "ascan m1 0 1 9 0",
                    f"senv ScanDir {space}", "senv ScanFile ['space.h5','space.dat']",
                    "ascan m1 0 1 2 0",
                    f"senv ScanDir {small}", "senv ScanFile ['again.h5','again.dat']",
                    "ascan m1 0 1 2 0",
                    f"senv ScanDir {space}", "senv ScanFile ['space.h5','space.dat']",
                    "ascan m1 0 1 2 0"]
            done = subprocess.run(args, capture_output=True, text=True, timeout=300)
            if done.returncode < 0:
                crashes += 1
                print(f"try {i}: died by signal {-done.returncode}")
            elif done.returncode:
                failed += 1
                print(f"try {i}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
        lengths = nexus_lengths(space / "space.h5")
    finally:
        subprocess.run(["umount", "-l", str(small)])
    print("| tries | crashes | runs failing | scans with space (NeXus entries, all 3 points) |")
    print("|---|---|---|---|")
    print(f"| {tries} | {crashes} | {failed} | {len(lengths)} "
          f"({sum(n == 3 for n in lengths.values())}) |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", choices=["pairs", "kills", "fulldisk", "mesh", "memory",
                                         "hostile", "recovery", "ctstop"])
    parser.add_argument("--tries", type=int, default=0,
                        help="default 100 / 50 / 20; recovery 5, ctstop 3")
    args = parser.parse_args()
    tries = args.tries or {"pairs": 100, "kills": 50, "fulldisk": 20, "recovery": 5,
                           "ctstop": 3}.get(args.case, 1)
    with tempfile.TemporaryDirectory(prefix="reliability-") as name:
        folder = Path(os.path.realpath(name))
        (folder / "config.toml").write_text(CONFIG)
        cases = {
            "pairs": lambda: pairs(folder, tries),
            "kills": lambda: kills(folder, tries),
            "fulldisk": lambda: fulldisk(folder, tries),
            "mesh": lambda: third.mesh(folder, CONFIG),
            "memory": lambda: third.memory(folder, CONFIG),
            "hostile": lambda: third.hostile(folder),
            "recovery": lambda: third.recovery(folder, [a for a in run_args(
                folder, "r", folder / "recovery", ["r.h5"], 0, "mg")
                if not a.startswith("senv ScanID")], tries),
            "ctstop": lambda: third.ctstop(folder, CONFIG, tries),
        }
        cases[args.case]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
