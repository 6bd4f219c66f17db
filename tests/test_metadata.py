"""Scan metadata end to end: `ScanMetadata` validated when set, required keys refusing a
scan before anything moves, the values in NeXus (groups of their class, @units), SPEC
(`#UMETA`/`#USNAP` lines read back by silx, PyMca and spec2nexus), the JSON data_desc,
and the catalogue sidecar (sizes and sha256 of the real files) beside the data and in
the outbox; PreScanSnapshot of a motor, an environment variable and Tango attributes of
a real device server (one that answers, one that does not)."""

from __future__ import annotations

import hashlib
import json
import os

import h5py
import pytest
from collect import FAST_CONFIG, make_core, run
from silx.io.specfile import SpecFile

from macroserver.streams import Level

GOOD = {"experiment_identifier": "ma1234", "sample/name": "Si111",
        "sample/temperature": 300.0, "sample/temperature@units": "mK",
        "sample/unit_cell": [5.43, 5.43, 5.43, 90, 90, 90], "user/name": "A. User",
        "instrument/source/current": 200, "parameters/flipper": True}


def senv(core, name, value):
    outcome, out = run(core, f"senv {name} {value!r}")
    return outcome


@pytest.mark.parametrize("value, message", [
    ({"sample/nmae": "x"}, "unknown key 'sample/nmae' (schema tango-macroserver/1; "
                           "did you mean 'sample/name'?; free keys go under parameters/)"),
    ({"sample/temperature": "hot"}, "sample/temperature must be a number, not 'hot'"),
    ({"sample/name": 5}, "sample/name must be a string, not 5"),
    ({"sample/name": "x", "sample/name@units": "K"}, "sample/name is not a number"),
    ({"sample/temperature@units": "K"}, "gives units of 'sample/temperature', which has no value"),
    ({"Sample/Name": "x"}, "'Sample/Name' is not a NeXus path"),
    ({"title": "x"}, "'title' is written by the recorders themselves"),
    ({"sample/unit_cell": [1, "a"]}, "sample/unit_cell must be a list of numbers"),
    (["sample/name"], "ScanMetadata must be a dictionary of NeXus entry paths"),
])
def test_bad_metadata_is_refused_when_set(tmp_path, value, message):
    core = make_core(tmp_path)
    outcome = senv(core, "ScanMetadata", value)
    assert outcome.state == "exception" and message in outcome.error, outcome.error
    assert core.env.get("ScanMetadata") is None


def test_unknown_keys_accepted_when_the_configuration_says_so(tmp_path):
    core = make_core(tmp_path, config={**FAST_CONFIG, "metadata": {"unknown": "accept"}})
    assert senv(core, "ScanMetadata", {"beamline/mirror_angle": 3.1}).state == "finish"
    assert core.env.get("ScanMetadata") == {"beamline/mirror_angle": 3.1}


def test_required_keys_refuse_the_scan_before_anything_moves(tmp_path):
    config = {**FAST_CONFIG,
              "metadata": {"required": ["experiment_identifier", "sample/name"]}}
    core = make_core(tmp_path, config=config,
                     env={"ScanDir": str(tmp_path / "data"), "ScanFile": ["s.h5"],
                          "ScanMetadata": {"sample/name": "Si"}})
    outcome, out = run(core, "ascan m1 10 20 3 0")
    assert outcome.state == "exception"
    assert "required metadata missing: experiment_identifier" in outcome.error
    assert "sample/name" not in outcome.error.split("missing:")[1].split("(")[0]
    assert core.pool.motor("m1").position() == 0.0  # nothing moved
    assert not (tmp_path / "data" / "s.h5").exists()
    assert core.env.get("ScanID") in (None, 0)

    core.env.update({"ScanMetadata": {"sample/name": "Si", "experiment_identifier": "x1"}})
    outcome, out = run(core, "ascan m1 10 20 3 0")
    assert outcome.state == "finish", outcome.error


