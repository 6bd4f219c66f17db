"""A scan's metadata at its start, and its catalogue sidecar at its end.

At start: the MetadataManager's experiment metadata (when one is configured), then the
`ScanMetadata` environment variable, merged and validated against the configured
schema; a scan lacking a required key is refused before anything moves. At the end:
the sidecar JSON beside the data and in the outbox (`metadata/sidecar.py`), and the
same document handed to the server's listeners (the Tango `ScanMetadata` attribute).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from macroserver.elements.attributes import read_manager_metadata
from macroserver.elements.base import ElementError
from macroserver.metadata.settings import OUTBOX_NAME
from macroserver.metadata.sidecar import program_label, publish, scan_document
from macroserver.metadata.values import check_required, gather
from macroserver.records import ScanEnd, ScanInfo, ScanMetadata
from macroserver.streams import Level, MacroListener

if TYPE_CHECKING:
    from pathlib import Path

    from macroserver.engine.core import MacroServerCore

ENV_NAME = "ScanMetadata"


def scan_metadata(server: "MacroServerCore", env: Mapping[str, Any],
                  listener: MacroListener) -> ScanMetadata:
    """The metadata of a scan starting now; EnvError when invalid or incomplete."""
    metadata = gather_metadata(server, env, listener)
    check_required(metadata, server.config.metadata.required)
    return metadata


def gather_metadata(server: "MacroServerCore", env: Mapping[str, Any],
                    listener: MacroListener) -> ScanMetadata:
    """The MetadataManager's metadata, then ScanMetadata's, merged and validated. A
    MetadataManager that cannot be read is a Warning (then required keys it would have
    given are missing, and the scan is refused for that)."""
    settings = server.config.metadata
    now = time.time()
    sources: list[tuple[str, Mapping[str, Any]]] = []
    elements: dict[str, Any] = {}
    manager = server.metadata_manager
    if manager:
        try:
            experiment, elements, kept_in = read_manager_metadata(manager)
            sources.append((f"MetadataManager {manager}"
                             + (f" (kept in {kept_in})" if kept_in else ""), experiment))
        except ElementError as exc:
            listener.message(Level.WARNING, f"cannot read the MetadataManager: {exc}; "
                             "this scan has no experiment metadata from it")
    env_file = server.env.store.path
    sources.append((ENV_NAME + (f" (environment {env_file})" if env_file else ""),
                    env.get(ENV_NAME) or {}))
    return gather(sources, settings.schema, now, elements)


def publish_sidecar(server: "MacroServerCore", info: ScanInfo, end: ScanEnd,
                    files: list[tuple["Path", str]], listener: MacroListener,
                    shared: Sequence["Path"] = (),
                    release: Callable[["Path"], None] | None = None,
                    ) -> dict[str, Any] | None:
    """Write the sidecar (a failure is a Warning: the data files are what matters) and
    hand the document to the server's listeners. The `shared` files (later scans write
    them too) are hashed first; `release(path)` is called once a file is hashed."""
    if info.scan_dir is None:
        return None
    document = scan_document(info, end, files, program_label(),
                             server.config.metadata.checksum_limit, shared, release)
    outbox = server.config.metadata.outbox or info.scan_dir / OUTBOX_NAME
    try:
        publish(document, info.scan_dir, outbox, server.config.file_policy)
    except (OSError, ValueError) as exc:
        listener.message(Level.WARNING, f"cannot write the catalogue sidecar of scan "
                         f"{info.scan_id}: {exc}")
    for notify in list(server.scan_document_listeners):
        try:
            notify(document)
        except Exception as exc:
            listener.message(Level.WARNING, f"cannot publish the scan metadata: {exc}")
    return document
