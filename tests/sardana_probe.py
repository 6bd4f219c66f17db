"""Run in a child process by tests/test_sardana_api.py: Sardana's own Python API
(`registerExtensions()`, `taurus.Device(door)`, unchanged from PyPI) against our door.

    python sardana_probe.py <door name> <scenario>

prints one JSON document of what Sardana's client objects report; the test judges it.
Nothing of ours is imported here: only sardana and taurus.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable


def wait_until(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return condition()


def last_macro(door: Any) -> dict[str, Any]:
    macro = door.getLastRunningMacro()
    if macro is None:
        return {}
    return {"id": macro.id, "name": macro.name, "state": getattr(macro, "state", None),
            "step": getattr(macro, "step", None), "range": list(getattr(macro, "range", [])),
            "result": macro.getResult()}


def scenario_api(door: Any) -> dict[str, Any]:
    ms = door.macro_server
    wait_until(lambda: "ascan" in ms.getMacroStrList())
    out: dict[str, Any] = {"macros": sorted(ms.getMacroStrList())}
    info = ms.getMacroInfoObj("ascan")
    out["ascan_params"] = [p["name"] for p in info.parameters]
    out["ascan_doc"] = info.doc
    out["motors"] = sorted(ms.getElementNamesWithInterface("Motor"))
    out["channels"] = sorted(ms.getElementNamesWithInterface("ExpChannel"))
    out["groups"] = sorted(ms.getElementNamesOfType("MeasurementGroup"))
    out["elements"] = len(ms.getElements())
    out["ascan_xml"] = door.runMacro("ascan m1 0 0.5 5 0", synch=True)
    out["ascan"] = last_macro(door)
    door.runMacro("genv", ["ScanID"], synch=True)
    out["genv"] = last_macro(door)
    door.runMacro("mv", [[["m1", "1"]]], synch=True)  # one list per parameter
    door.runMacro("wa", synch=True)
    out["wa"] = last_macro(door)
    door.runMacro("ct", ["0.01"], synch=True)
    out["ct"] = last_macro(door)
    # the environment: read, put (Sardana's pickle), remove; change events update it
    out["env_ScanDir"] = ms.getEnvironment().get("ScanDir")
    ms.putEnvironment("FromSardana", {"a": [1, 2.5], "b": "x"})
    out["env_put"] = wait_until(lambda: ms.getEnvironment().get("FromSardana"))
    ms.removeEnvironment("FromSardana")
    out["env_removed"] = wait_until(lambda: "FromSardana" not in ms.getEnvironment())
    out["reserved"] = door.getReservedElements()
    return out


def scenario_fast(door: Any) -> dict[str, Any]:
    """`wa` 100 times in a row, synchronous: each must return (State RUNNING, then ON)."""
    ms = door.macro_server
    wait_until(lambda: "wa" in ms.getMacroStrList())
    started = time.monotonic()
    ids = []
    for _ in range(100):
        door.runMacro("wa", synch=True)
        ids.append(last_macro(door).get("state"))
    return {"states": ids, "seconds": time.monotonic() - started}


def main() -> None:
    door_name, scenario = sys.argv[1], sys.argv[2]
    from sardana.taurus.core.tango.sardana import registerExtensions
    registerExtensions()
    import taurus
    door = taurus.Device(door_name)
    result = {"api": scenario_api, "fast": scenario_fast}[scenario](door)
    print("RESULT " + json.dumps(result, default=str), flush=True)
    sys.stdout.flush()
    import os
    os._exit(0)  # taurus' threads would keep the process alive


if __name__ == "__main__":
    main()