def test_required_keys_must_be_schema_keys(tmp_path):
    from macroserver.config import build_config
    from macroserver.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown key 'sample/nam'"):
        build_config({**FAST_CONFIG, "metadata": {"required": ["sample/nam"]}})


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """One ascan with metadata and a snapshot into s.h5 + s.dat, the JSON stream on."""
    tmp = tmp_path_factory.mktemp("metadata")
    core = make_core(tmp, env={
        "ScanDir": str(tmp / "data"), "ScanFile": ["s.h5", "s.dat"], "JsonRecorder": True,
        "ScanMetadata": GOOD, "Mirror": "Rh", "PreScanSnapshot": ["m2", ["Mirror", "mirror"]]})
    documents = []
    core.scan_document_listeners.append(documents.append)
    outcome, out = run(core, "ascan m1 0 1 3 0")
    assert outcome.state == "finish", outcome.error
    assert core.sidecars.wait(30)  # written behind the scan
    return tmp / "data", out, documents


def test_nexus_groups_classes_units_and_embedded_record(scan):
    data, _, _ = scan
    with h5py.File(data / "s.h5", "r") as f:
        entry = f["entry1"]
        assert entry["sample"].attrs["NX_class"] == "NXsample"
        assert entry["user"].attrs["NX_class"] == "NXuser"
        assert entry["instrument/source"].attrs["NX_class"] == "NXsource"
        assert entry["parameters"].attrs["NX_class"] == "NXcollection"
        assert entry["sample/name"][()] == b"Si111"
        assert entry["sample/temperature"][()] == 300.0
        assert entry["sample/temperature"].attrs["units"] == "mK"  # given beats the default K
        assert entry["instrument/source/current"].attrs["units"] == "mA"  # schema default
        assert list(entry["sample/unit_cell"][()]) == [5.43, 5.43, 5.43, 90, 90, 90]
        assert entry["user/name"][()] == b"A. User"
        assert entry["experiment_identifier"][()] == b"ma1234"
        record = json.loads(entry["scan_metadata/data"][()])
        assert record["schema"] == "tango-macroserver/1"
        assert {v["path"] for v in record["values"]} == {k for k in GOOD if "@" not in k}
        # the source names the environment file the values came from
        source = f"ScanMetadata (environment {data.parent / 'state' / 'environment.json'})"
        assert all(v["source"] == source and v["time"] > 0 for v in record["values"])
        assert entry["pre_scan_snapshot/mirror"][()] == b"Rh"


def test_spec_header_lines_read_back_by_three_readers(scan):
    data, _, _ = scan
    header = SpecFile(str(data / "s.dat"))["1.1"].scan_header_dict
    lines = header["UMETA"].split("\n")
    assert lines[0].startswith('experiment_identifier "ma1234" {"source":"ScanMetadata '
                               '(environment ')
    parsed = {}
    decoder = json.JSONDecoder()
    for line in lines:
        path, rest = line.split(" ", 1)
        value, end = decoder.raw_decode(rest)
        details, _ = decoder.raw_decode(rest[end:].lstrip())
        parsed[path] = (value, details.get("units"))
    assert parsed["sample/temperature"] == (300.0, "mK")
    assert parsed["parameters/flipper"] == (True, None)
    assert parsed["sample/unit_cell"][0] == [5.43, 5.43, 5.43, 90, 90, 90]
    assert header["UMETA_SCHEMA"] == "tango-macroserver/1"
    assert header["USNAP"].split("\n")[1].startswith('Mirror "Rh" ')

    from PyMca5.PyMcaIO import specfilewrapper
    pymca_lines = specfilewrapper.Specfile(str(data / "s.dat"))[0].header("UMETA")
    assert [line for line in pymca_lines if line.startswith("#UMETA ")] == [
        f"#UMETA {line}" for line in lines]
    from spec2nexus.spec import SpecDataFile
    scan2 = SpecDataFile(str(data / "s.dat")).getScan(1)
    scan2.interpret()
    assert sum(u.startswith("#UMETA ") for u in scan2._unrecognized) == len(lines)


def test_json_data_desc_carries_metadata_and_snapshot(scan):
    _, out, _ = scan
    packets = [json.loads(payload) for _, payload in out.records]
    desc = next(p["data"] for p in packets if p["type"] == "data_desc")
    assert {v["path"]: v["value"] for v in desc["metadata"]["values"]}["sample/name"] == "Si111"
    assert [s["name"] for s in desc["snapshot"]] == ["m2", "Mirror"]


