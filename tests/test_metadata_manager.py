"""The MetadataManager device, through real Tango: set from a client (attributes and
commands, change events, refusals naming the key), read by two MacroServers at scan
start (one manager serves both), its element metadata choosing what to snapshot, the
MacroServer's ScanMetadata attribute pushing the sidecar document, and the metadata
surviving a SIGKILL and restart of the server that holds it."""

from __future__ import annotations

import json

import h5py
import pytest
import tango
from tango_helpers import Events, MacroServerInstance, register_macroserver

from macroserver.tango.client import DoorClient

pytestmark = pytest.mark.timeout(180)


def start(servers, tango_host, instance, folder, properties=None) -> MacroServerInstance:
    data, env = folder / "data", folder / "env" / "environment.json"
    data.mkdir(parents=True, exist_ok=True)
    description = register_macroserver(tango_host, instance, "demo", data, env, properties)
    classes = description["servers"]["MacroServer"][instance]
    tango.Database().put_device_property(f"metadata/{instance}/1",
                                         {"StateFile": [str(folder / "metadata.json")]})
    server = MacroServerInstance(instance, tango_host, next(iter(classes["MacroServer"])),
                                 sorted(classes["Door"]), data, env, folder, servers=servers)
    server.start()
    DoorClient(server.door_name(0)).set_environment(
        {"ScanDir": str(data), "ScanFile": ["scans.h5"], "ActiveMntGrp": "mg_demo"})
    return server


@pytest.fixture(scope="module")
def two_servers(tango_db, module_device_server, tmp_path_factory):
    """mm1 holds the MetadataManager both use; mm2 is pointed at it."""
    first = start(module_device_server, tango_db.tango_host, "mm1",
                  tmp_path_factory.mktemp("mm1"))  # its manager keeps mm1/metadata.json
    second = start(module_device_server, tango_db.tango_host, "mm2",
                   tmp_path_factory.mktemp("mm2"), {"MetadataManager": ["metadata/mm1/1"]})
    return first, second


def manager() -> tango.DeviceProxy:
    proxy = tango.DeviceProxy("metadata/mm1/1")
    proxy.set_timeout_millis(10000)
    return proxy


def test_set_from_a_client_with_change_events_and_refusals(two_servers):
    events = Events("metadata/mm1/1", ["ExperimentMetadata", "Sample"],
                    probe=two_servers[0].door_name(0))
    proxy = manager()
    proxy.Proposal = "ma1234"
    proxy.SetMetadata(json.dumps({"sample/name": "Si111", "sample/temperature": 300.0,
                                  "sample/temperature@units": "mK"}))
    assert json.loads(proxy.ExperimentMetadata) == {
        "experiment_identifier": "ma1234", "sample/name": "Si111",
        "sample/temperature": 300.0, "sample/temperature@units": "mK"}
    assert proxy.Sample == "Si111"
    events.wait_for(lambda ev: "Si111" in ev.of("sample"))
    events.wait_for(lambda ev: any("Si111" in v for v in ev.of("experimentmetadata")))

    with pytest.raises(tango.DevFailed) as refused:
        proxy.SetMetadata(json.dumps({"sample/nmae": "x"}))
    assert "unknown key 'sample/nmae'" in refused.value.args[0].desc
    with pytest.raises(tango.DevFailed) as refused:
        proxy.SetElementMetadata(json.dumps({"chi": {"snapshot": "yes"}}))
    assert "chi: snapshot must be True or False" in refused.value.args[0].desc
    assert json.loads(proxy.ExperimentMetadata)["sample/name"] == "Si111"  # unchanged

    proxy.SetElementMetadata(json.dumps({"chi": {"snapshot": True, "units": "deg",
                                                 "description": "sample tilt"}}))
    assert json.loads(proxy.ElementMetadata)["chi"]["description"] == "sample tilt"


def test_both_macroservers_read_it_at_scan_start(two_servers):
    proxy = manager()
    proxy.SetMetadata(json.dumps({"experiment_identifier": "ma1234", "sample/name": "Si111",
                                  "user/name": "A. User"}))
    proxy.SetElementMetadata(json.dumps({"phi": {"snapshot": True, "units": "deg"}}))
    for server in two_servers:
        published = Events(server.macro_server, ["ScanMetadata"], probe=server.door_name(0))
        with DoorClient(server.door_name(0)) as client:
            client.set_environment({"ScanMetadata": {"sample/temperature": 12.0}})
            outcome = client.run("ascan theta 0 1 2 0", timeout=60)
        assert outcome.ok, outcome
        with h5py.File(server.data_dir / "scans.h5", "r") as f:
            entry = f[f.attrs["default"]]
            assert entry["sample/name"][()] == b"Si111"
            assert entry["sample/temperature"][()] == 12.0
            record = json.loads(entry["scan_metadata/data"][()])
            sources = {v["path"]: v["source"] for v in record["values"]}
            # each value names where it came from: the manager and its file, the
            # environment variable and its file
            kept = two_servers[0].log_dir / "metadata.json"
            assert sources["sample/name"] == f"MetadataManager metadata/mm1/1 (kept in {kept})"
            assert sources["sample/temperature"] == (
                f"ScanMetadata (environment {server.env_path})")
            assert record["elements"]["phi"] == {"snapshot": True, "units": "deg"}
            snap = entry["pre_scan_snapshot"]
            assert "phi" in snap and snap["phi"].attrs["units"] == "deg"
        published.wait_for(lambda ev: bool(ev.of("scanmetadata")))
        encoding, payload = published.of("scanmetadata")[-1]
        document = json.loads(payload)
        sidecar = json.loads(next(server.data_dir.glob(
            f"scans_{document['scan_id']}.scan.json")).read_text())
        assert document == sidecar


def test_metadata_survives_a_kill_and_restart(two_servers):
    first, _ = two_servers
    manager().SetMetadata(json.dumps({"collection_identifier": "batch-7"}))
    first.kill()
    first.start()
    assert json.loads(manager().ExperimentMetadata)["collection_identifier"] == "batch-7"
    assert json.loads((first.log_dir / "metadata.json").read_text())["experiment"][
        "collection_identifier"] == "batch-7"


def test_macros_set_and_list_the_managers_metadata(two_servers):
    _, second = two_servers
    with DoorClient(second.door_name(0)) as client:
        outcome = client.run("setmeta sample/description 'grown 2026'", timeout=30)
        assert outcome.ok, outcome
        assert json.loads(manager().ExperimentMetadata)["sample/description"] == "grown 2026"
        refused = client.run("setmeta sample/temperature hot", timeout=30)
        assert not refused.ok and "sample/temperature must be a number, not 'hot'" in str(
            refused.error)
        listing = client.run("lsmeta", timeout=30)
    assert listing.ok, listing
    row = next(line for line in listing.messages["Output"] if "sample/description" in line)
    assert "'grown 2026'" in row and "MetadataManager metadata/mm1/1 (kept in " in row
    assert str(two_servers[0].log_dir / "metadata.json") in "".join(listing.messages["Output"])
