"""`macroserver web` under a flood of half-open connections (issue 13, item 13).

Starts `macroserver web` as its own process (default limits, one door that does not
exist: no Tango needed), opens N connections that never send a request, and prints:
the server's threads at the peak, how long a GET /api/state takes during the flood and
how long until it answers 200 after the flood (without the flood's clients closing).

    python benchmarks/bench_web_connections.py [--connections 3000]
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return -1


def timed_get(port: int, timeout: float = 60.0) -> tuple[float, int]:
    start = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state",
                                    timeout=timeout) as reply:
            code = reply.status
    except urllib.error.HTTPError as error:
        code = error.code
    except OSError:
        code = 0
    return time.monotonic() - start, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=3000)
    args = parser.parse_args()
    # `timeout`/kill: still stop the server started here (the finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "macroserver.cli.admin", "web", "--port",
                            str(port), "--door", "sys/door/none"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    flood: list[socket.socket] = []
    try:
        assert web.stdout is not None
        for line in web.stdout:
            if "live scan view" in line:
                break
        print(f"idle server: {threads_of(web.pid)} threads; GET {timed_get(port)[0]*1000:.1f} ms")
        start = time.monotonic()
        for _ in range(args.connections):
            try:
                flood.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                break
            if time.monotonic() - start > 60:  # a server that stopped accepting
                break
        opened = time.monotonic() - start
        peak = threads_of(web.pid)
        during, code = timed_get(port)
        print(f"{len(flood)} half-open connections opened in {opened:.1f} s; server threads "
              f"{peak}; GET during the flood: {code} in {during*1000:.0f} ms")
        start = time.monotonic()
        while True:
            took, code = timed_get(port, timeout=5)
            if code == 200 or time.monotonic() - start > 120:
                break
            time.sleep(0.5)
        print(f"GET answers 200 {time.monotonic() - start:.1f} s after the flood "
              f"(its clients still open), in {took*1000:.1f} ms; threads now {threads_of(web.pid)}")
    finally:
        for sock in flood:
            sock.close()
        web.terminate()
        web.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
