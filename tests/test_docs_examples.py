"""The `console` examples of docs/convert.md and docs/metadata.md run as shown, from a
fresh per-user state folder and from one left behind by README's `macroserver run`
examples and the other documents' (issue 22: ScanID and ActiveMntGrp carried on).

Each document's examples run in order in one fresh folder (the state folder, for the
environment, is private to the test): every `$ ` line is a shell command whose combined
output must match the lines below it; a line `...` matches any lines, a line containing ` ... `
matches any text in its place; a `$ ` line ending in `\\` goes on with the next. A command
with a `# exit status N` comment must exit with N; one whose expected output has an
`Error:` line non-zero, any other zero. A ```toml file=NAME block is written to NAME first.
`macroserver` runs this checkout (`python -m macroserver`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"
BLOCK = re.compile(r"^```(\S+)([^\n]*)\n(.*?)^```", re.S | re.M)


def examples(text: str) -> list[tuple[str, str, str]]:
    """(kind, info, body) of the fenced blocks that run: console, and toml with file=."""
    return [(kind, info.strip(), body) for kind, info, body in BLOCK.findall(text)
            if kind == "console" or (kind == "toml" and "file=" in info)]


def commands(body: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) of a console block; a command line ending in `\\`
    goes on with the next line."""
    steps: list[tuple[str, list[str]]] = []
    going_on = False
    for line in body.splitlines():
        if going_on:
            steps[-1] = (steps[-1][0] + "\n" + line, [])
        elif line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
        going_on = bool(steps) and not steps[-1][1] and steps[-1][0].endswith("\\")
    return steps


def exit_status_expected(command: str, expected: list[str]) -> int | None:
    """A command's `# exit status N` comment; else None for one whose expected output
    has an `Error:` line (any non-zero status), 0 for any other."""
    stated = re.search(r"# exit status (\d+)\s*$", command)
    if stated:
        return int(stated[1])
    return None if any(line.startswith("Error:") for line in expected) else 0


def matches(expected: list[str], actual: list[str]) -> bool:
    """`...` alone skips any lines; ` ... ` inside a line matches any text."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head == "...":
        return any(matches(rest, actual[i:]) for i in range(len(actual) + 1))
    if not actual:
        return False
    pattern = ".*".join(re.escape(part) for part in head.split("..."))
    return bool(re.fullmatch(pattern, actual[0])) and matches(rest, actual[1:])


PRELUDE = (f'macroserver() {{ "{sys.executable}" -m macroserver "$@"; }}\n'
           f'python() {{ "{sys.executable}" "$@"; }}\n')
README = DOCS.parent / "README.md"
#: README's examples that work on files (indented), with their continuation lines: the
#: Tango ones (up, mspock -c, web, register) run in test_docs_tango_examples.py
README_COMMANDS = re.compile(
    r"^    (macroserver (?:run|convert|verify|catalogue) (?:.*\\\n)*.*)$", re.M)


def run_document(document: str, folder: Path, env: dict[str, str]) -> int:
    """Run the document's examples in `folder` (made here); how many commands ran."""
    folder.mkdir()
    ran = 0
    for kind, info, body in examples((DOCS / document).read_text()):
        if kind == "toml":
            (folder / info.split("file=")[1].split()[0]).write_text(body)
            continue
        for command, expected in commands(body):
            result = subprocess.run(["bash", "-c", PRELUDE + command], cwd=folder, env=env,
                                    capture_output=True, text=True, timeout=300)
            output = (result.stdout + result.stderr).splitlines()
            assert matches(expected, output), (document, command, expected, output)
            status = exit_status_expected(command, expected)
            assert (result.returncode != 0 if status is None else result.returncode == status
                    ), (command, result.returncode, output)
            ran += 1
    return ran


@pytest.mark.parametrize("document", ["convert.md", "metadata.md"])
def test_document_examples_run_as_shown(document, tmp_path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    assert run_document(document, tmp_path / "doc", env) >= 5


def test_document_examples_run_as_shown_after_the_others(tmp_path):
    """README's file examples first, in order (`macroserver run` leaves ScanID 3 and
    ActiveMntGrp mg_demo in the per-user environment; verify, convert and catalogue work
    on the file it wrote), then each document in a folder of its own, convert.md again
    last: what the documents show does not depend on what ran before."""
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    readme = tmp_path / "readme"
    readme.mkdir()
    (readme / "examples").symlink_to(DOCS.parent / "examples")
    runs = README_COMMANDS.findall(README.read_text())
    assert len(runs) >= 9, runs
    for command in runs:
        result = subprocess.run(["bash", "-c", PRELUDE + command], cwd=readme, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    assert (readme / "data" / "scans.csv").is_file()  # the plug-in example's recorder
    stored = (tmp_path / "state" / "tango-macroserver" / "local" / "environment.json")
    assert '"ScanID": 3' in stored.read_text()  # what the documents must not depend on
    for n, document in enumerate(["convert.md", "metadata.md", "convert.md"]):
        run_document(document, tmp_path / f"{n}-{document}", env)
