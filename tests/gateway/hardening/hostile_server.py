"""A loopback HTTP server that misbehaves on purpose: redirects, HTML, endless and hanging bodies.

Used by the fetch unit tests and the hardening suites; it binds only to loopback addresses.
"""

from __future__ import annotations

import http.server
import io
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(buffer, "PNG")
    return buffer.getvalue()


PNG = _png()
JPEG_MAGIC = b"\xff\xd8\xff\xe0"
HANG_LIMIT_S = 60  # a hanging answer gives up by itself even if the server is never shut down


class HostileHandler(http.server.BaseHTTPRequestHandler):
    """Routes: /image.png, /redirect?to=URL, /hops/N (N relative redirects), /html, /big-declared,
    /endless (JPEG magic then zeros forever), /trickle (a byte every 0.2 s forever), /gzip, /slow (3 s),
    /hang (never answers), else 404."""

    server: HostileServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        headers = {"Content-Length": str(len(body)), **(headers or {})}
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.seen_hosts.append(self.headers.get("Host", ""))
        path, _, query = self.path.partition("?")
        if path == "/image.png":
            self._send(200, PNG, {"Content-Type": "image/png"})
        elif path == "/redirect":
            self._send(302, headers={"Location": query.removeprefix("to=")})
        elif path.startswith("/hops/"):
            left = int(path.rsplit("/", 1)[1])
            self._send(302, headers={"Location": f"/hops/{left - 1}" if left else "/image.png"})
        elif path == "/html":
            self._send(200, b"<!DOCTYPE html><html><body>hello</body></html>", {"Content-Type": "image/png"})
        elif path == "/big-declared":
            self._send(200, PNG, {"Content-Length": str(10**9)})
        elif path == "/endless":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            self.wfile.write(JPEG_MAGIC)
            zeros = b"\0" * 65536
            while not self.server.closing.is_set():
                self.wfile.write(zeros)  # raises once the client hangs up
        elif path == "/trickle":  # one byte at a time: never idle long enough for a read timeout
            self.send_response(200)
            self.end_headers()
            self.wfile.write(JPEG_MAGIC)
            while not self.server.closing.wait(0.2):
                self.wfile.write(b"\0")
                self.wfile.flush()
        elif path == "/gzip":
            self._send(200, PNG, {"Content-Encoding": "gzip"})
        elif path == "/slow":
            self.server.closing.wait(3)
            self._send(200, PNG)
        elif path == "/hang":
            self.server.closing.wait(HANG_LIMIT_S)
        else:
            self._send(404, b"not found")


class HostileServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), HostileHandler)
        self.seen_hosts: list[str] = []
        self.closing = threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up early (refused bodies) are what these routes provoke


@contextmanager
def serve(host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> Iterator[HostileServer]:
    """Run a HostileServer on ``host`` (loopback) until the block ends; ``server.url`` is its base URL."""
    server = HostileServer(host)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.url = f"{'https' if tls else 'http'}://{host}:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.closing.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
