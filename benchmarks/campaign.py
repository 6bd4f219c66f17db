"""The speed campaign: one command prints the whole table (docs/performance.md).

    .venv/bin/python benchmarks/campaign.py [--quick] [--no-tango] [--json FILE]

Measured in one run, on this machine:

1. per-point overhead of `ascan` (integration time 0, instant motor) in-process and
   through Tango (an embedded database and `macroserver serve`, started on free
   loopback ports and stopped at the end), scalar-only (timer + 3 counters) and with
   the demo's 1D `wave` (256) and 2D `beam` (251x251) channels, all recorders on
   (Output + SPEC + NeXus + JSON); per-recorder rows explain where image time goes;
   and in-process with a self-saving detector of 64x64 and of 2048x2048 frames (saved
   by the simulated detector in its own files, linked into NeXus, never copied);
   plus a continuous `ascanct` (100,000 triggers/s, points in blocks) with all recorders,
   in-process and through Tango with a client that must receive every point; and a
   1,001-point `ascan` run synchronously from Sardana's own BaseDoor (JsonRecorder on;
   bench_sardana_door.py);
2. memory, each in a child process: peak RSS of 1,000 vs 100,000 scalar points, and
   the RSS after a 500-point image scan has ended vs before it;
3. the physical floor in the same run: plain h5py writing the same frames with the same
   chunking/compression, plain fabio writing the same EDF files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DETECTOR_GROUPS,
    IMAGE_GROUP,
    SCALAR_GROUP,
    Timing,
    current_rss,
    make_core,
    peak_rss,
    percentile,
    plain_fabio,
    plain_h5py,
    process_cpu,
    release_free_memory,
    reset_peak_rss,
    run_scan,
    scan_env,
    tango_system,
)
from bench_sardana_door import TARGET_SARDANA_DOOR, through_sardana_door  # noqa: E402

TARGET_INPROCESS = 5000.0
TARGET_TANGO = 1000.0
TARGET_CT_INPROCESS = 50_000.0
TARGET_CT_TANGO = 10_000.0
TARGET_H5_RATIO = 0.80
TARGET_DETECTOR = 2000.0  # points/s with a self-saving detector, all recorders on
TARGET_FRAME_SIZE_RATIO = 1.5  # per-point time, 2048x2048 vs 64x64 frames
FLAT_LIMIT_KIB = 8 * 1024
RETURNED_LIMIT_KIB = 16 * 1024
ALL_FILES = ("scan.dat", "scan.h5")  # SPEC (+ EDF for images) and NeXus


def command(points: int) -> str:
    """ascan of `points` points over 0..1, integration time 0 (pure overhead)."""
    return f"ascan m1 0 1 {points - 1} 0"


#: A continuous scan's trigger period: 100,000 triggers/s, so the motion itself would
#: allow 100,000 points/s; what the row measures below that is the record path.
CT_INTEG_TIME = 1e-5


def ct_command(points: int) -> str:
    """ascanct of `points` points (triggered timing on the simulated elements)."""
    return f"ascanct m1 0 {points - 1} {points - 1} {CT_INTEG_TIME}"


# Recorder sets: (label, JsonRecorder, ScanFile entries); Output is always on.
RECORDER_SETS = {
    "all": ("Output+SPEC+NeXus+JSON", True, ALL_FILES),
    "output": ("Output only", False, ()),
    "json": ("Output+JSON", True, ()),
    "spec": ("Output+SPEC", False, ("scan.dat",)),
    "nexus": ("Output+NeXus", False, ("scan.h5",)),
}


def _files(folder: Path, files: tuple[str, ...], tag: str) -> list[str]:
    """Fresh file names per run, so every run creates its files (no append effects)."""
    return [f"{tag}_{name}" for name in files]


# -- in-process ---------------------------------------------------------------------------

class Case:
    """One in-process scan configuration on its own core, warmed up."""

    def __init__(self, folder: Path, group: str, which: str, make_command=command) -> None:
        self.label, self.json_on, self.files = RECORDER_SETS[which]
        self.folder, self.group, self.which = folder, group, which
        self.command = make_command
        self.core = make_core(folder)
        self.core.env.update(scan_env(folder, group, json=self.json_on))
        run_scan(self.core, make_command(5))  # warm-up: imports, threads
        self.best, self.last_files, self.runs = float("inf"), [], 0

    def run(self, points: int) -> None:
        names = _files(self.folder, self.files, f"{self.group}_{self.which}_{self.runs}")
        self.core.env.update(scan_env(self.folder, self.group, files=names, json=self.json_on))
        cpu = process_cpu()
        seconds = run_scan(self.core, self.command(points))
        cpu = process_cpu() - cpu
        if seconds < self.best:
            self.best, self.cpu = seconds, cpu
        self.last_files = [self.folder / n for n in names]
        self.runs, self.points = self.runs + 1, points

    def result(self) -> dict:
        return {"label": self.label, "points": self.points, "seconds": self.best,
                "cpu_seconds": self.cpu, "files": self.last_files}


# -- through Tango --------------------------------------------------------------------------

def through_tango(folder: Path, cases: list[tuple[str, str, str, int]],
                  repeat: int) -> dict[str, dict]:
    """Each case (key, group, recorder set, points) on one real Tango system, best of
    `repeat` runs."""
    from macroserver.tango.client import DoorClient

    results: dict[str, dict] = {}
    with tango_system(folder) as (door, process):
        timing = Timing()
        client = DoorClient(door, timeout_ms=30000)
        timing.attach(client)
        with client:
            for key, group, which, points in cases:
                client.set_environment(scan_env(folder, group, json=RECORDER_SETS[which][1]))
                assert client.run(command(3), timeout=120).ok  # warm-up
                for run in range(repeat):
                    result = _tango_run(client, timing, process.pid, folder,
                                        (key, group, which, points), run)
                    if key not in results or result["seconds"] < results[key]["seconds"]:
                        results[key] = result
    return results


def _tango_run(client, timing: Timing, pid: int, folder: Path,
               case: tuple[str, str, str, int], run: int) -> dict:
    key, group, which, points = case
    label, json_on, files = RECORDER_SETS[which]
    names = _files(folder, files, f"tango_{key.replace('/', '_')}_{run}")
    client.set_environment(scan_env(folder, group, files=names, json=json_on))
    timing.reset()
    cpu = process_cpu(pid)
    started = time.perf_counter()
    continuous = key.startswith("ct/")
    outcome = client.run((ct_command if continuous else command)(points), timeout=1800)
    elapsed = time.perf_counter() - started
    cpu = process_cpu(pid) - cpu
    if not outcome.ok:
        raise SystemExit(f"through Tango, {key}: {outcome.state} {outcome.error}")
    if continuous:  # the table is thinned on screen: every point must come as a record
        timing.wait_records(points)
    else:
        timing.wait_rows(points)
    t0 = client.environment()["ScanHistory"][-1]["startts"]
    delays = timing.delays_ms(t0)
    return {
        "label": label, "points": points, "seconds": elapsed, "cpu_seconds": cpu,
        "rows": len(timing.row_received), "records": timing.records,
        "delay_median_ms": percentile(delays, 0.5),
        "delay_p95_ms": percentile(delays, 0.95),
    }


# -- children (memory) -------------------------------------------------------------------

def child(kind: str, points: int) -> None:
    """Run in a fresh process: one scan, RSS before/after, printed as JSON."""
    with tempfile.TemporaryDirectory(prefix="campaign-child-") as tmp:
        folder = Path(tmp)
        group = SCALAR_GROUP if kind == "scalar" else IMAGE_GROUP
        core = make_core(folder)
        core.env.update(scan_env(folder, group, files=_files(folder, ALL_FILES, "warm")))
        run_scan(core, command(10))  # warm-up: imports, threads, HDF5/fabio state
        release_free_memory()
        core.env.update(scan_env(folder, group, files=_files(folder, ALL_FILES, "main")))
        reset_peak_rss()
        peak_before, now_before = peak_rss(), current_rss()
        seconds = run_scan(core, command(points))
        peak_after, now_after = peak_rss(), current_rss()
        release_free_memory()
        now_trimmed = current_rss()
    print(json.dumps({"kind": kind, "points": points, "seconds": seconds,
                      "peak_before": peak_before, "peak_after": peak_after,
                      "now_before": now_before, "now_after": now_after,
                      "now_trimmed": now_trimmed}))


def in_child(kind: str, points: int) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", kind, str(points)],
                            capture_output=True, text=True, timeout=1800)
    if result.returncode:
        raise SystemExit(f"child {kind} {points} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- the physical floor ---------------------------------------------------------------------

class Floor:
    """Plain h5py and plain fabio writing the frames an image scan wrote, same settings."""

    def __init__(self, folder: Path, nexus_file: Path, spec_file: Path) -> None:
        import fabio
        import h5py

        with h5py.File(nexus_file, "r") as f:
            ds = f[f.attrs["default"]]["measurement/beam"]
            self.frames = list(ds[()])
            self.chunks = ds.chunks
            self.filters: dict[str, Any] = {}
            if ds.compression:
                self.filters = {"compression": ds.compression,
                                "compression_opts": ds.compression_opts, "shuffle": ds.shuffle}
            elif ds.id.get_create_plist().get_nfilters():
                raise SystemExit("the floor reproduces gzip only; use DataCompressionRank -1")
        edf_files = sorted(spec_file.with_name(f"{spec_file.stem}_edf").glob("*_beam_*.edf"))
        self.headers = [dict(fabio.open(str(p)).header) for p in edf_files]
        for header in self.headers:  # fabio writes these itself
            for key in ("EDF_DataBlockID", "EDF_BinarySize", "EDF_HeaderSize", "ByteOrder",
                        "DataType", "Dim_1", "Dim_2", "Size", "Image", "HeaderID"):
                header.pop(key, None)
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.h5py_seconds = self.fabio_seconds = float("inf")
        self.runs = 0

    def run(self) -> None:
        n, self.runs = self.runs, self.runs + 1
        self.h5py_seconds = min(self.h5py_seconds, _timed(lambda: plain_h5py(
            self.folder / f"plain{n}.h5", self.frames, self.chunks, self.filters)))
        self.fabio_seconds = min(self.fabio_seconds, _timed(lambda: plain_fabio(
            self.folder / f"plain_edf{n}", self.frames, self.headers)))

    def result(self) -> dict:
        return {"frames": len(self.frames), "h5py_seconds": self.h5py_seconds,
                "fabio_seconds": self.fabio_seconds, "chunks": self.chunks,
                "filters": self.filters or "none"}


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# -- the table --------------------------------------------------------------------------------

def _rate(r: dict) -> float:
    return r["points"] / r["seconds"]


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


#: The printed table fits a terminal of this many columns.
TABLE_WIDTH = 100


def print_table(lines: list[tuple[str, str, str, str]]) -> None:
    """Each case on a line of its own, what was measured, the target and the verdict
    indented below it, so no line is wider than TABLE_WIDTH."""
    vwidth = max(len(value) for _, value, *_ in lines)
    print()
    print(f"case\n  {'measured':<{vwidth}}  {'target':<18}  verdict")
    print("-" * TABLE_WIDTH)
    for case, value, target, verdict in lines:
        print(case)
        if value or target:
            print(f"  {value:<{vwidth}}  {target:<18}  {verdict}".rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer points (about 30 s on an idle 2-core machine)")
    parser.add_argument("--no-tango", action="store_true", help="skip the Tango rows")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0

    q = args.quick
    n_scalar, n_image, repeat = (2_000, 100, 2) if q else (10_000, 500, 3)
    n_detector = 2_000 if q else 5_000
    n_tango_scalar, n_tango_image = (2_000, 100) if q else (10_000, 500)
    n_memory_large, n_memory_image = (20_000, 100) if q else (100_000, 500)
    n_ct, n_tango_ct = (50_000, 50_000) if q else (100_000, 100_000)
    started = time.time()
    raw: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="campaign-") as tmp:
        root = Path(tmp)
        print(f"campaign: {'quick' if q else 'full'} run, {time.ctime(started)}, "
              f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)

        print("in-process scans...", flush=True)
        local: dict[str, dict] = {}
        for which in RECORDER_SETS:
            case = Case(root / f"s_{which}", SCALAR_GROUP, which)
            for _ in range(repeat):
                case.run(n_scalar)
            local[f"scalar/{which}"] = case.result()
        case = Case(root / "ct_all", SCALAR_GROUP, "all", ct_command)
        for _ in range(repeat):
            case.run(n_ct)
        local["ct/all"] = case.result()

        print("in-process image scans and the plain h5py / fabio floor, interleaved...",
              flush=True)
        cases = {which: Case(root / f"i_{which}", IMAGE_GROUP, which) for which in RECORDER_SETS}
        cases["all"].run(n_image)  # its files give the floor its frames and headers
        files = cases["all"].last_files
        plain = Floor(root / "floor", next(p for p in files if p.suffix == ".h5"),
                      next(p for p in files if p.suffix == ".dat"))
        for run in range(repeat):  # rounds, so that load from elsewhere hits all alike
            for which, case in cases.items():
                if not (which == "all" and run == 0):
                    case.run(n_image)
            plain.run()
        for which, case in cases.items():
            local[f"image/{which}"] = case.result()
        raw["floor"] = plain = plain.result()

        print("in-process scans with self-saving detectors (frames linked, not copied)...",
              flush=True)
        for size, group in DETECTOR_GROUPS.items():
            case = Case(root / f"d_{size}", group, "all")
            for _ in range(repeat):
                case.run(n_detector)
            local[f"detector/{size}"] = case.result()
        raw["in_process"] = local

        remote: dict[str, dict] = {}
        if not args.no_tango:
            print("through Tango...", flush=True)
            remote = through_tango(root / "tango", [
                ("scalar/all", SCALAR_GROUP, "all", n_tango_scalar),
                ("scalar/json", SCALAR_GROUP, "json", n_tango_scalar),
                ("image/all", IMAGE_GROUP, "all", n_tango_image),
                ("ct/all", SCALAR_GROUP, "all", n_tango_ct),
            ], 1 if q else 2)
            raw["tango"] = remote
            print("from Sardana's BaseDoor...", flush=True)
            raw["sardana_door"] = through_sardana_door(root / "sardana", 1001)

        print("memory (child processes)...", flush=True)
        memory = {"small": in_child("scalar", 1_000), "large": in_child("scalar", n_memory_large),
                  "image": in_child("image", n_memory_image)}
        raw["memory"] = memory

    # ---- print -------------------------------------------------------------------------
    lines: list[tuple[str, str, str, str]] = []

    def row(case: str, value: str, target: str = "", verdict: str = "") -> None:
        lines.append((case, value, target, verdict))

    def speed(r: dict) -> str:
        cpu = 1e6 * r["cpu_seconds"] / r["points"]
        return f"{_rate(r):9,.0f} points/s  {1e6 / _rate(r):7,.0f} µs/point  {cpu:7,.0f} CPU µs"

    for key in ("scalar/all", "scalar/output", "scalar/json", "scalar/spec", "scalar/nexus"):
        r = local[key]
        target = key == "scalar/all"
        row(f"in-process scalar, {r['label']} ({r['points']:,} pts)", speed(r),
            f">= {TARGET_INPROCESS:,.0f}" if target else "",
            _verdict(_rate(r) >= TARGET_INPROCESS) if target else "")
    for size in DETECTOR_GROUPS:
        r = local[f"detector/{size}"]
        row(f"in-process self-saving {size} uint16 detector, {r['label']} "
            f"({r['points']:,} pts)", speed(r), f">= {TARGET_DETECTOR:,.0f}",
            _verdict(_rate(r) >= TARGET_DETECTOR))
    small_frames, big_frames = (local[f"detector/{size}"] for size in DETECTOR_GROUPS)
    frame_ratio = _rate(small_frames) / _rate(big_frames)
    row(f"  time per point, {' vs '.join(DETECTOR_GROUPS)} frames",
        f"{frame_ratio:5.2f}x  (the MacroServer never reads the pixels)",
        f"< {TARGET_FRAME_SIZE_RATIO}x", _verdict(frame_ratio < TARGET_FRAME_SIZE_RATIO))
    cpu_ratio = ((big_frames["cpu_seconds"] / big_frames["points"])
                 / (small_frames["cpu_seconds"] / small_frames["points"]))
    row(f"  CPU time per point, {' vs '.join(reversed(DETECTOR_GROUPS))} frames",
        f"{cpu_ratio:5.2f}x  (load from elsewhere inflates wall time, not CPU time)")
    r = local["ct/all"]
    row(f"in-process ascanct scalar, {r['label']} ({r['points']:,} pts)", speed(r),
        f">= {TARGET_CT_INPROCESS:,.0f}", _verdict(_rate(r) >= TARGET_CT_INPROCESS))
    h5_rate = plain["frames"] / plain["h5py_seconds"]
    edf_rate = plain["frames"] / plain["fabio_seconds"]
    both_rate = plain["frames"] / (plain["h5py_seconds"] + plain["fabio_seconds"])
    for key in ("image/all", "image/output", "image/json", "image/spec", "image/nexus"):
        r = local[key]
        ratio = _rate(r) / h5_rate
        is_target = key in ("image/all", "image/nexus")
        row(f"in-process 1D+2D, {r['label']} ({r['points']:,} pts)",
            f"{speed(r)}  {ratio:5.0%} of h5py",
            f">= {TARGET_H5_RATIO:.0%} h5py" if is_target else "",
            _verdict(ratio >= TARGET_H5_RATIO) if is_target else "")
    row(f"floor: plain h5py, same {plain['frames']} frames, chunks {plain['chunks']}, "
        f"filters {plain['filters']}",
        f"{h5_rate:9,.0f} frames/s  {1e6 / h5_rate:8,.0f} µs/frame")
    row(f"floor: plain fabio, same {plain['frames']} EDF files",
        f"{edf_rate:9,.0f} frames/s  {1e6 / edf_rate:8,.0f} µs/frame")
    row("floor: plain h5py then plain fabio (both files, as with all recorders on)",
        f"{both_rate:9,.0f} frames/s  {1e6 / both_rate:8,.0f} µs/frame")
    acquire = local["image/output"]["seconds"] / local["image/output"]["points"]
    for key, floor_s in (("image/nexus", plain["h5py_seconds"]),
                         ("image/all", plain["h5py_seconds"] + plain["fabio_seconds"])):
        serial = 1.0 / (acquire + floor_s / plain["frames"])
        row(f"  {local[key]['label']} image scan vs (Output-only scan + plain "
            f"{'h5py' if key == 'image/nexus' else 'h5py + fabio'}) per point",
            f"{_rate(local[key]) / serial:5.0%}  (that sum: {serial:,.0f} points/s)")
    row("  Output+SPEC(EDF) image scan vs plain fabio",
        f"{_rate(local['image/spec']) / edf_rate:5.0%}")
    row("  Output+SPEC+NeXus+JSON image scan vs plain h5py + plain fabio",
        f"{_rate(local['image/all']) / both_rate:5.0%}")
    for key, r in remote.items():
        kind = {"scalar": "scalar", "image": "1D+2D", "ct": "ascanct scalar"}[key.split("/")[0]]
        target = {"scalar/all": TARGET_TANGO, "ct/all": TARGET_CT_TANGO}.get(key)
        row(f"through Tango {kind}, {r['label']} ({r['points']:,} pts)",
            f"{speed(r)}" + (f"  {_rate(r) / h5_rate:5.0%} of h5py" if kind == "1D+2D" else ""),
            f">= {target:,.0f}" if target else "",
            _verdict(_rate(r) >= target and r["records"] == r["points"]) if target else "")
        if key.startswith("ct/"):
            row(f"  client got {r['records']:,} records (table thinned: {r['rows']:,} rows)", "")
            continue
        row(f"  client got {r['rows']:,} rows, {r['records']:,} records; delay to Output event",
            f"median {r['delay_median_ms']:.1f} ms, p95 {r['delay_p95_ms']:.1f} ms")
    if "sardana_door" in raw:
        r = raw["sardana_door"]
        rate = r["points"] / r["seconds"]
        row(f"ascan from Sardana's BaseDoor (sardana 3.7.1), JsonRecorder on "
            f"({r['points']:,} pts)", f"{rate:9,.0f} points/s  (Sardana itself: 17-23)",
            f">= {TARGET_SARDANA_DOOR:,.0f}", _verdict(rate >= TARGET_SARDANA_DOOR))
    small, large, image = memory["small"], memory["large"], memory["image"]
    growth = large["peak_after"] - small["peak_after"]
    row(f"peak RSS, {small['points']:,} scalar points (all recorders, child)",
        f"{small['peak_after'] / 1024:9.1f} MiB")
    row(f"peak RSS, {large['points']:,} scalar points (all recorders, child)",
        f"{large['peak_after'] / 1024:9.1f} MiB  {growth / 1024:+.1f} MiB",
        f"flat: < {FLAT_LIMIT_KIB // 1024} MiB", _verdict(growth < FLAT_LIMIT_KIB))
    kept = image["now_after"] - image["now_before"]
    kept_trimmed = image["now_trimmed"] - image["now_before"]
    row(f"RSS before / after a {image['points']:,}-point 1D+2D scan (child, scan ended)",
        f"{image['now_before'] / 1024:.1f} -> {image['now_after'] / 1024:.1f} MiB "
        f"({kept / 1024:+.1f} MiB; {kept_trimmed / 1024:+.1f} MiB after malloc_trim)",
        f"returned: < {RETURNED_LIMIT_KIB // 1024} MiB", _verdict(kept < RETURNED_LIMIT_KIB))
    row("  peak RSS during that scan",
        f"{image['peak_after'] / 1024:9.1f} MiB (before: {image['peak_before'] / 1024:.1f})")

    print_table(lines)
    print()
    print(textwrap.fill(
        "CPU µs: CPU time per point of all threads of the process that runs the scan "
        "(in-process: this one; through Tango: the device server). Best of "
        f"{repeat} runs in-process, {1 if q else 2} through Tango.", TABLE_WIDTH))
    print(textwrap.fill(
        f"{time.time() - started:.0f} s in all; load average at the end "
        f"{os.getloadavg()[0]:.1f} (other work on this machine slows every row)", TABLE_WIDTH))
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
