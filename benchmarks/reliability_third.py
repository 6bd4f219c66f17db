"""The third reliability round (issue 20), cases of reliability_campaign.py.

Every case that could fill a disk or the memory runs in a child process whose address
space, file sizes and time are bounded (tests/limited.py), so the campaign cannot take
the machine down even when what it measures regresses. Each prints a Markdown table
for docs/reliability.md.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from hostile_files import make_hostile  # noqa: E402
from limited import run_code, run_command  # noqa: E402

# A child that runs one command in-process, stops (or aborts) it after `after` seconds
# when asked, and prints outcome, points per file, peak RSS and the folder's size.
CHILD = """
import json, os, sys, time, tomllib
from pathlib import Path
from collect import make_core, write_collector, collector_class
from macroserver.engine.runner import MacroRunner
from macroserver.streams import NullListener

folder, commands, files, interrupt, after, slow = (Path(sys.argv[1]), json.loads(sys.argv[2]),
    json.loads(sys.argv[3]), sys.argv[4], float(sys.argv[5]), float(sys.argv[6]))
plugins = folder / "plugins"
if slow:
    write_collector(plugins, name="slow", sleep=slow)
config = tomllib.loads(Path(os.environ["CAMPAIGN_CONFIG"]).read_text())
core = make_core(folder, config=config, recorder_path=[plugins],
                 env={"ActiveMntGrp": os.environ.get("CAMPAIGN_GROUP", "mg_image"),
                      "ScanDir": str(folder / "data"),
                      "JsonRecorder": True})
runners = []
for i, command in enumerate(commands):
    core.env.update({f"door/x/{i}.ScanFile": files[i]} if files[i] else {})
    if i:  # another door: its own channels (a channel is reserved by one scan at a time)
        core.env.update({f"door/x/{i}.ActiveMntGrp": f"mg_image{i + 1}"})
    runner = MacroRunner(core, NullListener(), door_name=f"door/x/{i}")
    runner.start(command)
    runners.append(runner)
started = time.monotonic()
if interrupt != "none":
    time.sleep(after)
    for runner in runners:
        try:
            getattr(runner, interrupt)()
        except Exception:  # over already (refused before it started, or finished)
            pass
outcomes = [runner.wait(3000) for runner in runners]
took = time.monotonic() - started
core.sidecars.wait(60)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
size = sum(p.stat().st_size for p in (folder / "data").rglob("*") if p.is_file())
got = len(collector_class(core, "slow").scans[-1]["points"]) if slow else -1
print(json.dumps({"states": [o.state if o else None for o in outcomes], "seconds": took,
                  "peak_mib": hwm / 1024, "bytes": size, "slow_points": got,
                  "errors": [o.error for o in outcomes if o and o.error]}))
