"""Fixtures of the client tests: clients bound to the session's embedded stack, and local photo servers."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from client import SegmentationClient, TritonSegmentationClient
from tests.gateway.local_http import serve_directory
from tests.support.paths import shared_dir


@pytest.fixture(scope="session")
def gateway_client(stack) -> Iterator[SegmentationClient]:
    with SegmentationClient(stack.gateway_url) as client:
        yield client


@pytest.fixture(scope="session")
def triton_client(stack) -> Iterator[TritonSegmentationClient]:
    with TritonSegmentationClient(stack.triton_grpc_url) as client:
        yield client


@pytest.fixture(scope="session")
def photos_url() -> Iterator[str]:
    with serve_directory(shared_dir() / "images") as url:
        yield url


@dataclass
class PhotoServer:
    """A static server of the shared photos that records who asked: (path, User-Agent) per GET."""

    url: str
    requests: list[tuple[str, str]] = field(default_factory=list)


class _RecordingHandler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args: object, record: list[tuple[str, str]], **kwargs: object) -> None:
        self._record = record
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def do_GET(self) -> None:
        self._record.append((self.path, self.headers.get("User-Agent", "")))
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_photos(host: str) -> Iterator[PhotoServer]:
    record: list[tuple[str, str]] = []
    handler = functools.partial(_RecordingHandler, directory=str(shared_dir() / "images"), record=record)
    server = http.server.ThreadingHTTPServer((host, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield PhotoServer(f"http://{host}:{server.server_address[1]}", record)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def recording_photos() -> Iterator[PhotoServer]:
    """The photos on 127.0.0.1, which the session stack's gateway allowlists."""
    with serve_photos("127.0.0.1") as server:
        yield server


@pytest.fixture
def refused_photos() -> Iterator[PhotoServer]:
    """The photos on 127.0.0.3: loopback, and not in the session stack's allowlist (127.0.0.1, localhost),
    so its gateway refuses them for url_image (400) as it refuses any private address."""
    with serve_photos("127.0.0.3") as server:
        yield server
