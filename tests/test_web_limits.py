"""`macroserver web` under hostile clients (issue 13, item 13): a flood of half-open
connections, requests for a foreign host name (DNS rebinding), and event streams whose
browser reads slowly or not at all.

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
from macroserver.web.stream import EventStream

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


def _serving(stream: EventStream, connection: socket.socket, errors: list[OSError]
             ) -> threading.Thread:
    """`stream.serve` in a thread of its own, as the connection's handler runs it."""
    def serve() -> None:
        try:
            stream.serve(connection.sendall, 60.0)
        except OSError as error:  # the handler ends the connection on these
            errors.append(error)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_event_stream_keeps_order_through_a_full_socket_and_drops_a_stalled_browser():
    """Messages are written by the delivering thread while the socket takes them and by
    the stream's own when it is full: a browser that reads late still gets every one,
    in order. One that stops reading is closed past its backlog (it reconnects for a
    fresh snapshot), never blocking the thread that delivers."""
    server_side, browser = socket.socketpair()
    server_side.settimeout(5)
    stream = EventStream(server_side, backlog=64 << 20)
    errors: list[OSError] = []
    serving = _serving(stream, server_side, errors)
    messages = [b"data: %d %s\n\n" % (i, b"x" * 1000) for i in range(5000)]  # ~5 MB
    delivered = threading.Event()
    received: list[bytes] = []
    waited: list[bool] = []

    def read_late() -> None:  # after every delivery, or 20 s if a delivery blocked
        waited.append(not delivered.wait(20))
        received.extend(_read_all(browser, sum(map(len, messages))))

    reader = threading.Thread(target=read_late, daemon=True)
    reader.start()
    assert all(stream.deliver(m) for m in messages)
    delivered.set()
    reader.join(40)
    assert waited == [False]  # no delivery waited for the reader
    assert b"".join(received) == b"".join(messages)
    stream.close()
    serving.join(5)
    assert not serving.is_alive() and errors == []
    server_side.close()
    browser.close()

    server_side, browser = socket.socketpair()
    server_side.settimeout(5)
    stream = EventStream(server_side, backlog=1 << 20)
    serving = _serving(stream, server_side, errors)
    chunk = b"data: %s\n\n" % (b"x" * 100_000)
    count = 0
    while stream.deliver(chunk):
        count += 1
        assert count < 100, "a browser that reads nothing was never dropped"
        time.sleep(0.01)  # the stream's thread blocks in its write meanwhile
    assert stream.closed and not stream.deliver(b"data: more\n\n")
    serving.join(2)  # its blocked write ended with the connection, not its 5 s timeout
    assert not serving.is_alive()
    assert [type(e) for e in errors] == [BrokenPipeError]
    server_side.close()
    browser.close()
    with pytest.raises(ValueError, match="needs a connection with a timeout"):
        EventStream(socket.socket())


def _read_all(sock: socket.socket, size: int) -> list[bytes]:
    sock.settimeout(20)
    chunks: list[bytes] = []
    while size > 0:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return chunks
