"""What the MacroServer and Door devices share: JSON values of DevEncoded attributes, and
finding each other."""

from __future__ import annotations

import json
from typing import Any

import tango

CODEC = "utf8_json"


def devices(class_name: str) -> list[Any]:
    """This process's devices of `class_name`, from Tango's own device list: they are
    found exactly while Tango has them (no registry of ours to keep in step)."""
    return list(tango.Util.instance().get_device_list_by_class(class_name))


def to_json(value: Any) -> bytes:
    return json.dumps(value, allow_nan=False, default=str).encode()
