"""`macroserver convert` and `macroserver catalogue` on real files.

Inputs: scans the engine wrote (ascan, mesh, an ascan with a spectrum and an image, with
metadata and a snapshot), a NeXus file written by Sardana 3.7.1's own NXscanH5 recorder,
and a SPEC file as another program writes it (formats.md §1.1: single-spaced label,
Epoch column, MCA). Outputs are read back by silx, PyMca's specfilewrapper, spec2nexus,
fabio, punx and nexusformat; a NeXus -> SPEC -> NeXus round trip keeps every scalar
column value, the title, the ScanID and every metadata key and value.
"""

from __future__ import annotations

import csv
import datetime
import json
import subprocess
import sys
from pathlib import Path

import fabio
import h5py
import numpy as np
import pytest
import silx.io.nxdata as nxdata
from collect import make_core, run
from silx.io.specfile import SpecFile
from test_cli_run import macroserver_each
from test_file_validators import need, punx_validate, under_nxcollection

from macroserver.convert import ConvertError, convert, read_scans
from macroserver.convert.catalogue import catalogue_records

CONFIG = {
    "motors": {
        "theta": {"position": 0.0, "limits": [-10.0, 10.0], "unit": "deg"},
        "chi": {"position": 1.5, "limits": [-90.0, 90.0], "unit": "deg"},
    },
    "channels": {
        "uxtimer": {"kind": "timer", "unit": "s"},
        "value": {"kind": "counter", "model": "peak", "motor": "theta", "width": 5.0},
        "wave": {"kind": "spectrum", "model": "wave", "motor": "theta", "shape": [40]},
        "beam": {"kind": "image", "model": "spot", "motor": "theta", "shape": [12, 16]},
    },
    "measurement_groups": {
        "scalars": {"timer": "uxtimer", "channels": ["uxtimer", "value"]},
        "arrays": {"timer": "uxtimer", "channels": ["uxtimer", "value", "wave", "beam"]},
    },
}
METADATA = {"experiment_identifier": "ma1234", "sample/name": "Si111",
            "sample/temperature": 300.0, "sample/temperature@units": "K",
            "sample/unit_cell": [5.43, 5.43, 5.43, 90, 90, 90], "parameters/flipper": True}
OTHER_PROGRAM_SPEC = """#F test.spec
#E 1795614442
#D Wed Nov 25 13:47:22 2026
#O0 mot01  mot02

#S 1 ascan mot01 0 1 3 0.1
#U user = tester
#D Wed Nov 25 13:47:22 2026
#T 0.1  (Seconds)
#P0 0.0 5.5
#@MCA 8C
#@CHANN 8 0 7 1
#@CALIB 0 1 0
#N 4
#L mot01  Epoch  ct01  ct 02 sum
@A 0 1 2 3 4 5 6 7
0 0 1 0
@A 1 2 3 4 5 6 7 8
0.25 0.1 11 0.001
@A 2 3 4 5 6 7 8 9
0.5 0.2 12 0.002
@A 3 4 5 6 7 8 9 10
0.75 0.3 13 0.003
"""


@pytest.fixture(scope="module")
def engine_files(tmp_path_factory):
    """ascan + mesh (scalars) in scans.h5/.dat, an ascan with 1D+2D in arrays.h5/.dat."""
    tmp = tmp_path_factory.mktemp("convert")
    core = make_core(tmp, config=CONFIG, env={"ScanMetadata": METADATA,
                                              "PreScanSnapshot": ["chi"]})
    data = tmp / "data"
    for stem, scans in (("scans", [("ascan theta 0 0.5 5 0", "scalars"),
                                   ("mesh theta 0 1 2 chi 0 1 2 0", "scalars")]),
                        ("arrays", [("ascan theta 0 1 4 0", "arrays")])):
        core.env.update({"ScanDir": str(data), "ScanFile": [f"{stem}.h5", f"{stem}.dat"]})
        for command, group in scans:
            core.env.update({"ActiveMntGrp": group})
            outcome, out = run(core, command)
            assert outcome.state == "finish" and not out.errors, (command, out.errors)
    assert core.sidecars.wait(30)
    return data


