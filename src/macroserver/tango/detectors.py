"""Simulated Lima-like detectors that `macroserver up`/`demo` start beside the server.

A configuration asks for one with a `simulator` table in a `type = "tango"`,
`kind = "selfsaving"` channel: the device it names is registered as a SimLimaDetector
(server instance `<instance>_<channel>`) with the table's frame size, dtype and rate,
and started in its own process; one that already answers is used as it is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from macroserver.config import load_config
from macroserver.elements.lima import LimaChannel
from macroserver.tango.database import (
    apply_dsconfig,
    device_answers,
    start_device_server,
    stop_process,
)
from macroserver.tango.simdetector import SERVER

PROPERTY_NAMES = {"width": "Width", "height": "Height", "dtype": "DType", "rate": "Rate",
                  "max_saved": "MaxSaved"}


def simulated_detectors(config: str) -> list[LimaChannel]:
    """The channels of configuration `config` ("demo" or a path) that ask for a simulator."""
    pool = load_config(config).pool
    return [c for c in pool.channels.values()
            if isinstance(c, LimaChannel) and c.simulator is not None]


def description(instance: str, detector: LimaChannel) -> dict[str, Any]:
    """The dsconfig description registering the simulated device of `detector`."""
    assert detector.simulator is not None
    properties = {PROPERTY_NAMES[k]: [str(v)] for k, v in detector.simulator.items()}
    return {"servers": {SERVER: {f"{instance}_{detector.name}": {
        SERVER: {detector.device: {"properties": properties}}}}}}


def start_simulated_detectors(config: str, instance: str, tango_host: str,
                              log_dir: Path) -> list[subprocess.Popen]:
    """Register and start every simulated detector of `config`; the processes started."""
    processes: list[subprocess.Popen] = []
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        for detector in simulated_detectors(config):
            if device_answers(tango_host, detector.device):
                continue  # already running (another `up` on this database): used as it is
            apply_dsconfig(description(instance, detector), tango_host)
            server_instance = f"{instance}_{detector.name}"
            processes.append(start_device_server(
                [sys.executable, "-m", "macroserver.tango.simdetector"], server_instance,
                tango_host, server=SERVER, timeout=60,
                log_path=log_dir / f"{SERVER}-{server_instance}.log"))
    except BaseException:
        for process in processes:
            stop_process(process)
        raise
    return processes
