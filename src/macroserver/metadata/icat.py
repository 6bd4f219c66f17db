"""The ESRF ICAT field definitions as a metadata schema (`[metadata] schema = "icat-esrf"`).

The `icat-esrf-definitions` package ships them as an XML tree of NeXus groups
(`groupName`, `NX_class`) and fields (`NAPItype`, `units`, `ESRF_deprecated`). Each
field becomes a schema key at its path inside the entry (`sample/thickness`, number, mm);
deprecated fields and the fields our recorders write themselves (title, start and end
time) are left out. Unknown keys are refused, where pyicat-plus only warns.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any
from xml.etree import ElementTree

from macroserver.metadata.schema import RESERVED, Field, Schema

NAME = "icat-esrf"
TYPES = {"NX_CHAR": "text", "NX_DATE_TIME": "text", "NX_FLOAT": "number",
         "NX_NUMBER": "number", "NX_INT": "integer", "NX_BOOLEAN": "bool"}


def icat_schema() -> Schema:
    """The schema of the installed icat-esrf-definitions; ValueError if it is missing."""
    try:
        import icat_esrf_definitions
    except ImportError:
        raise ValueError("the metadata schema 'icat-esrf' needs the icat-esrf-definitions "
                         "package: pip install icat-esrf-definitions") from None
    root = ElementTree.parse(icat_esrf_definitions.DEFINITIONS_FILE).getroot()
    schema = Schema("icat-esrf-definitions", metadata.version("icat-esrf-definitions"))
    for child in root:
        _collect(child, "", schema)
    return schema


def _collect(node: Any, parent: str, schema: Schema) -> None:
    """Add `node` (a group or a field below `parent`) and what it holds to `schema`."""
    if node.tag == "group":
        path = f"{parent}{node.get('groupName')}"
        if "$" in path or path.split("/")[0] in RESERVED:
            return
        schema.groups[path] = node.get("NX_class", "NXcollection")
        for child in node:
            _collect(child, f"{path}/", schema)
        return
    path = f"{parent}{node.tag}"
    if node.get("ESRF_deprecated") or path.split("/")[0] in RESERVED:
        return
    schema.fields[path] = Field(TYPES.get(node.get("NAPItype", ""), "any"),
                                node.get("units", ""), node.get("ESRF_description", ""))
