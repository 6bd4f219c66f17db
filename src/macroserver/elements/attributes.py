"""Reading any Tango attribute once (`PreScanSnapshot` entries such as
`sys/tg_test/1/double_scalar`), with a short timeout: a snapshot must not hold a scan."""

from __future__ import annotations

import json
import re
from typing import Any

from macroserver.elements.base import ElementError
from macroserver.wire import error_text

#: domain/family/member/attribute, optionally behind tango://host:port/
ATTRIBUTE_NAME = re.compile(r"(tango://[^/\s]+/)?[^/\s]+/[^/\s]+/[^/\s]+/[^/\s]+\Z")
READ_TIMEOUT_MS = 3000


def is_attribute_name(name: str) -> bool:
    return bool(ATTRIBUTE_NAME.match(name))


def read_attribute(name: str) -> tuple[Any, str]:
    """Value (numpy arrays as lists) and units of a Tango attribute; ElementError naming
    the attribute and Tango's reason when it cannot be read."""
    import tango

    try:
        proxy = tango.AttributeProxy(name)
        proxy.get_device_proxy().set_timeout_millis(READ_TIMEOUT_MS)
        reading = proxy.read()
        if reading.has_failed or reading.quality == tango.AttrQuality.ATTR_INVALID:
            raise ElementError(f"{name}: the value is INVALID")
        unit = proxy.get_config().unit
    except tango.DevFailed as exc:
        raise ElementError(f"{name}: {error_text(exc)}") from None
    value = reading.value
    if hasattr(value, "tolist"):
        value = value.tolist()
    return value, "" if unit in ("", "No unit") else unit


#: The MetadataManager attributes holding the experiment and the element metadata (JSON).
MANAGER_ATTRIBUTE = "ExperimentMetadata"
ELEMENTS_ATTRIBUTE = "ElementMetadata"
#: ... and the file it keeps them in
FILE_ATTRIBUTE = "MetadataFile"


def _json_attribute(name: str) -> dict[str, Any]:
    text, _ = read_attribute(name)
    try:
        document = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ElementError(f"{name} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ElementError(f"{name} is not a JSON object")
    return document


def read_manager_metadata(device: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The experiment metadata (a ScanMetadata-like dict), the element metadata
    (`{element: {nx_class, units, description, snapshot}}`) and the file the manager
    keeps them in ("" for a manager that does not say) of a MetadataManager."""
    try:
        kept_in, _ = read_attribute(f"{device}/{FILE_ATTRIBUTE}")
    except ElementError:
        kept_in = ""
    return (_json_attribute(f"{device}/{MANAGER_ATTRIBUTE}"),
            _json_attribute(f"{device}/{ELEMENTS_ATTRIBUTE}"), str(kept_in))
