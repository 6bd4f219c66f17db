"""`macroserver web` under hostile clients (issue 13, item 13): a flood of half-open
connections, and requests for a foreign host name (DNS rebinding).

The real HTTP server class on a real loopback socket, in this process (its hub is not
started: no Tango needed). The 3,000-connection figures come from
benchmarks/bench_web_connections.py, run by hand.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from typing import Iterator

import pytest

from macroserver.web.bridge import Hub
from macroserver.web.server import WebServer, host_name

pytestmark = pytest.mark.timeout(120)

CAP = 16
IDLE = 1.0
FLOOD = 200


@pytest.fixture
def server() -> Iterator[WebServer]:
    httpd = WebServer(("127.0.0.1", 0), Hub(["sys/door/none"]), allowed_hosts=["pc1.lab"],
                      max_connections=CAP, idle_timeout=IDLE)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def get(port: int, host: str | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/state")
    if host is not None:
        request.add_unredirected_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("host, status", [
    ("127.0.0.1:{port}", 200), ("localhost:{port}", 200), ("[::1]:{port}", 200),
    ("127.0.0.2", 200), ("pc1.lab:{port}", 200), ("PC1.lab", 200),
    ("evil.example:{port}", 403), ("pc1.lab.evil.example", 403), ("10.0.0.5:{port}", 403),
    ("localhost.evil.example", 403),
])
def test_only_loopback_or_allowed_host_names_are_served(server, host, status):
    port = server.server_address[1]
    code, body = get(port, host.format(port=port))
    assert code == status, body
    if status == 403:
        name = host_name(host.format(port=port))
        assert body.decode() == (f"host {name!r} is not allowed; start the view with "
                                 f"--allow-host {name} to allow it\n")


def test_half_open_connections_are_capped_and_timed_out(server):
    port = server.server_address[1]
    threads_before = threading.active_count()
    flood = []
    try:
        for _ in range(FLOOD):  # connect, send nothing: a thread each before the cap
            flood.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        assert threading.active_count() - threads_before <= CAP
        deadline = time.monotonic() + 30
        busy = 0
        for sock in flood:  # those beyond the cap get a short 503 and are closed
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            reply = sock.recv(200)
            if reply.startswith(b"HTTP/1.0 503"):
                busy += 1
            else:  # the capped ones: closed after IDLE seconds without a request
                assert reply in (b"",) or b"408" in reply, reply
        # (how many got 503 depends on how fast the capped ones time out: at least one)
        assert busy >= 1
    finally:
        for sock in flood:
            sock.close()
    # once the idle ones are gone the view answers at once
    deadline = time.monotonic() + 30
    while True:
        code, _ = get(port, timeout=5)
        if code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert code == 200
