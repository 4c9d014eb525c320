"""BodySizeLimitMiddleware and InFlightLimitMiddleware on a tiny app (no Triton needed)."""
from __future__ import annotations

import threading
from typing import Annotated

import anyio
import pytest
from fastapi import FastAPI, File, UploadFile
from starlette.testclient import TestClient

from gateway.core.config import Settings
from gateway.errors import format_size
from gateway.limits import MULTIPART_ALLOWANCE_BYTES, BodySizeLimitMiddleware, InFlightLimitMiddleware

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

    app.add_middleware(InFlightLimitMiddleware, settings=settings)
    app.add_middleware(BodySizeLimitMiddleware, settings=settings)
    app.state.seen = seen
    return app


@pytest.fixture
def client() -> TestClient:
    return TestClient(make_app(Settings(max_upload_bytes=UPLOAD_LIMIT)))


def test_upload_within_limit_passes(client: TestClient) -> None:
    response = client.post("/infer/file", data={"infer_model_type": "torch"}, files={"file": ("a.jpg", b"x" * UPLOAD_LIMIT)})
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
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }


def test_chunked_body_is_counted_while_streaming() -> None:
    settings = Settings(max_upload_bytes=UPLOAD_LIMIT)
    app = BodySizeLimitMiddleware(make_app(settings), settings)
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    chunks = [head] + [b"x" * 4096] * 1000  # 4 MB, no Content-Length: only counting can stop it
    scope = _scope("/infer/file", [(b"content-type", b"multipart/form-data; boundary=b")])
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
    middleware = BodySizeLimitMiddleware(make_app(settings), settings)
    assert middleware.limit_for("/infer/files") == 4 * UPLOAD_LIMIT + MULTIPART_ALLOWANCE_BYTES
    assert middleware.limit_for("/infer/file") == UPLOAD_LIMIT + MULTIPART_ALLOWANCE_BYTES


def test_in_flight_over_limit_is_503_with_retry_after_and_health_stays_open() -> None:
    settings = Settings(max_in_flight=2, retry_after_s=3)
    release_holder: dict[str, anyio.Event] = {}
    app = FastAPI()
    started = threading.Semaphore(0)

    @app.get("/infer/slow")
    async def slow() -> dict:
        release_holder.setdefault("event", anyio.Event())
        started.release()
        await release_holder["event"].wait()
        return {"ok": True}

    @app.get("/healthcheck")
    async def health() -> dict:
        return {"status": "live"}

    app.add_middleware(InFlightLimitMiddleware, settings=settings)
    with TestClient(app) as client:
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(client.get("/infer/slow").status_code)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for _ in threads:
            assert started.acquire(timeout=10)
        busy = client.get("/infer/slow")
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

    @app.get("/infer/boom")
    async def boom() -> dict:
        raise RuntimeError("boom")

    middleware = InFlightLimitMiddleware(app, settings)
    with TestClient(middleware, raise_server_exceptions=False) as client:
        for _ in range(3):
            assert client.get("/infer/boom").status_code == 500
    assert middleware.in_flight == 0
