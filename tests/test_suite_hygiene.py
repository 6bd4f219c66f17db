"""The test suite never changes the machine (issue 13, item 15): it installed MariaDB and
Tango packages with apt-get when run as root, which also wrote /etc/tangorc (every later
Tango client without TANGO_HOST then talked to that database). Installing is .ci/run's
job alone; a missing part is a loud skip (a failure in CI)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import facility_db
import pytest

TESTS = Path(__file__).parent
# a program name as a command-line item: ["apt-get", ...] (messages may name pip install)
INSTALLERS = re.compile(r"""["'](apt-get|apt|dpkg|debconf-set-selections|yum|dnf)["']"""
                        r"""|["']pip["'],\s*["']install["']""")


def test_a_missing_facility_database_is_a_loud_skip_and_nothing_is_installed(
        tmp_path, monkeypatch, tmp_path_factory) -> None:
    # installers that would note being called, first on PATH
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    for name in ("apt-get", "apt", "dpkg", "debconf-set-selections"):
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\necho {name} \"$@\" >> {calls}\n")
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv("MACROSERVER_REQUIRE_FACILITY_DB", raising=False)
    monkeypatch.setattr(facility_db, "DATABASEDS", tmp_path / "no" / "DataBaseds")
    with pytest.raises(pytest.skip.Exception) as skipped:
        facility_db.start_facility(tmp_path_factory, "hygiene check")
    assert "FACILITY DATABASE (DataBaseds on MariaDB) NOT TESTED: missing " in str(skipped.value)
    assert str(tmp_path / "no" / "DataBaseds") in str(skipped.value)
    assert not calls.exists(), calls.read_text()


def test_no_test_module_runs_an_installer() -> None:
    offenders = [f"{path.name}: {match.group(0)}" for path in sorted(TESTS.glob("*.py"))
                 if path.name != Path(__file__).name
                 for match in INSTALLERS.finditer(path.read_text())]
    assert not offenders, offenders
