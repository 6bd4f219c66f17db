"""The HTTP side of `macroserver web`: one page, its static files, an event stream.

Stdlib only (`http.server.ThreadingHTTPServer`, one thread per connection). Routes, all
GET/HEAD (anything else is 405: the view is read-only):

- `/` — the page; `/static/<file>` — its JavaScript and CSS (in this package);
- `/events` — server-sent events: a `snapshot` message, then the changes (`web/stream.py`);
- `/api/state` — the snapshot as JSON (for scripts and debugging);
- `/image?door=<name>` — the door's latest image frame as PNG (404 if none);
- `/file?path=<full path>` — a data file of a scan listed in "Last scans" (a download;
  404 for any other path, or one reached through a symbolic link).

Limits, so that a flood of idle connections cannot take the view down and a web page
elsewhere cannot read it through DNS rebinding: at most MAX_CONNECTIONS at once (more
get 503 and are closed), a connection idle for IDLE_TIMEOUT seconds is closed, and a
request whose Host header is not a loopback name, the listening address or a name
allowed with `--allow-host` gets 403.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Sequence
from urllib.parse import parse_qs, quote, urlsplit

from macroserver.web.bridge import Hub
from macroserver.web.stream import EventStream

KEEPALIVE = 15.0  # seconds between comment lines on an idle event stream
FILE_CHUNK = 1 << 20  # bytes per write of a downloaded data file
MAX_CONNECTIONS = 64
IDLE_TIMEOUT = 10.0  # seconds a connection may wait for a request line or a write
LOOPBACK_NAMES = ("localhost",)
BUSY_REPLY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
              b"Content-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n")
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def _static(name: str) -> bytes | None:
    if "/" in name or name.startswith("."):
        return None
    try:
        return resources.files("macroserver.web").joinpath("static", name).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None


def host_name(header: str) -> str:
    """The name of a Host header without its port ("[::1]:80" -> "::1")."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _is_loopback(name: str) -> bool:
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Handler(BaseHTTPRequestHandler):
    server: "WebServer"
    server_version = "macroserver-web"
    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_timeout)  # reading the request, writes

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        host = self.headers.get("Host")
        if host is not None and not self.server.host_allowed(host_name(host)):
            self._reply(HTTPStatus.FORBIDDEN,
                        f"host {host_name(host)!r} is not allowed; start the view with "
                        f"--allow-host {host_name(host)} to allow it\n".encode(),
                        "text/plain; charset=utf-8")
            return False
        return True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:
            super().log_message(format, *args)

    def _reply(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _not_found(self) -> None:
        self._reply(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        path = url.path
        if path in ("/", "/index.html"):
            body = _static("index.html")
            assert body is not None
            self._reply(HTTPStatus.OK, body, STATIC_TYPES[".html"])
        elif path.startswith("/static/"):
            name = path[len("/static/"):]
            body = _static(name)
            suffix = name[name.rfind("."):] if "." in name else ""
            if body is None or suffix not in STATIC_TYPES:
                self._not_found()
            else:
                self._reply(HTTPStatus.OK, body, STATIC_TYPES[suffix])
        elif path == "/api/state":
            self._reply(HTTPStatus.OK, self.server.hub.snapshot_json().encode(),
                        "application/json")
        elif path == "/image":
            door = parse_qs(url.query).get("door", [""])[0]
            png = self.server.hub.image_png(door)
            if png:
                self._reply(HTTPStatus.OK, png, "image/png")
            else:
                self._not_found()
        elif path == "/file":
            self._file(parse_qs(url.query).get("path", [""])[0])
        elif path == "/events" and self.command == "GET":
            self._events()
        else:
            self._not_found()

    def _file(self, requested: str) -> None:
        """A data file of a listed scan, as a download (read-only, streamed)."""
        found = self.server.hub.scan_file(requested)
        if found is None:
            self._reply(HTTPStatus.NOT_FOUND, b"not a file of a listed scan\n",
                        "text/plain; charset=utf-8")
            return
        try:
            stream = open(found, "rb")  # noqa: SIM115 - closed below, after streaming
        except OSError:
            self._not_found()
            return
        with stream:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(os.fstat(stream.fileno()).st_size))
            self.send_header("Content-Disposition",
                             f"attachment; filename*=UTF-8''{quote(found.name)}")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if self.command != "HEAD":
                shutil.copyfileobj(stream, self.wfile, FILE_CHUNK)

    def _refuse(self) -> None:
        self._reply(HTTPStatus.METHOD_NOT_ALLOWED, b"read-only\n", "text/plain; charset=utf-8")

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815

    def _events(self) -> None:
        """The snapshot, then every change as the hub delivers it (`web/stream.py`:
        written by the hub's thread while this browser keeps up, by this one when not)."""
        hub = self.server.hub
        stream = EventStream(self.connection)
        try:
            snapshot = hub.connect(stream)  # later messages wait in `stream` until serve
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self._write(b"retry: 2000\n\n" + snapshot)
            stream.serve(self._write, KEEPALIVE)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        finally:  # closed before the server closes the socket: no write after that
            stream.close()
            hub.disconnect(stream)
            self.close_connection = True

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()


class WebServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], hub: Hub, verbose: bool = False,
                 allowed_hosts: Sequence[str] = (), max_connections: int = MAX_CONNECTIONS,
                 idle_timeout: float = IDLE_TIMEOUT) -> None:
        super().__init__(address, Handler)
        self.hub = hub
        self.verbose = verbose
        self.idle_timeout = idle_timeout
        self.allowed_hosts = {name.lower() for name in (address[0], *allowed_hosts)}
        self.allowed_hosts -= {"", "0.0.0.0", "::"}  # a wildcard address is not a name
        self._slots = threading.BoundedSemaphore(max_connections)

    def host_allowed(self, name: str) -> bool:
        return _is_loopback(name) or name in self.allowed_hosts

    def process_request(self, request: Any, client_address: Any) -> None:
        """One thread per connection, up to the cap; beyond it a short 503 and close."""
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(BUSY_REPLY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def run(host: str, port: int, doors: list[str] | None = None, verbose: bool = False,
        allowed_hosts: Sequence[str] = ()) -> int:
    """Serve until Ctrl-C/SIGTERM; prints the address once it listens."""
    import signal

    hub = Hub(doors or None)
    try:
        httpd = WebServer((host, port), hub, verbose, allowed_hosts)
    except OSError as exc:
        print(f"Error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 4  # EXIT_UNUSABLE of cli/exitcodes.py (web does not import the cli layer)

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        hub.start()
        # the socket's own address: a str host (server_address's stub type allows bytes)
        bound_host, bound_port = httpd.socket.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        if host not in ("127.0.0.1", "localhost", "::1"):
            print(f"Warning: listening on {host}: anyone who reaches this address sees the "
                  "scans (read-only)", file=sys.stderr)
        names = ", ".join(sorted(hub.doors)) or "none yet"
        if hub.discovery_error:
            print(f"Warning: {hub.discovery_error}", file=sys.stderr)
        print(f"doors: {names}", flush=True)
        print(f"live scan view on http://{shown}:{bound_port}/ (Ctrl-C stops it)", flush=True)
        httpd.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        hub.close()
        httpd.server_close()
    return 0