def test_sidecar_beside_the_data_and_in_the_outbox(scan):
    data, _, documents = scan
    sidecar = json.loads((data / "s_1.scan.json").read_text())
    assert json.loads((data / "catalogue-outbox" / "s_1.scan.json").read_text()) == sidecar
    assert documents == [sidecar]  # what the Tango attribute publishes
    assert sidecar["dataset"] == "s_1" and sidecar["scan_id"] == 1
    assert sidecar["title"] == "ascan m1 0 1 3 0" and sidecar["end_status"] == "done"
    assert sidecar["points"] == 4 and sidecar["start_time"] <= sidecar["end_time"]
    files = {os.path.relpath(data / f["path"], data): f for f in sidecar["files"]}
    assert set(files) == {"s.h5", "s_scans/s_1.h5", "s.dat"}  # NeXus: master + scan file
    for name, record in files.items():
        content = (data / name).read_bytes()
        assert record["size"] == len(content)
        assert record["sha256"] == hashlib.sha256(content).hexdigest()
    assert not list(data.glob(".*.scan.json*"))  # no temporary left


def test_snapshot_of_tango_attributes_failed_reads_are_warnings(tmp_path, sim_motor):
    good, bad = f"{sim_motor}/Position", "test/nosuch/1/value"
    core = make_core(tmp_path, env={"ScanDir": str(tmp_path / "data"), "ScanFile": ["s.h5"]})
    assert senv(core, "PreScanSnapshot", [good, bad, "m1"]).state == "finish"
    outcome, out = run(core, "ascan m1 0 1 2 0")
    assert outcome.state == "finish", outcome.error
    warnings = out.text(Level.WARNING)
    assert f"PreScanSnapshot: cannot read {bad}" in warnings
    assert core.sidecars.wait(30)
    with h5py.File(tmp_path / "data" / "s.h5", "r") as f:
        snap = f["entry1/pre_scan_snapshot"]
        names = {snap[k].attrs["long_name"]: snap[k] for k in snap}
        assert names[good].attrs["units"] == "mm"
        assert isinstance(names[good][()], float)
        assert "test/nosuch/1" in names[bad].attrs["error"]
    sidecar = json.loads((tmp_path / "data" / "s_1.scan.json").read_text())
    failed = [s for s in sidecar["snapshot"] if s.get("error")]
    assert [s["name"] for s in failed] == [bad] and failed[0]["value"] is None
    assert sidecar["snapshot"][0]["source"] == f"attribute:{good}"


def test_no_checksums_beyond_the_configured_limit(tmp_path):
    core = make_core(tmp_path, config={**FAST_CONFIG, "metadata": {"checksum_limit_mb": 0}},
                     env={"ScanDir": str(tmp_path / "data"), "ScanFile": ["s.h5", "s.dat"]})
    outcome, _ = run(core, "ascan m1 0 1 2 0")
    assert outcome.state == "finish", outcome.error
    assert core.sidecars.wait(30)
    files = json.loads((tmp_path / "data" / "s_1.scan.json").read_text())["files"]
    # NeXus: the scan's own file (s_scans/s_1.h5), then the master linking it
    assert [(f["name"], f["sha256"]) for f in files] == [
        ("s_1.h5", None), ("s.h5", None), ("s.dat", None)]
    assert files[2]["size"] == (tmp_path / "data" / "s.dat").stat().st_size


def test_checksums_stop_at_the_per_scan_budget(tmp_path):
    from macroserver.metadata.sidecar import file_records

    sizes = {"a": 100, "b": 50, "c": 10}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"x" * size)
    records = file_records([(tmp_path / n, "") for n in [*sizes, "gone"]], 120)
    assert [(r["name"], r["size"], r["sha256"] is not None) for r in records] == [
        ("a", 100, True), ("b", 50, False), ("c", 10, True)]
    assert records[0]["sha256"] == hashlib.sha256(b"x" * 100).hexdigest()


def test_manager_store_validates_persists_and_refuses_a_damaged_file(tmp_path):
    from macroserver.errors import EnvError
    from macroserver.metadata.schema import load_schema
    from macroserver.metadata.store import MetadataStore

    path = tmp_path / "manager.json"
    store = MetadataStore(path, load_schema())
    store.update({"sample/temperature": 3.0, "sample/temperature@units": "mK",
                  "sample/name": "Si"})
    with pytest.raises(EnvError, match="sample/name must be a string"):
        store.update({"sample/name": 5})
    store.update({"sample/temperature": None})  # removed with its units
    store.update_elements({"chi": {"snapshot": True, "units": "deg"}})
    again = MetadataStore(path, load_schema())
    assert again.experiment == {"sample/name": "Si"}
    assert again.elements == {"chi": {"snapshot": True, "units": "deg"}}
    path.write_text('{"experiment": ')
    with pytest.raises(EnvError, match="manager.json is damaged .*move it aside"):
        MetadataStore(path, load_schema())
    assert path.read_text() == '{"experiment": '  # never silently replaced