def nexus_columns(path: Path, entry: str) -> dict[str, np.ndarray]:
    """Scalar measurement columns by their label (@long_name, sanitised as SPEC does)."""
    from macroserver.recorders.spec import spec_label

    with h5py.File(path, "r") as f:
        group = f[entry]["measurement"]
        return {spec_label(group[k].attrs.get("long_name", k), k): group[k][()]
                for k in group if isinstance(group[k], h5py.Dataset) and group[k].ndim == 1}


def entry_facts(path: Path) -> list[tuple]:
    """(ScanID, title, metadata {path: (value, units)}) per entry of a NeXus file."""
    facts = []
    with h5py.File(path, "r") as f:
        for name in f:
            entry = f[name]
            record = json.loads(entry["scan_metadata/data"][()])
            facts.append((entry["entry_identifier"][()].decode(), entry["title"][()].decode(),
                          {v["path"]: (v["value"], v.get("units", ""))
                           for v in record["values"]}))
    return facts


def test_nexus_to_spec_passes_the_spec_readers_and_keeps_every_value(engine_files, tmp_path):
    source = engine_files / "arrays.h5"
    target = tmp_path / "out.dat"
    convert(source, target)
    sf = SpecFile(str(target))
    scan = sf["1.1"] if "1.1" in sf.keys() else sf[0]
    columns = nexus_columns(source, "entry3")
    for label in scan.labels:
        if label != "EDF_nb":
            np.testing.assert_array_equal(scan.data_column_by_name(label), columns[label])
    with h5py.File(source, "r") as f:
        wave = f["entry3/measurement/wave"][()]
        beam = f["entry3/measurement/beam"][()]
    assert len(scan.mca) == len(wave)
    for i, spectrum in enumerate(wave):
        np.testing.assert_array_equal(scan.mca[i], spectrum)
    edf = sorted((tmp_path / "out_edf").glob("*.edf"))
    assert len(edf) == len(beam)
    for path, frame in zip(edf, beam):
        np.testing.assert_array_equal(fabio.open(str(path)).data, frame)
    assert "experiment_identifier" in scan.scan_header_dict["UMETA"]

    specfilewrapper = need("PyMca5.PyMcaIO.specfilewrapper", "PyMca's SPEC reader")
    pymca = specfilewrapper.Specfile(str(target))[0]
    assert pymca.alllabels() == scan.labels and pymca.nbmca() == len(wave)
    np.testing.assert_array_equal(pymca.data(), scan.data)
    spec = need("spec2nexus.spec", "spec2nexus")
    s2n = spec.SpecDataFile(str(target)).getScan(3)
    s2n.interpret()
    assert s2n.L == scan.labels
    assert len(s2n.data["_mca_"]["mca"]) == len(wave)


def test_round_trip_nexus_spec_nexus_keeps_values_title_scanid_metadata(engine_files,
                                                                         tmp_path):
    source = engine_files / "scans.h5"
    convert(source, tmp_path / "mid.spec")
    convert(tmp_path / "mid.spec", tmp_path / "back.h5")
    assert entry_facts(tmp_path / "back.h5") == entry_facts(source)
    with h5py.File(source, "r") as f:
        entries = list(f)
    for entry in entries:
        original, back = nexus_columns(source, entry), nexus_columns(tmp_path / "back.h5",
                                                                     entry)
        assert set(original) == set(back)
        for label, values in original.items():
            np.testing.assert_array_equal(back[label], values)
    with h5py.File(source, "r") as f, h5py.File(tmp_path / "back.h5", "r") as g:
        for entry in entries:  # the same default plot: the counter against the motor
            assert dict(f[entry]["data"].attrs)["signal"] == dict(g[entry]["data"].attrs)[
                "signal"]
            assert list(f[entry]["data"].attrs["axes"]) == list(g[entry]["data"].attrs["axes"])
            snap = g[entry]["pre_scan_snapshot"]
            assert [snap[k][()] for k in snap] == [1.5]


