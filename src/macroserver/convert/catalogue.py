"""Catalogue records rebuilt from a NeXus file alone (`macroserver catalogue FILE`): our
sidecar document, or the same facts in the shape of an ICAT dataset (name, dates,
investigation, sample, typed parameters, datafiles) or a SciCat raw dataset (datasetName,
proposalId, sampleId, scientificMetadata with units, origDatablocks). The metadata,
its provenance and the schema come from the entry's `scan_metadata` note."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from macroserver.convert.nexus_in import read_nexus
from macroserver.convert.source import ConvertError, pick
from macroserver.metadata.sidecar import program_label, scan_document
from macroserver.untrusted import regular_file

STYLES = ("sidecar", "icat", "scicat")


def catalogue_records(path: Path, scan_id: int | None = None,
                      style: str = "sidecar") -> list[dict[str, Any]]:
    """One record per scan of the file (or of scan `scan_id`)."""
    if style not in STYLES:
        raise ConvertError(f"unknown catalogue style {style!r} (one of {', '.join(STYLES)})")
    regular_file(path)
    records = []
    for scan in pick(read_nexus(path), scan_id, str(path)):
        info = dataclasses.replace(scan.info, scan_files=(str(path),), scan_dir=path.parent)
        document = scan_document(info, scan.end, [(path.resolve(), "NeXus")], program_label())
        records.append(SHAPES[style](document))
    return records


def _values(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["path"]: v for v in document["metadata"]["values"]}


def icat_dataset(document: dict[str, Any]) -> dict[str, Any]:
    """ICAT's Dataset with DatasetParameters (numericValue/stringValue + units) and
    Datafiles (fileSize, checksum)."""
    values = _values(document)
    parameters = []
    for path, item in values.items():
        value = item["value"]
        parameter: dict[str, Any] = {"name": path}
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parameter["numericValue"] = value
        else:
            parameter["stringValue"] = value if isinstance(value, str) else str(value)
        if item.get("units"):
            parameter["units"] = item["units"]
        parameters.append(parameter)
    files = document["files"]
    return {"dataset": {
        "name": document["dataset"],
        "location": str(Path(files[0]["path"]).parent) if files else "",
        "startDate": document["start_time"],
        "endDate": document["end_time"],
        "description": document["title"],
        "complete": document["end_status"] == "done",
        "investigation": {"name": values.get("experiment_identifier", {}).get("value", "")},
        "sample": {"name": values.get("sample/name", {}).get("value", "")},
        "parameters": parameters,
        "datafiles": [{"name": f["name"], "location": f["path"], "fileSize": f["size"],
                       **({"checksum": f"sha256:{f['sha256']}"} if f["sha256"] else {})}
                      for f in files],
    }}


def scicat_dataset(document: dict[str, Any]) -> dict[str, Any]:
    """SciCat's RawDataset (scientificMetadata as {value, unit}) with one OrigDatablock."""
    values = _values(document)
    files = document["files"]
    return {
        "type": "raw",
        "datasetName": document["dataset"],
        "description": document["title"],
        "sourceFolder": str(Path(files[0]["path"]).parent) if files else "",
        "owner": values.get("user/name", {}).get("value", document["user"]),
        "creationTime": document["end_time"],
        "startTime": document["start_time"],
        "endTime": document["end_time"],
        "proposalId": values.get("experiment_identifier", {}).get("value", ""),
        "sampleId": values.get("sample/name", {}).get("value", ""),
        "creationLocation": values.get("instrument/name", {}).get("value", ""),
        "scientificMetadata": {
            path: {"value": item["value"], "unit": item.get("units", "")}
            for path, item in values.items()},
        "size": sum(f["size"] for f in files),
        "numberOfFiles": len(files),
        "origDatablocks": [{
            "size": sum(f["size"] for f in files),
            "chkAlg": "sha256",
            "dataFileList": [{"path": f["name"], "size": f["size"], "chk": f["sha256"],
                              "time": document["end_time"]} for f in files],
        }],
    }


SHAPES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "sidecar": dict, "icat": icat_dataset, "scicat": scicat_dataset}