"""
GIB = 1 << 30


def _child(folder: Path, config: Path, commands: list[str], files: list[list[str] | None],
           interrupt: str = "none", after: float = 0.0, slow: float = 0.0,
           memory: int = 4 * GIB, fsize: int = GIB, timeout: float = 900) -> dict:
    import json

    os.environ["CAMPAIGN_CONFIG"] = str(config)
    folder.mkdir(parents=True, exist_ok=True)
    done = run_code(CHILD, str(folder), json.dumps(commands), json.dumps(files), interrupt,
                    str(after), str(slow), memory=memory, fsize=fsize, timeout=timeout)
    if done.returncode:
        return {"states": [f"exit {done.returncode}"], "errors": [done.stderr[-300:]],
                "seconds": 0, "peak_mib": 0, "bytes": 0, "slow_points": -1}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _config(folder: Path, text: str) -> Path:
    path = folder / "campaign.toml"
    path.write_text(text)
    return path


def mesh(folder: Path, text: str) -> None:
    """Item 1: the typo (a 10^6 x 10^6 mesh, refused now by the point limit) and the
    largest mesh the limit lets through (9,999 x 9,999), stopped after 3 s: the file's
    size."""
    config = _config(folder, text)
    os.environ["CAMPAIGN_GROUP"] = "mg"  # scalars: the pre-flight lets 10^8 points through
    print("| command (stopped after 3 s) | outcome | file bytes |")
    print("|---|---|---|")
    for command in ("meshct m1 0 1 1000000 m2 0 1 1000000 0.001",
                    "meshct m1 0 1 9998 m2 0 1 9998 0.001", "mesh m1 0 1 9998 m2 0 1 9998 0"):
        result = _child(folder / f"{command.split()[0]}{len(command)}", config, [command],
                        [["mesh.h5"]],
                        "stop", 3.0, fsize=256 << 20)
        state = result["states"][0] + (f" ({result['errors'][0][:120]})"
                                       if result["errors"] else "")
        print(f"| `{command}` | {state} | {result['bytes']:,} |")


def memory(folder: Path, text: str) -> None:
    """Item 2: peak RSS of continuous scans of 251x251 images, recorders slower than
    the triggers (a plug-in taking 0.2 ms a point; NeXus + SPEC)."""
    config = _config(folder, text)
    print("| scan | recorders | outcome | seconds | peak RSS | points at the slow recorder |")
    print("|---|---|---|---|---|---|")
    cases = [("ascanct m1 0 1 50000 0.00002", None, 0.0002, "Output, JSON, slow plug-in"),
             ("ascanct m1 0 1 2000 0.00002", ["ct.h5", "ct.dat"], 0.0, "Output, JSON, "
              "NeXus, SPEC+EDF")]
    for command, files, slow, recorders in cases:
        result = _child(folder / f"mem{len(command)}{slow}", config, [command], [files],
                        slow=slow, memory=6 * GIB, fsize=4 * GIB)
        print(f"| `{command}` | {recorders} | {result['states'][0]} | "
              f"{result['seconds']:.1f} | {result['peak_mib']:.0f} MiB | "
              f"{result['slow_points'] if slow else '-'} |")


def ctstop(folder: Path, text: str, tries: int) -> None:
    """Stop and abort during continuous scans of images; two doors scanning at once."""
    config = _config(folder, text)
    print("| case | tries | outcomes | NeXus points == SPEC rows, files open |")
    print("|---|---|---|---|")
    for interrupt in ("stop", "abort"):
        states, agree = [], 0
        for i in range(tries):
            data = folder / f"{interrupt}{i}"
            result = _child(data, config, ["ascanct m1 0 1 2000 0.002"],
                            [["ct.h5", "ct.dat"]], interrupt, 0.3 + 0.4 * i)
            states += result["states"]
            agree += _files_agree(data / "data" / "ct.h5", data / "data" / "ct.dat")
        print(f"| {interrupt} during `ascanct m1 0 1 2000 0.002` (images) | {tries} | "
              f"{', '.join(sorted(set(states)))} | {agree}/{tries} |")
    states, agree = [], 0
    for i in range(tries):
        data = folder / f"doors{i}"
        result = _child(data, config, ["ascanct m1 0 1 1000 0.001", "ascanct m2 0 1 1000 0.001"],
                        [["a.h5", "a.dat"], ["b.h5", "b.dat"]])
        states += result["states"]
        agree += all(_files_agree(data / "data" / f"{n}.h5", data / "data" / f"{n}.dat")
                     for n in "ab")
        if result["errors"]:
            print("  " + "; ".join(result["errors"])[:300])
    print(f"| two doors, `ascanct m1 ...` and `ascanct m2 ...`, 1,001 images each, at once | "
          f"{tries} | "
          f"{', '.join(sorted(set(states)))} | {agree}/{tries} |")


def _files_agree(h5: Path, dat: Path) -> bool:
    from silx.io.specfile import SpecFile

    try:
        with h5py.File(h5, "r") as f:
            entry = f[f.attrs["default"]]
            points = len(entry["measurement/point_nb"])
        rows = SpecFile(str(dat))[0].data.shape[1]
    except (OSError, KeyError, IndexError) as exc:
        print(f"  {h5}: {exc}")
        return False
    return points == rows


def recovery(folder: Path, run_args: list[str], tries: int) -> None:
    """Item 6: SIGKILL `macroserver run` mid-scan, start it again: plain h5py and silx
    open every killed scan's file, its notes say it was cut."""
    import silx.io

    data = folder / "recovery"
    data.mkdir()
    killed = []
    for i in range(tries):
        before = set((data / "r_scans").glob("r_*.h5"))
        process = subprocess.Popen([*run_args, "ascan m1 0 1 400 0.01"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not set((data / "r_scans").glob("r_*.h5")) - before:  # the scan started
            assert time.monotonic() < deadline and process.poll() is None, "no scan"
            time.sleep(0.01)
        time.sleep(0.2 + 0.3 * i)
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed += sorted(set((data / "r_scans").glob("r_*.h5")) - before)
        done = subprocess.run([*run_args, "ascan m1 0 1 2 0"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    opened = noted = 0
    for path in dict.fromkeys(killed):
        try:
            with h5py.File(path, "r") as f:
                entry = f[next(iter(f))]
                noted += entry["notes/data"][()].decode().startswith("failed: the scan was cut")
            with silx.io.open(str(path)):
                opened += 1
        except (OSError, KeyError, StopIteration) as exc:
            print(f"  {path}: {exc}")
    print("| kills, then `macroserver run` again | files left open | open with plain h5py "
          "and silx | notes say cut |")
    print("|---|---|---|---|")
    print(f"| {tries} | {len(set(killed))} | {opened} | {noted} |")


def hostile(folder: Path) -> None:
    """Items 4, 5: every hostile input, each command under limits and a 120 s timeout."""
    cases = make_hostile(folder / "hostile" / "in", folder / "hostile" / "outside")
    print("| input | command | exit | seconds | stderr lines | says |")
    print("|---|---|---|---|---|---|")
    for name, path in cases.items():
        if path.suffix == ".h5":
            commands = [["verify", "--checksum", str(path)],
                        ["convert", "--consolidate", str(path), str(path) + ".whole.h5"]]
        else:
            commands = [["convert", str(path), str(path) + ".h5"]]
        for command in commands:
            started = time.monotonic()
            try:
                done = run_command(*command, timeout=120)
                lines = done.stderr.strip().splitlines()
                out = done.stdout.strip().splitlines()
                says = (lines[-1] if lines else out[-1] if out else "").replace(
                    str(path.parent), "…")
                print(f"| {name} | {command[0]}{' --checksum' if '--checksum' in command else ''}"
                      f"{' --consolidate' if '--consolidate' in command else ''} | "
                      f"{done.returncode} | {time.monotonic() - started:.1f} | {len(lines)} | "
                      f"{says[:140]} |")
            except subprocess.TimeoutExpired:
                print(f"| {name} | {command[0]} | HUNG (killed after 120 s) | | | |")
