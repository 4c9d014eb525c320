"""iter_segment / segment_many and `segment DIR` keep a request in flight while the previous answers are handled:
against a slow fake gateway in-process (no stack), which counts the requests it is answering at once."""

from __future__ import annotations

import base64
import http.server
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from client import GatewayError, SegmentationClient
from client.cli import EXIT_OK, EXIT_SOME_FAILED, main

pytestmark = pytest.mark.timeout(120)


def _mask_png() -> str:
    buffer = io.BytesIO()
    Image.new("P", (2, 2)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


MASK_PNG = _mask_png()


class FakeGateway(http.server.ThreadingHTTPServer):
    """``POST /infer/files`` answered after ``delay_s`` (``first_delay_s`` for the first request): one bundle per
    photo, its summary carrying the number in the photo's bytes (``photo-<n>``); ``photo-bad`` is a 415, and a
    batch holding ``photo-refused`` is refused as a whole (413)."""

    daemon_threads = True

    def __init__(self, delay_s: float, first_delay_s: float | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay_s, self.first_delay_s = delay_s, first_delay_s
        self.lock = threading.Lock()
        self.active = self.most_active = self.requests = 0
        self.batches: list[list[str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FakeGateway

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        tags = [tag.decode() for tag in re.findall(rb"photo-(\w+)", body)]
        server = self.server
        with server.lock:
            server.active += 1
            server.most_active = max(server.most_active, server.active)
            first = server.requests == 0
            server.requests += 1
            server.batches.append(tags)
        try:
            time.sleep(server.first_delay_s if first and server.first_delay_s is not None else server.delay_s)
            if "refused" in tags:
                self._answer(413, {"detail": "too many files"})
                return
            results = [
                {"status": 415, "detail": "not an image"}
                if tag == "bad"
                else {
                    "status": 200,
                    "result": {"mask_png": MASK_PNG, "labels": ["background"], "model": {"family": "fake"}, "n": tag},
                }
                for tag in tags
            ]
            self._answer(200, {"results": results})
        finally:
            with server.lock:
                server.active -= 1

    def _answer(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def fake_gateway(delay_s: float = 0.3, first_delay_s: float | None = None) -> Iterator[FakeGateway]:
    server = FakeGateway(delay_s, first_delay_s)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def photos(count: int) -> list[bytes]:
    return [f"photo-{n}".encode() for n in range(count)]


def numbers(outcomes: list) -> list[str]:
    return [outcome.summary["n"] for outcome in outcomes]


def test_two_requests_are_in_flight_at_once_and_the_answers_keep_their_order() -> None:
    # The first batch answers last: its results must still come first.
    with fake_gateway(delay_s=0.3, first_delay_s=0.8) as server, SegmentationClient(server.url) as client:
        outcomes = client.segment_many(photos(6), batch_size=2)
    assert numbers(outcomes) == ["0", "1", "2", "3", "4", "5"]
    assert sorted(server.batches) == [["0", "1"], ["2", "3"], ["4", "5"]]  # two in flight: either may arrive first
    assert server.most_active == 2


def test_never_more_than_in_flight_requests_at_once() -> None:
    with fake_gateway(delay_s=0.2) as server, SegmentationClient(server.url) as client:
        one = client.segment_many(photos(4), batch_size=1, in_flight=1)
        most_with_one = server.most_active
        three = client.segment_many(photos(8), batch_size=1, in_flight=3)
    assert numbers(one) == ["0", "1", "2", "3"] and most_with_one == 1
    assert numbers(three) == [str(n) for n in range(8)] and server.most_active == 3


def test_the_next_request_is_out_while_the_caller_handles_the_previous_answers() -> None:
    with fake_gateway(delay_s=0.3) as server, SegmentationClient(server.url) as client:
        seen = []
        for index, _ in client.iter_segment(photos(4), batch_size=2):
            seen.append((index, server.requests))
            time.sleep(0.4)  # writing the answers: the second batch is already on its way
    assert [index for index, _ in seen] == [0, 1, 2, 3]
    assert seen[0][1] == 2  # both requests made before the first answer was handled


def test_a_refused_batch_raises_after_the_earlier_answers_or_fails_its_photos_alone() -> None:
    images = [*photos(2), b"photo-refused", b"photo-3", *photos(6)[4:]]
    with fake_gateway(delay_s=0.05) as server, SegmentationClient(server.url) as client:
        got = []
        with pytest.raises(GatewayError) as raised:
            for index, _ in client.iter_segment(images, batch_size=2):
                got.append(index)
        assert raised.value.status_code == 413 and got == [0, 1]
        alone = client.segment_many(images, batch_size=2, fail_alone=True)
    kinds = [type(outcome).__name__ for outcome in alone]
    assert kinds == ["SegmentationResult"] * 2 + ["GatewayError"] * 2 + ["SegmentationResult"] * 2


def test_unreadable_files_and_bad_photos_fail_alone_in_their_place(tmp_path: Path) -> None:
    images = [b"photo-0", tmp_path / "missing.jpg", b"photo-bad", b"photo-3"]
    with fake_gateway(delay_s=0.05) as server, SegmentationClient(server.url) as client:
        outcomes = client.segment_many(images, batch_size=2)
    assert [type(outcome).__name__ for outcome in outcomes] == [
        "SegmentationResult",
        "FileNotFoundError",
        "GatewayError",
        "SegmentationResult",
    ]
    # the unreadable file leaves no hole in a batch (two requests in flight: they may arrive in either order)
    assert sorted(server.batches) == [["0", "bad"], ["3"]]


@pytest.mark.parametrize("in_flight", [0, -1, 1.5, True])
def test_in_flight_must_be_a_whole_number_of_at_least_one(in_flight: object) -> None:
    with SegmentationClient("http://127.0.0.1:9") as client, pytest.raises(ValueError, match="in_flight"):
        client.segment_many(photos(1), in_flight=in_flight)


def folder_of_photos(folder: Path, count: int, extra: dict[str, bytes] | None = None) -> Path:
    folder.mkdir()
    for n in range(count):
        (folder / f"p{n:02d}.jpg").write_bytes(f"photo-{n}".encode())
    for name, data in (extra or {}).items():
        (folder / name).write_bytes(data)
    return folder


def test_segment_dir_overlaps_its_requests_and_prints_the_summaries_in_order(tmp_path: Path, capsys) -> None:
    folder = folder_of_photos(tmp_path / "photos", 6)
    with fake_gateway(delay_s=0.3, first_delay_s=0.8) as server:
        code = main([str(folder), "--summary", "--gateway", server.url, "--batch-size", "2"])
    out = capsys.readouterr()
    assert code == EXIT_OK, out.err
    lines = [json.loads(line) for line in out.out.splitlines()]
    assert [Path(line["input"]).name for line in lines] == [f"p{n:02d}.jpg" for n in range(6)]
    assert [line["n"] for line in lines] == [str(n) for n in range(6)]
    assert server.most_active == 2
    assert [line.split("]")[0] for line in out.err.splitlines()] == [f"[{n}/6" for n in range(1, 7)]


def test_segment_dir_reports_a_refused_batch_and_goes_on(tmp_path: Path, capsys) -> None:
    folder = folder_of_photos(tmp_path / "photos", 4, {"p01b.jpg": b"photo-refused"})
    with fake_gateway(delay_s=0.05) as server:
        code = main([str(folder), "--summary", "--gateway", server.url, "--batch-size", "2"])
    out = capsys.readouterr()
    assert code == EXIT_SOME_FAILED
    # p00 p01 | p01b p02 (refused together) | p03
    assert [json.loads(line)["n"] for line in out.out.splitlines()] == ["0", "1", "3"]
    assert "FAILED: 413: too many files" in out.err and "2 of 5 images failed" in out.err
