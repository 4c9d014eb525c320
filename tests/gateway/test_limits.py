"""BodyLimitsMiddleware and InferenceSlotsMiddleware on a tiny app (no Triton needed)."""

from __future__ import annotations

import threading
from typing import Annotated

import anyio
import pytest
from fastapi import FastAPI, File, Request, UploadFile
from starlette.testclient import TestClient

from gateway import limits
from gateway.core.config import Settings
from gateway.errors import format_size
from gateway.limits import MULTIPART_ALLOWANCE_BYTES, BodyLimitsMiddleware, InferenceSlots, InferenceSlotsMiddleware

pytestmark = pytest.mark.timeout(60)

UPLOAD_LIMIT = 10_000


def make_app(settings: Settings) -> FastAPI:
    app = FastAPI()
    seen: dict[str, int] = {"bytes": 0}

    @app.post("/infer/file")
    async def infer_file(file: Annotated[UploadFile, File()]) -> dict:
        data = await file.read()
        seen["bytes"] = len(data)
        return {"size": len(data)}

    @app.get("/healthcheck")
    async def health() -> dict:
        return {"status": "live"}

    app.add_middleware(InferenceSlotsMiddleware, settings=settings, slots=InferenceSlots(settings.max_in_flight))
    app.add_middleware(BodyLimitsMiddleware, settings=settings)
    app.state.seen = seen
    return app


@pytest.fixture
def client() -> TestClient:
    return TestClient(make_app(Settings(max_upload_bytes=UPLOAD_LIMIT)))


def test_upload_within_limit_passes(client: TestClient) -> None:
    response = client.post(
        "/infer/file", data={"infer_model_type": "torch"}, files={"file": ("a.jpg", b"x" * UPLOAD_LIMIT)}
    )
    assert response.status_code == 200
    assert response.json() == {"size": UPLOAD_LIMIT}


def test_declared_content_length_over_limit_is_413_before_the_app_reads(client: TestClient) -> None:
    big = b"x" * (UPLOAD_LIMIT + MULTIPART_ALLOWANCE_BYTES + 1)
    response = client.post("/infer/file", data={"infer_model_type": "torch"}, files={"file": ("a.jpg", big)})
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["detail"]
    assert client.app.state.seen["bytes"] == 0  # the route never ran


async def _drive(app, scope: dict, chunks: list[bytes]) -> tuple[int, int]:
    """Run one request through ``app`` at the ASGI level: (response status, chunks the app pulled)."""
    pulled = 0
    statuses: list[int] = []

    async def receive() -> dict:
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}
        await anyio.sleep_forever()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    return statuses[0], pulled


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


def test_chunked_body_is_counted_while_streaming() -> None:
    settings = Settings(max_upload_bytes=UPLOAD_LIMIT)
    app = BodyLimitsMiddleware(make_app(settings), settings)
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    chunks = [head] + [b"x" * 4096] * 1000  # 4 MB, no Content-Length: only counting can stop it
    scope = _scope(
        "/infer/file", [(b"content-type", b"multipart/form-data; boundary=b"), (b"transfer-encoding", b"chunked")]
    )
    status, pulled = anyio.run(_drive, app, scope, chunks)
    assert status == 413
    limit = UPLOAD_LIMIT + MULTIPART_ALLOWANCE_BYTES
    assert pulled <= limit // 4096 + 2  # stopped at the limit, the rest never read


