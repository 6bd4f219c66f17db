"""Run Python code or a `macroserver` command in a child process that cannot take the
machine down: its address space (RLIMIT_AS), the size of any file it writes
(RLIMIT_FSIZE, with SIGXFSZ ignored so a write beyond it fails with EFBIG like a full
disk) and its time (a subprocess timeout, then SIGKILL) are bounded. The hostile-file
and huge-scan tests run their cases through it, so a regression fails the test instead
of filling the disk or the memory of the machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent

PRELUDE = """\
import os, resource, runpy, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
for name, key in (("RLIMIT_AS", "LIMIT_MEMORY"), ("RLIMIT_FSIZE", "LIMIT_FSIZE")):
    limit = int(os.environ[key])
    resource.setrlimit(getattr(resource, name), (limit, limit))
if sys.argv[1] == "-m":
    sys.argv = ["macroserver", *sys.argv[2:]]
    runpy.run_module("macroserver", run_name="__main__", alter_sys=True)
else:
    code = sys.argv[1]
    sys.argv = ["-c", *sys.argv[2:]]
    exec(compile(code, "<limited>", "exec"), {"__name__": "__main__"})
"""


def _run(args: list[str], memory: int, fsize: int, timeout: float,
         cwd: Path | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIMIT_MEMORY": str(memory), "LIMIT_FSIZE": str(fsize),
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", PRELUDE, *args], capture_output=True,
                          text=True, errors="replace", env=env, timeout=timeout, cwd=cwd)


def run_code(code: str, *args: str, memory: int = 2 << 30, fsize: int = 64 << 20,
             timeout: float = 120.0, cwd: Path | None = None
             ) -> subprocess.CompletedProcess[str]:
    """`code` run as a script with `args` in its sys.argv, under the limits."""
    return _run([code, *args], memory, fsize, timeout, cwd)


def run_command(*args: str, memory: int = 2 << 30, fsize: int = 64 << 20,
                timeout: float = 120.0, cwd: Path | None = None
                ) -> subprocess.CompletedProcess[str]:
    """`macroserver <args>` under the limits (subprocess.TimeoutExpired if it hangs)."""
    return _run(["-m", *args], memory, fsize, timeout, cwd)