def test_spec_to_nexus_passes_the_nexus_validators(engine_files, tmp_path):
    target = tmp_path / "arrays.nxs"
    convert(engine_files / "arrays.dat", target)
    counts, findings = punx_validate(target)
    assert counts["ERROR"] == 0, findings
    with h5py.File(target, "r") as f:
        assert all(under_nxcollection(f, path) for path, level, *_ in findings
                   if level == "WARN"), findings
    validate = need("nexusformat.nexus.validate", "nexusformat")
    warnings, errors = validate.validate_file(str(target))
    assert errors == 0
    with h5py.File(target, "r") as f:
        plot = nxdata.get_default(f)
        assert plot is not None and plot.is_valid
        assert plot.signal_dataset_name == "value"
        assert f["entry3/measurement/beam"].shape == (5, 12, 16)
        with h5py.File(engine_files / "arrays.h5", "r") as original:
            np.testing.assert_array_equal(f["entry3/measurement/beam"][()],
                                          original["entry3/measurement/beam"][()])
            np.testing.assert_array_equal(f["entry3/measurement/wave"][()],
                                          original["entry3/measurement/wave"][()])


def test_csv_of_one_scan(engine_files, tmp_path):
    convert(engine_files / "scans.h5", tmp_path / "one.csv", scan_id=1)
    with open(tmp_path / "one.csv", newline="") as stream:
        rows = list(csv.reader(stream))
    columns = nexus_columns(engine_files / "scans.h5", "entry1")
    assert rows[0] == list(columns)
    for i, label in enumerate(rows[0]):
        assert [float(r[i]) for r in rows[1:]] == columns[label].tolist()
    with pytest.raises(ConvertError, match="a CSV file holds one scan; choose one with "
                                           r"--scan \(1, 2\)"):
        convert(engine_files / "scans.h5", tmp_path / "two.csv")


def sardana_file(path: Path) -> Path:
    """A scan written by Sardana 3.7.1's NXscanH5_FileRecorder itself."""
    need("sardana.macroserver.recorders.h5storage", "Sardana's NXscan recorder")
    from sardana.macroserver.recorders.h5storage import NXscanH5_FileRecorder
    from sardana.macroserver.scan.recorder.datarecorder import DataHandler
    from sardana.macroserver.scan.scandata import (
        ColumnDesc,
        Record,
        RecordList,
        ScanDataEnvironment,
    )
    from sardana.taurus.core.tango.sardana import PlotType

    columns = [
        ColumnDesc(name="point_nb", label="#Pt No", dtype="int64"),
        ColumnDesc(name="mot01", label="mot01", dtype="float64"),
        ColumnDesc(name="ct01", label="ct01", dtype="float64", plot_type=PlotType.Spectrum,
                   plot_axes=["mot01"]),
        ColumnDesc(name="mca01", label="mca01", dtype="float64", shape=(8,)),
        ColumnDesc(name="timestamp", label="dt", dtype="float64"),
    ]
    now = datetime.datetime.now()
    env = ScanDataEnvironment({
        "serialno": 7, "title": "ascan mot01 0 1 3 0.1", "user": "sarduser",
        "datadesc": columns, "starttime": now, "scanstarttime": now,
        "preScanSnapShot": [ColumnDesc(name="gap", label="gap", dtype="float64",
                                       pre_scan_value=12.5)]})
    records = RecordList(DataHandler(), env)
    recorder = NXscanH5_FileRecorder(filename=str(path))
    recorder._startRecordList(records)
    for i in range(4):
        record = Record({"point_nb": i, "mot01": i / 3, "ct01": 10.0 + i,
                         "mca01": np.arange(8.0) * i, "timestamp": 0.1 * i})
        record.recordno = i
        recorder._writeRecord(record)
    env["endtime"] = datetime.datetime.now()
    recorder._endRecordList(records)
    return path