def test_streamed_413_names_the_limit(client: TestClient) -> None:
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    body = head + b"x" * (UPLOAD_LIMIT + MULTIPART_ALLOWANCE_BYTES)
    response = client.post(
        "/infer/file",
        content=iter([body]),  # an iterator: sent chunked, without Content-Length
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413
    assert f"limit of {format_size(UPLOAD_LIMIT)} (GATEWAY_MAX_UPLOAD_BYTES" in response.json()["detail"]


def test_batch_path_allows_several_images() -> None:
    settings = Settings(max_upload_bytes=UPLOAD_LIMIT, max_batch_files=4)
    middleware = BodyLimitsMiddleware(make_app(settings), settings)
    assert middleware.limit_for("/infer/files") == 4 * UPLOAD_LIMIT + MULTIPART_ALLOWANCE_BYTES
    assert middleware.limit_for("/infer/file") == UPLOAD_LIMIT + MULTIPART_ALLOWANCE_BYTES


def test_in_flight_over_limit_is_503_with_retry_after_and_health_stays_open() -> None:
    settings = Settings(max_in_flight=2, retry_after_s=3)
    release_holder: dict[str, anyio.Event] = {}
    app = FastAPI()
    started = threading.Semaphore(0)

    @app.post("/infer/slow")
    async def slow(request: Request) -> dict:
        await request.body()
        release_holder.setdefault("event", anyio.Event())
        started.release()
        await release_holder["event"].wait()
        return {"ok": True}

    @app.get("/healthcheck")
    async def health() -> dict:
        return {"status": "live"}

    app.add_middleware(InferenceSlotsMiddleware, settings=settings, slots=InferenceSlots(settings.max_in_flight))
    with TestClient(app) as client:
        results: list[int] = []
        threads = [
            threading.Thread(target=lambda: results.append(client.post("/infer/slow", content=b"x").status_code))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for _ in threads:
            assert started.acquire(timeout=10)
        busy = client.post("/infer/slow", content=b"x")
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "3"
        assert "busy" in busy.json()["detail"]
        assert client.get("/healthcheck").status_code == 200  # not counted, not refused
        client.portal.call(release_holder["event"].set)
        for thread in threads:
            thread.join(timeout=10)
        assert results == [200, 200]


def test_in_flight_counter_is_released_after_errors() -> None:
    settings = Settings(max_in_flight=1)
    app = FastAPI()

    @app.post("/infer/boom")
    async def boom(request: Request) -> dict:
        await request.body()
        raise RuntimeError("boom")

    slots = InferenceSlots(settings.max_in_flight)
    middleware = InferenceSlotsMiddleware(app, settings, slots)
    with TestClient(middleware, raise_server_exceptions=False) as client:
        for _ in range(3):
            assert client.post("/infer/boom", content=b"x").status_code == 500
    assert slots.in_use == 0


PART_HEAD = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'


class _Trickle:
    """An ASGI ``receive`` that hands out ``chunks`` one per ``every_s`` seconds (then waits forever); a multipart
    file part's head comes first, so the form parser keeps reading."""

    def __init__(self, chunks: list[bytes], every_s: float) -> None:
        self.chunks, self.every_s, self.pulled = [PART_HEAD, *chunks], every_s, 0

    async def __call__(self) -> dict:
        if self.pulled < len(self.chunks):
            await anyio.sleep(self.every_s)
            self.pulled += 1
            return {
                "type": "http.request",
                "body": self.chunks[self.pulled - 1],
                "more_body": self.pulled < len(self.chunks),
            }
        await anyio.sleep_forever()
        return {"type": "http.disconnect"}


async def _run(app, scope: dict, receive) -> tuple[int, dict]:
    answer: dict = {}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {key.decode(): value.decode() for key, value in message["headers"]}
        elif message["type"] == "http.response.body":
            answer["body"] = answer.get("body", b"") + message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer


def _upload_scope(length: int) -> dict:
    return _scope(
        "/infer/file",
        [(b"content-type", b"multipart/form-data; boundary=b"), (b"content-length", str(length).encode())],
    )


def test_a_body_that_does_not_arrive_in_time_is_408_and_closes_the_connection() -> None:
    settings = Settings(max_upload_bytes=UPLOAD_LIMIT, body_timeout_s=0.5)
    app = make_app(settings)
    trickle = _Trickle([b"x" * 10] * 100, every_s=0.1)
    status, answer = anyio.run(_run, app, _upload_scope(1000), trickle)
    assert status == 408
    assert answer["headers"]["connection"] == "close"
    assert "GATEWAY_BODY_TIMEOUT_S" in answer["body"].decode()
    assert trickle.pulled < 10  # cut at the deadline, not read to the end


def test_a_body_slower_than_the_minimum_rate_is_cut_after_the_grace_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "BODY_RATE_GRACE_S", 0.3)
    settings = Settings(max_upload_bytes=UPLOAD_LIMIT, body_timeout_s=60, body_min_bytes_per_s=1000)
    trickle = _Trickle([b"x" * 10] * 100, every_s=0.1)  # 100 bytes/s
    status, _ = anyio.run(_run, make_app(settings), _upload_scope(1000), trickle)
    assert status == 408
    assert trickle.pulled < 20


def test_bodies_being_received_are_bounded_in_count() -> None:
    settings = Settings(max_upload_bytes=UPLOAD_LIMIT, max_receiving=1, body_timeout_s=5, retry_after_s=2)
    app = make_app(settings)

    async def scenario() -> tuple[int, dict, int]:
        async with anyio.create_task_group() as group:
            slow = _Trickle([b"x" * 10] * 100, every_s=0.05)
            group.start_soon(_run, app, _upload_scope(1000), slow)
            await anyio.sleep(0.2)  # the first body is being received
            status, answer = await _run(app, _upload_scope(1000), _Trickle([], every_s=0))
            group.cancel_scope.cancel()
        return status, answer, slow.pulled

    status, answer, _ = anyio.run(scenario)
    assert status == 503
    assert answer["headers"]["retry-after"] == "2"
    assert "receiving too many uploads" in answer["body"].decode()


def test_bodies_being_received_are_bounded_in_bytes() -> None:
    settings = Settings(max_upload_bytes=UPLOAD_LIMIT, max_receiving_bytes=UPLOAD_LIMIT)
    app = BodyLimitsMiddleware(make_app(settings), settings)
    status, answer = anyio.run(_run, app, _upload_scope(UPLOAD_LIMIT + 1), _Trickle([], every_s=0))
    assert status == 503
    assert "receiving too many uploads" in answer["body"].decode()


def test_a_slow_body_holds_no_inference_slot() -> None:
    """The issue's item 1 in process: with one slot, a request whose body trickles does not lock a fast one out."""
    settings = Settings(max_upload_bytes=UPLOAD_LIMIT, max_in_flight=1, body_timeout_s=5)
    app = make_app(settings)
    body = b"abc\r\n--b--\r\n"

    async def scenario() -> int:
        async with anyio.create_task_group() as group:
            group.start_soon(_run, app, _upload_scope(1000), _Trickle([b"x" * 10] * 100, every_s=0.05))
            await anyio.sleep(0.2)
            status, _ = await _run(app, _upload_scope(len(PART_HEAD + body)), _Trickle([body], every_s=0))
            group.cancel_scope.cancel()
        return status

    assert anyio.run(scenario) == 200
