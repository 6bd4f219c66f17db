"""Sardana's own Python API (sardana 3.7.1 + taurus 5.4.1 from PyPI) against our server.

A real `macroserver serve` process; the client side runs in a child process
(tests/sardana_probe.py) that imports only sardana and taurus, with HOME in a temporary
folder (taurus and sardana keep settings there). The test judges what Sardana's client
objects report; none of our own client code is involved on the client side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tango
from tango_helpers import MacroServerInstance, start_macroserver, write_config

pytest.importorskip("sardana", reason="the sardana-clients extra is not installed")

pytestmark = pytest.mark.timeout(240)

PROBE = Path(__file__).with_name("sardana_probe.py")


@pytest.fixture(scope="module")
def ms(tango_db, module_device_server, tmp_path_factory) -> MacroServerInstance:
    folder = tmp_path_factory.mktemp("ms-sardana")
    instance = start_macroserver(module_device_server, tango_db.tango_host, "sapi", folder,
                                 write_config(folder))
    instance.set_env({"ScanDir": str(instance.data_dir), "ScanFile": ["sardana.dat"],
                      "ActiveMntGrp": "mg1", "JsonRecorder": True})
    return instance


def client_env(tango_host: str, home: Path) -> dict[str, str]:
    """A child's environment: the test database, HOME in a temporary folder."""
    env = dict(os.environ, TANGO_HOST=tango_host, HOME=str(home),
               XDG_CONFIG_HOME=str(home / ".config"), QT_QPA_PLATFORM="offscreen")
    env.pop("PYTHONPATH", None)  # nothing of ours on the client side
    return env


def probe(ms: MacroServerInstance, scenario: str, home: Path, timeout: float = 180) -> Any:
    done = subprocess.run([sys.executable, str(PROBE), ms.doors[0], scenario],
                          env=client_env(ms.tango_host, home), capture_output=True,
                          text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"probe failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def test_sardana_python_api(ms, tmp_path) -> None:
    out = probe(ms, "api", tmp_path)
    assert {"ascan", "mv", "wa", "ct", "senv", "lsenv", "genv"} <= set(out["macros"])
    assert out["ascan_params"] == ["motor", "start_pos", "final_pos", "nr_interv", "integ_time"]
    assert "Syntax:\n\tascan <motor> <start_pos>" in out["ascan_doc"]
    assert {"m1", "m2", "theta"} <= set(out["motors"])
    assert {"timer", "ct1"} <= set(out["channels"]) and out["groups"] == ["mg1"]
    # the client's own macro id came back in MacroStatus: Sardana's Macro object is found
    assert out["ascan"]["state"] == "finish" and out["ascan"]["step"] == 100.0
    assert out["ascan"]["name"] == "ascan" and out["ascan"]["range"] == [0.0, 100.0]
    # genv declares its result (a String): getResult() converts it
    scan_id = ms.environment()["ScanID"]
    assert out["genv"]["state"] == "finish" and out["genv"]["result"] == str(scan_id)
    assert out["wa"]["state"] == "finish" and out["ct"]["state"] == "finish"
    assert out["env_ScanDir"] == str(ms.data_dir)
    assert out["env_put"] == {"a": [1, 2.5], "b": "x"} and out["env_removed"] is True
    assert "FromSardana" not in ms.environment()
    assert out["reserved"] == []  # nothing runs now
    spec = (ms.data_dir / "sardana.dat").read_text()
    assert "#S 1 ascan m1 0 0.5 5 0\n" in spec


def test_a_fast_macro_never_leaves_a_synchronous_run_waiting(ms, tmp_path) -> None:
    out = probe(ms, "fast", tmp_path, timeout=200)
    assert out["states"] == ["finish"] * 100


class Custom:
    """Any class: a pickle naming it is refused (it would be built by running code)."""


def test_pickled_environment_writes_load_plain_values_only(ms) -> None:
    """Sardana's putEnvironment writes a pickle: plain values load, anything naming a
    global (a function, a class) is refused before it is built, and nothing changes."""
    import pickle

    server = tango.DeviceProxy(ms.ms)
    server.write_attribute("Environment", ("pickle", pickle.dumps(
        {"new": {"Pickled": {"t": (1, 2), "f": 1.5, "n": None, "s": "é"}}})))
    assert ms.environment()["Pickled"] == {"t": [1, 2], "f": 1.5, "n": None, "s": "é"}
    before = ms.environment()

    evil = b"cos\nsystem\n(S'touch " + str(ms.data_dir / "pwned").encode() + b"'\ntR."
    for payload in (evil, pickle.dumps({"new": {"X": Custom()}}),
                    pickle.dumps({"new": {"X": {1, 2}}}), b"\x80\x04garbage"):
        with pytest.raises(tango.DevFailed):
            server.write_attribute("Environment", ("pickle", payload))
    assert not (ms.data_dir / "pwned").exists()
    assert ms.environment() == before
    # the server says why (its log: a refused DevEncoded write loses its reason on the
    # way to the client), and stays up
    log = (ms.env_path.parent / f"macroserver-{ms.instance}.log").read_text(errors="replace")
    assert "names posix.system" in log or "names os.system" in log, log[-2000:]
    assert server.state() == tango.DevState.ON