def test_sardana_nxscan_file_to_spec_and_nexus(tmp_path):
    source = sardana_file(tmp_path / "sardana.h5")
    convert(source, tmp_path / "sardana.dat")
    scan = SpecFile(str(tmp_path / "sardana.dat"))[0]
    assert scan.number == 7 and scan.scan_header_dict["S"] == "7 ascan mot01 0 1 3 0.1"
    np.testing.assert_array_equal(scan.data_column_by_name("ct01"), [10, 11, 12, 13])
    np.testing.assert_array_equal(scan.data_column_by_name("mot01"), [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_array_equal(scan.mca[3], np.arange(8.0) * 3)
    assert "gap 12.5" in scan.scan_header_dict["USNAP"]

    convert(source, tmp_path / "ours.h5")
    with h5py.File(tmp_path / "ours.h5", "r") as f:
        plot = nxdata.get_default(f)
        assert plot.is_valid and plot.signal_dataset_name == "ct01"
        assert [a.name.rsplit("/")[-1] for a in plot.axes] == ["mot01"]
        assert f["entry7/user/name"][()] == b"sarduser"
        assert f["entry7/pre_scan_snapshot/gap"][()] == 12.5


def test_spec_file_of_another_program_to_nexus(tmp_path):
    source = tmp_path / "test.spec"
    source.write_text(OTHER_PROGRAM_SPEC)
    convert(source, tmp_path / "test.h5")
    with h5py.File(tmp_path / "test.h5", "r") as f:
        entry = f["entry1"]
        assert entry["title"][()] == b"ascan mot01 0 1 3 0.1"
        measurement = entry["measurement"]
        assert measurement["ct_02_sum"].attrs["long_name"] == "ct 02 sum"
        np.testing.assert_array_equal(measurement["ct_02_sum"][()], [0, .001, .002, .003])
        np.testing.assert_array_equal(measurement["mca_0"][3], np.arange(3.0, 11.0))
        assert entry["instrument/mot02/value"][()] == 5.5
        plot = nxdata.get_default(f)  # SPEC's x against its y: the first and last column
        assert plot.is_valid and plot.signal_dataset_name == "ct_02_sum"
        assert [a.name.rsplit("/")[-1] for a in plot.axes] == ["mot01"]


def test_catalogue_rebuilds_the_sidecar_from_the_nexus_file_alone(engine_files):
    sidecar = json.loads((engine_files / "arrays_3.scan.json").read_text())
    rebuilt = catalogue_records(engine_files / "arrays.h5")[0]
    for key in ("dataset", "scan_id", "title", "start_time", "end_status", "points",
                "metadata", "snapshot"):
        assert rebuilt[key] == sidecar[key], key
    assert rebuilt["end_time"][:19] == sidecar["end_time"][:19]
    nexus = next(f for f in sidecar["files"] if f["name"] == "arrays.h5")
    assert rebuilt["files"] == [nexus]

    icat = catalogue_records(engine_files / "arrays.h5", style="icat")[0]["dataset"]
    assert icat["investigation"] == {"name": "ma1234"} and icat["sample"] == {"name": "Si111"}
    assert {"name": "sample/temperature", "numericValue": 300.0, "units": "K"} in icat[
        "parameters"]
    assert icat["datafiles"][0]["checksum"] == f"sha256:{nexus['sha256']}"
    scicat = catalogue_records(engine_files / "arrays.h5", style="scicat")[0]
    assert scicat["proposalId"] == "ma1234" and scicat["sampleId"] == "Si111"
    assert scicat["scientificMetadata"]["sample/temperature"] == {"value": 300.0, "unit": "K"}
    assert scicat["origDatablocks"][0]["dataFileList"][0]["chk"] == nexus["sha256"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "macroserver", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_bad_input_one_line_errors_nonzero_exit_nothing_half_written(engine_files, tmp_path):
    h5 = engine_files / "scans.h5"
    (tmp_path / "truncated.h5").write_bytes(h5.read_bytes()[:3000])
    (tmp_path / "notes.txt").write_text("not a scan file\n")
    (tmp_path / "exists.dat").write_text("keep me\n")
    cases = [
        (["convert", "truncated.h5", "a.dat"], "damaged or truncated"),
        (["convert", "notes.txt", "a.dat"], "neither HDF5 nor a SPEC file"),
        (["convert", "missing.h5", "a.dat"], "missing.h5: no such file"),
        (["convert", str(h5), "a.dat", "--scan", "99"], "has no scan 99 (it has: 1, 2)"),
        (["convert", str(h5), "exists.dat"], "exists (use --force to replace it)"),
        (["convert", str(h5), "a.txt"], "unknown output format '.txt'"),
        (["catalogue", "truncated.h5"], "damaged or truncated"),
    ]
    for (args, message), result in zip(cases, macroserver_each([a for a, _ in cases],
                                                              tmp_path)):
        assert result.returncode == 4, (args, result.stderr)  # nothing could run
        assert result.stderr.count("\n") == 1 and message in result.stderr, (args,
                                                                            result.stderr)
    assert (tmp_path / "exists.dat").read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.dat", "notes.txt",
                                                          "truncated.h5"]
    result = cli("convert", str(h5), "exists.dat", "--force", "--scan", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert SpecFile(str(tmp_path / "exists.dat"))[0].number == 2


def test_a_failure_while_writing_leaves_nothing(engine_files, tmp_path):
    """An EDF image missing halfway: the conversion fails and no output appears."""
    spec = tmp_path / "arrays.dat"
    spec.write_bytes((engine_files / "arrays.dat").read_bytes())
    images = tmp_path / "arrays_edf"
    images.mkdir()
    for path in sorted((engine_files / "arrays_edf").glob("*.edf"))[:3]:
        (images / path.name).write_bytes(path.read_bytes())
    with pytest.raises(ConvertError, match="cannot read the EDF image .*00003.edf"):
        convert(spec, tmp_path / "out.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arrays.dat", "arrays_edf"]


def test_read_scans_lists_every_scan(engine_files):
    scans = read_scans(engine_files / "scans.dat")
    assert [s.info.scan_id for s in scans] == [1, 2]
    assert [s.info.npoints for s in scans] == [6, 9]
    assert scans[0].info.metadata.get("sample/name") == "Si111"


def test_scans_in_scanid_order_default_newest_and_spec_names_linked_frames(tmp_path):
    """11 scans of a self-saving detector: HDF5 lists entry10 before entry2, a converted
    file has them by ScanID (silx reads #S 1..11, the NeXus root's default is the
    newest), and the SPEC file's `#C frames of det` line leads, from where the file is,
    to the detector's files (issue 22 item 6)."""
    from test_selfsaving import scan_core

    core, data = scan_core(tmp_path)
    for _ in range(11):
        outcome, _ = run(core, "ascan m1 0 3 3 0")
        assert outcome.state == "finish", outcome.error
    out = tmp_path / "elsewhere"
    out.mkdir()
    convert(data / "scan.h5", out / "scans.dat")
    convert(data / "scan.h5", out / "scans.h5")
    assert [scan.number for scan in SpecFile(str(out / "scans.dat"))] == list(range(1, 12))
    with h5py.File(out / "scans.h5", "r") as f:
        assert f.attrs["default"] == "entry11"
    lines = [line for line in (out / "scans.dat").read_text().splitlines()
             if line.startswith("#C frames of det: ")]
    assert len(lines) == 11
    folder, first = lines[10].split(": ", 1)[1].split(" to ")[0].rsplit("/", 1)
    assert folder == "../data/scan_scan11" and first == "det_0000.h5"
    assert (out / folder / first).is_file()