def test_the_esrf_icat_definitions_as_schema(tmp_path):
    """`schema = "icat-esrf"`: the fields of the icat-esrf-definitions package, typed,
    with their units and group classes; unknown keys refused (ESRF's tools only warn)."""
    from test_file_validators import need

    need("icat_esrf_definitions", "the ICAT schema")
    config = {**FAST_CONFIG, "metadata": {"schema": "icat-esrf", "required": ["proposal"]}}
    core = make_core(tmp_path, config=config,
                     env={"ScanDir": str(tmp_path / "data"), "ScanFile": ["s.h5"]})
    outcome = senv(core, "ScanMetadata", {"proposal": "ma1234", "sample/name": "Si111",
                                          "sample/thickness": 2.5, "sample/patient/age": 30})
    assert outcome.state == "finish", outcome.error
    refused = senv(core, "ScanMetadata", {"proposal": "ma1234", "sample/thickness": "thin"})
    assert "sample/thickness must be a number, not 'thin'" in refused.error
    unknown = senv(core, "ScanMetadata", {"sample/nmae": "x"})
    assert "unknown key 'sample/nmae' (schema icat-esrf-definitions/" in unknown.error
    outcome, _ = run(core, "ascan m1 0 1 2 0")
    assert outcome.state == "finish", outcome.error
    with h5py.File(tmp_path / "data" / "s.h5", "r") as f:
        entry = f["entry1"]
        assert entry["proposal"][()] == b"ma1234"
        assert entry["sample"].attrs["NX_class"] == "NXsample"
        assert entry["sample/thickness"].attrs["units"] == "mm"
        assert entry["sample/patient/age"].attrs["units"] == "a"
        assert json.loads(entry["scan_metadata/data"][()])["schema"].startswith(
            "icat-esrf-definitions/")


def test_the_next_scan_waits_only_for_the_hashing_of_its_own_files(tmp_path):
    """Sidecars are written behind the scans. A scan waits while an earlier scan's
    sidecar still hashes a file it writes (no file is appended to while it is being
    hashed), not while it hashes other files (an image scan's frames)."""
    import threading

    core = make_core(tmp_path, env={"ScanDir": str(tmp_path / "data"), "ScanFile": ["s.h5"]})
    release = threading.Event()
    core.sidecars.submit(lambda _: release.wait(), holds=[tmp_path / "data" / "frames.edf"])
    outcome, _ = run(core, "ascan m1 0 1 2 0")  # not held: it does not write frames.edf
    assert outcome.state == "finish", outcome.error
    core.sidecars.submit(lambda _: release.wait(), holds=[tmp_path / "data" / "s.h5"])
    started = []
    thread = threading.Thread(target=lambda: started.append(run(core, "ascan m1 0 1 2 0")))
    thread.start()
    thread.join(2.0)  # a 3-point scan of instant motors takes milliseconds
    assert thread.is_alive()
    with h5py.File(tmp_path / "data" / "s.h5", "r") as f:
        assert "entry2" not in f  # the second scan has not started
    release.set()
    thread.join(30)
    assert started[0][0].state == "finish"
    assert core.sidecars.wait(30) and (tmp_path / "data" / "s_2.scan.json").exists()


def test_metadata_is_checked_again_only_when_it_changed():
    """A scan start re-checks the same stored ScanMetadata from what was kept; another
    value, or the unknown-key setting changed, is checked again with the same refusal."""
    from macroserver.errors import EnvError
    from macroserver.metadata.schema import load_schema

    schema = load_schema()
    stored = {"sample/name": "Si", "beamline/mirror": 3.1}
    schema.refuse_unknown = False
    assert schema.validate(stored) == schema.validate(stored) == {
        "sample/name": ("Si", ""), "beamline/mirror": (3.1, "")}
    schema.refuse_unknown = True
    with pytest.raises(EnvError, match="unknown key 'beamline/mirror'"):
        schema.validate(stored)
    with pytest.raises(EnvError, match="sample/name must be a string, not 5"):
        schema.validate({"sample/name": 5})
    assert schema.validate({"sample/name": "Ge"}) == {"sample/name": ("Ge", "")}
