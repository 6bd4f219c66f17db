"""The scan files, as the engine writes them, checked by the field's own readers and validators.

ascan, a2scan and mesh (scalars only) and an ascan with a 1D and a 2D channel run through
the real engine (MacroServerCore + MacroRunner, SPEC and NeXus recorders both on). Then:

- NeXus: `punx validate` (0 ERROR; WARN only for paths under an NXcollection, see
  shared/reference/formats.md §3.3), nexusformat's `validate_file` (0 errors), silx's
  default plot (valid, the counter against the scanned motor, equal to the SPEC columns);
- SPEC: PyMca's `specfilewrapper.Specfile` (the PyMca GUI's reader) and spec2nexus's
  `SpecDataFile` read every scan with the right labels, data and MCA spectra, and
  spec2nexus converts the files to NeXus that punx accepts.

A validator that cannot be imported skips its tests with a loud reason; none is faked.
"""

from __future__ import annotations

import importlib
import logging
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from collect import make_core, run

SPECTRUM = 64
IMAGE = (24, 32)
CONFIG = {
    "motors": {
        "theta": {"position": 0.0, "limits": [-10.0, 10.0], "unit": "deg"},
        "chi": {"position": 0.0, "limits": [-90.0, 90.0], "unit": "deg"},
    },
    "channels": {
        "uxtimer": {"kind": "timer", "unit": "s"},
        "value": {"kind": "counter", "model": "peak", "motor": "theta", "width": 5.0},
        "wave": {"kind": "spectrum", "model": "wave", "motor": "theta", "shape": [SPECTRUM]},
        "beam": {"kind": "image", "model": "spot", "motor": "theta", "shape": list(IMAGE)},
    },
    "measurement_groups": {
        "scalars": {"timer": "uxtimer", "channels": ["uxtimer", "value"]},
        "arrays": {"timer": "uxtimer", "channels": ["uxtimer", "value", "wave", "beam"]},
    },
}
# (command, measurement group, number of points, scanned motors)
SCALAR_SCANS = [
    ("ascan theta 0 0.5 5 0", "scalars", 6, ["theta"]),
    ("a2scan theta 0 1 chi 0 1 4 0", "scalars", 5, ["theta", "chi"]),
    ("mesh theta 0 1 2 chi 0 1 2 0", "scalars", 9, ["theta", "chi"]),
]
ARRAY_SCANS = [("ascan theta 0 1 4 0", "arrays", 5, ["theta"])]
# every scan carries metadata in NeXus groups of their classes (NXsample, NXuser, NXsource)
METADATA = {
    "experiment_identifier": "ma1234", "sample/name": "Si111", "sample/temperature": 300.0,
    "sample/temperature@units": "K", "sample/unit_cell": [5.43, 5.43, 5.43, 90, 90, 90],
    "user/name": "A. User", "instrument/source/name": "ESRF", "instrument/source/current": 200.5,
    "parameters/flipper": True, "parameters/note": "first light",
}
PUNX_SUMMARY = re.compile(r"^(OK|NOTE|WARN|ERROR)\s+(\d+)\s", re.M)
PUNX_FINDING = re.compile(r"^(/\S*)\s+(ERROR|WARN)\s+(\S+)\s+(.*?)\s*$", re.M)
PUNX_MAIN = "import sys; from punx.main import main; sys.argv[0] = 'punx'; main()"


