"""docs/sardana-compatibility.md lists every public macro of the installed Sardana, each
✔ (a macro of this server) or ✘ with the reason it is left out."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from macroserver.engine.registry import MacroRegistry

pytest.importorskip("sardana", reason="the sardana-clients extra is not installed")

HERE = Path(__file__).parent
DOC = HERE.parent / "docs" / "sardana-compatibility.md"
ROW = re.compile(r"^\| `(\w+)` \| (\w+) \| (✔|✘) \|(.*)\|$")


def documented() -> dict[str, tuple[str, str, str]]:
    section = DOC.read_text(encoding="utf-8").split("## Sardana 3.7.1's macros", 1)[1]
    rows = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            name, library, mark, reason = match.groups()
            assert name not in rows, f"{name} is listed twice"
            rows[name] = (library, mark, reason.strip())
    return rows


def test_every_sardana_macro_is_listed_and_every_tick_is_served() -> None:
    found = subprocess.run([sys.executable, str(HERE / "sardana_macro_names.py")],
                           capture_output=True, text=True, timeout=300, check=True)
    sardana = json.loads(found.stdout)
    assert len(sardana) == 186  # Sardana 3.7.1
    rows = documented()
    assert set(rows) == set(sardana), (set(sardana) - set(rows), set(rows) - set(sardana))
    assert all(rows[name][0] == library for name, library in sardana.items())
    ours = set(MacroRegistry().names())
    ticked = {name for name, (_, mark, _) in rows.items() if mark == "✔"}
    assert ticked <= ours, f"marked ✔ but not served: {sorted(ticked - ours)}"
    assert all(reason for _, mark, reason in rows.values() if mark == "✘")
