"""ASGI middlewares that bound the gateway's load: request body size and requests in flight.

Both are pure ASGI (no BaseHTTPMiddleware: it buffers and breaks streaming), wired with
``app.add_middleware(..., settings=settings)``. Neither reads the body itself, so their order only
decides which answer an oversized request sent to an overloaded gateway gets (413 or 503).
"""
from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.core.config import Settings
from gateway.errors import format_size

# Multipart framing (boundaries, part headers, the small form fields) on top of the image itself.
MULTIPART_ALLOWANCE_BYTES = 64 * 1024
# Paths whose requests carry several images (settings.max_batch_files of them).
BATCH_PATH_PREFIX = "/infer/files"
INFERENCE_PATH_PREFIX = "/infer"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit.

    It is an HTTPException so FastAPI's form parsing re-raises it (any other exception there becomes
    "400 error parsing the body") and its handler answers ``413 {"detail": ...}``.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=_too_large_detail(limit))


class BodySizeLimitMiddleware:
    """413 as soon as a request body exceeds the limit (Content-Length or streamed count).

    The limit is settings.max_upload_bytes + MULTIPART_ALLOWANCE_BYTES (× settings.max_batch_files
    on the batch path); the per-image limit itself is checked where each image is read.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def limit_for(self, path: str) -> int:
        images = self.settings.max_batch_files if path.rstrip("/") == BATCH_PATH_PREFIX else 1
        return images * self.settings.max_upload_bytes + MULTIPART_ALLOWANCE_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit)(scope, receive, send)
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # Reached only when no handler inside turned it into a response (e.g. a raw ASGI route).
            if response_started:
                raise
            await _too_large(limit)(scope, receive, send)


class InFlightLimitMiddleware:
    """503 + Retry-After at once when more than settings.max_in_flight inference requests run.

    Only paths under /infer count: health, readiness, metrics and docs stay responsive under load.
    One counter per worker process; the event loop is single-threaded, so no lock is needed.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(INFERENCE_PATH_PREFIX):
            await self.app(scope, receive, send)
            return
        limit = self.settings.max_in_flight
        if self.in_flight >= limit:
            busy = JSONResponse(
                {"detail": f"the gateway is busy ({limit} inference requests in flight); retry later"},
                status_code=503,
                headers={"Retry-After": str(self.settings.retry_after_s)},
            )
            await busy(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large_detail(limit: int) -> str:
    return (f"request body is larger than the limit of {format_size(limit - MULTIPART_ALLOWANCE_BYTES)} "
            f"(GATEWAY_MAX_UPLOAD_BYTES per image, plus {format_size(MULTIPART_ALLOWANCE_BYTES)} for the form)")


def _too_large(limit: int) -> JSONResponse:
    # Connection: close because the unread body is still on the wire.
    return JSONResponse(
        {"detail": _too_large_detail(limit)},
        status_code=413,
        headers={"Connection": "close"},
    )