def need(module: str, what: str):
    """Import a validator or skip loudly: a missing validator must never pass silently."""
    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, or a broken dependency (punx needs PyQt5)
        pytest.skip(f"VALIDATOR MISSING, {what} NOT CHECKED: cannot import {module} ({exc!r}); "
                    "pip install -e '.[test]' and pip install --no-deps PyMca5")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Scalar scans into scans.h5/scans.dat, the 1D+2D scan into arrays.h5/arrays.dat."""
    tmp = tmp_path_factory.mktemp("validators")
    core = make_core(tmp, config=CONFIG, env={"ScanMetadata": METADATA,
                                              "PreScanSnapshot": ["chi", "ScanMetadata"]})
    data = tmp / "data"
    written = {}
    for stem, scans in (("scans", SCALAR_SCANS), ("arrays", ARRAY_SCANS)):
        core.env.update({"ScanDir": str(data), "ScanFile": [f"{stem}.h5", f"{stem}.dat"]})
        done = []
        for command, group, npoints, motors in scans:
            core.env.update({"ActiveMntGrp": group})
            outcome, out = run(core, command)
            assert outcome.state == "finish", (command, out.errors)
            assert not out.errors, out.errors
            scan_id = core.env.get("ScanID")
            done.append({"id": scan_id, "command": command, "npoints": npoints,
                         "motors": motors, "arrays": group == "arrays"})
        written[stem] = (data / f"{stem}.h5", data / f"{stem}.dat", done)
    return written


def all_files(files):
    return [(stem, *value) for stem, value in files.items()]


def measurement(h5: Path, scan_id: int, name: str) -> np.ndarray:
    with h5py.File(h5, "r") as f:
        return f[f"entry{scan_id}/measurement/{name}"][()]


# -- NeXus ----------------------------------------------------------------------------------


def punx_validate(path: Path) -> tuple[dict[str, int], list[tuple[str, str, str, str]]]:
    """`punx validate` in a subprocess (its exit code is always 0: the summary is parsed)."""
    need("punx.main", "punx validation")
    result = subprocess.run(
        [sys.executable, "-c", PUNX_MAIN, "validate", str(path)],
        check=False, capture_output=True, text=True, timeout=120,
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    counts = {k: int(v) for k, v in PUNX_SUMMARY.findall(text)}
    assert result.returncode == 0 and "ERROR" in counts, (
        f"punx did not finish validating {path}:\n{result.stderr[-2000:]}")
    return counts, PUNX_FINDING.findall(text)


def under_nxcollection(h5: h5py.File, path: str) -> bool:
    parts = path.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        item = h5.get("/" + "/".join(parts[:i]))
        if isinstance(item, h5py.Group) and item.attrs.get("NX_class") in (
                "NXcollection", b"NXcollection"):
            return True
    return False


@pytest.mark.parametrize("stem", ["scans", "arrays"])
def test_punx_no_error_and_warnings_only_under_nxcollection(files, stem):
    h5, _, _ = files[stem]
    counts, findings = punx_validate(h5)
    errors = [f for f in findings if f[1] == "ERROR"]
    assert counts["ERROR"] == 0 and not errors, errors
    with h5py.File(h5, "r") as f:
        stray = [w for w in findings if w[1] == "WARN" and not under_nxcollection(f, w[0])]
    assert not stray, f"punx WARN outside an NXcollection: {stray}"
    assert counts["WARN"] == sum(1 for f in findings if f[1] == "WARN")


@pytest.mark.parametrize("stem", ["scans", "arrays"])
def test_nexusformat_validate_file_finds_no_error(files, stem, caplog):
    validate = need("nexusformat.nexus.validate", "nexusformat validation")
    h5, _, _ = files[stem]
    validate.logger.propagate = True  # its report goes to caplog, for the failure message
    with caplog.at_level(logging.WARNING, logger=validate.logger.name):
        _warnings, errors = validate.validate_file(str(h5))
    assert errors == 0, caplog.text
    # no /entry/definition: a generic scan lacks NXscan's mandatory sample and monitor
    assert validate.validate_application(str(h5)) is None


@pytest.mark.parametrize("stem", ["scans", "arrays"])
def test_silx_default_plot_is_the_counter_against_the_scanned_motor(files, stem):
    need("silx.io.nxdata", "silx NXdata")
    specfile = need("silx.io.specfile", "silx SPEC reading")
    import silx.io
    import silx.io.nxdata as nxdata

    h5, dat, scans = files[stem]
    spec = specfile.SpecFile(str(dat))
    with silx.io.open(str(h5)) as f:
        plot = nxdata.get_default(f)
        assert plot is not None and plot.group.name == f"/entry{scans[-1]['id']}/data"
        groups = []  # each entry is an external link to the scan's own file
        for entry in f:
            f[entry].visititems(lambda name, obj, entry=entry: groups.append(f"{entry}/{name}")
                                if obj.attrs.get("NX_class") in ("NXdata", b"NXdata") else None)
        assert groups and all(nxdata.is_valid_nxdata(f[g]) for g in groups), groups
        for scan in scans:
            plot = nxdata.get_default(f[f"entry{scan['id']}"])
            assert plot is not None and plot.is_valid
            assert plot.signal_dataset_name.split("/")[-1] == "value"
            assert plot.signal.shape == (scan["npoints"],)
            fast = scan["motors"][0]
            assert [a.split("/")[-1] for a in plot.axes_dataset_names] == [fast]
            spec_scan = spec[f"{scan['id']}.1"]
            np.testing.assert_array_equal(plot.axes[0], spec_scan.data_column_by_name(fast))
            np.testing.assert_array_equal(plot.signal, spec_scan.data_column_by_name("value"))
            for other in scan["motors"][1:]:  # a mesh's or a2scan's other motor
                np.testing.assert_array_equal(
                    measurement(h5, scan["id"], other), spec_scan.data_column_by_name(other))


# -- SPEC -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", ["scans", "arrays"])
def test_pymca_specfilewrapper_reads_every_scan(files, stem, capfd):
    wrapper = need("PyMca5.PyMcaIO.specfilewrapper", "PyMca SPEC reading")
    h5, dat, scans = files[stem]
    capfd.readouterr()
    sf = wrapper.Specfile(str(dat))
    assert sf.scanno() == len(scans)
    for i, scan in enumerate(scans):
        sc = sf[i]
        assert sc.number() == scan["id"] and sc.command() == scan["command"]
        labels = sc.alllabels()
        expected = ["Pt_No", *scan["motors"], "uxtimer", "value", "dt"]
        assert labels == expected + (["EDF_nb"] if scan["arrays"] else [])
        data = sc.data()
        assert data.shape == (len(labels), scan["npoints"])
        for label, name in (("Pt_No", "point_nb"), ("value", "value"), ("uxtimer", "uxtimer"),
                            *((m, m) for m in scan["motors"])):
            np.testing.assert_array_equal(data[labels.index(label)],
                                          measurement(h5, scan["id"], name))
        assert sc.allmotors() == ["theta", "chi"] and len(sc.allmotorpos()) == 2
        if scan["arrays"]:
            assert sc.nbmca() == scan["npoints"]
            wave = measurement(h5, scan["id"], "wave")
            for k in range(scan["npoints"]):
                np.testing.assert_array_equal(sc.mca(k + 1), wave[k])
            assert sc.header("@CHANN") == [f"#@CHANN {SPECTRUM} 0 {SPECTRUM - 1} 1"]
        else:
            assert sc.nbmca() == 0
    assert "Error" not in capfd.readouterr().out  # the C parser's complaints go to stdout


@pytest.mark.parametrize("stem", ["scans", "arrays"])
def test_spec2nexus_reads_every_scan(files, stem):
    spec = need("spec2nexus.spec", "spec2nexus SPEC reading")
    h5, dat, scans = files[stem]
    sd = spec.SpecDataFile(str(dat))
    assert sd.getScanNumbers() == [str(s["id"]) for s in scans]
    for scan in scans:
        s = sd.getScan(scan["id"])
        s.interpret()
        assert s.scanCmd == scan["command"]
        assert s.L[: 1 + len(scan["motors"])] == ["Pt_No", *scan["motors"]]
        for label, name in (("value", "value"), *((m, m) for m in scan["motors"])):
            np.testing.assert_array_equal(s.data[label], measurement(h5, scan["id"], name))
        if scan["arrays"]:
            assert s.MCA["number_saved"] == SPECTRUM
            np.testing.assert_array_equal(np.array(s.data["_mca_"]["mca"]),
                                          measurement(h5, scan["id"], "wave"))


@pytest.mark.parametrize("stem", ["scans", "arrays"])
def test_spec2nexus_converts_to_nexus_that_punx_accepts(files, stem, tmp_path):
    spec = need("spec2nexus.spec", "spec2nexus conversion")
    writer = need("spec2nexus.writer", "spec2nexus conversion")
    _, dat, scans = files[stem]
    sd = spec.SpecDataFile(str(dat))
    out = tmp_path / f"{stem}_spec2nexus.h5"
    writer.Writer(sd).save(str(out), sd.getScanNumbers())  # what `spec2nexus -f -o` does
    with h5py.File(out, "r") as f:
        assert sorted(f) == sorted(f"S{s['id']}" for s in scans)
        has_mca = any("_mca_" in f[f"S{s['id']}/data"] for s in scans)
    if has_mca:
        # spec2nexus 2021.2.8 puts a legacy @axes on its `_mca_` dataset and punx 0.3.5
        # then crashes (AttributeError: 'Dataset' object has no attribute 'get') for ANY
        # SPEC file with MCA data, a hand-written one too: nothing to check with punx here.
        return
    counts, findings = punx_validate(out)
    assert counts["ERROR"] == 0, [f for f in findings if f[1] == "ERROR"]
