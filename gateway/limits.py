"""ASGI middlewares that bound what a request can cost while its body arrives and while it runs.

Both are pure ASGI (no BaseHTTPMiddleware: it buffers and breaks streaming), wired with
``app.add_middleware(..., settings=settings)``, inside the API-key check (gateway/security.py), so a
request without a valid key is answered 401 from its headers and never gets here.

- ``BodyLimitsMiddleware``: a body over its size limit → 413 as soon as that is known (Content-Length or
  the count so far); a body that does not arrive within ``settings.body_timeout_s``, or falls below
  ``settings.body_min_bytes_per_s`` after the first ``BODY_RATE_GRACE_S`` → 408 and the connection closed;
  at most ``settings.max_receiving`` bodies and ``settings.max_receiving_bytes`` bytes being received at
  once → 503 + Retry-After past them.
- ``InferenceSlotsMiddleware``: an inference request takes one of ``settings.max_in_flight`` slots only once
  its whole body has arrived (503 + Retry-After when none is free), and gives it back when its answer has
  been sent; the answer must be sent within ``settings.send_timeout_s`` or the connection is dropped.

Errors raised from ``receive`` are HTTPExceptions: FastAPI's form parsing re-raises those (any other
exception there becomes "400 error parsing the body") and the app's handler answers ``{"detail": ...}``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import anyio
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.core.config import Settings
from gateway.errors import format_size

log = logging.getLogger("gateway.limits")

# Multipart framing (boundaries, part headers, the small form fields) on top of the image itself.
MULTIPART_ALLOWANCE_BYTES = 64 * 1024
# Paths whose requests carry several images (settings.max_batch_files of them): the batch route, and the Open
# Inference Protocol's infer routes (/v2/models/{family}[/versions/{v}]/infer: N photos in one tensor).
BATCH_PATH_PREFIX = "/infer/files"
V2_MODELS_PREFIX = "/v2/models/"
V2_INFER_SUFFIX = "/infer"
INFERENCE_PATH_PREFIXES = ("/infer", V2_MODELS_PREFIX)
# The minimum body rate is enforced only after this many seconds: a request's first bytes may wait for
# the connection to warm up (TCP slow start), small bodies are never judged by rate.
BODY_RATE_GRACE_S = 5.0
CLOSE = {"Connection": "close"}


def is_inference_path(path: str) -> bool:
    return path.startswith(INFERENCE_PATH_PREFIXES)


def carries_several_images(path: str) -> bool:
    path = path.rstrip("/")
    return path == BATCH_PATH_PREFIX or (path.startswith(V2_MODELS_PREFIX) and path.endswith(V2_INFER_SUFFIX))


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=_too_large_detail(limit), headers=CLOSE)


class BodyTimeout(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(status_code=408, detail=detail, headers=CLOSE)


class Busy(HTTPException):
    """503 + Retry-After; the connection is closed when a body may still be on the wire."""

    def __init__(self, detail: str, retry_after_s: int, close: bool) -> None:
        super().__init__(
            status_code=503, detail=detail, headers={"Retry-After": str(retry_after_s), **(CLOSE if close else {})}
        )


class SendTimeout(Exception):
    """The answer could not be sent within settings.send_timeout_s."""


def _answer(error: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)


class _Receiving:
    """Bodies being received now (count and bytes), shared by every request of one app."""

    def __init__(self) -> None:
        self.count = 0
        self.bytes = 0


class BodyLimitsMiddleware:
    """Size, time, rate and concurrency bounds on request bodies (module docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.receiving = _Receiving()

    def limit_for(self, path: str) -> int:
        images = self.settings.max_batch_files if carries_several_images(path) else 1
        return images * self.settings.max_upload_bytes + MULTIPART_ALLOWANCE_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        settings = self.settings
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer(BodyTooLarge(limit))(scope, receive, send)
            return
        receiving = self.receiving
        reserved = declared or 0
        if receiving.count >= settings.max_receiving or receiving.bytes + reserved > settings.max_receiving_bytes:
            busy = Busy(
                f"the gateway is receiving too many uploads ({receiving.count} bodies, "
                f"{format_size(receiving.bytes)}); retry later",
                settings.retry_after_s,
                close=True,
            )
            await _answer(busy)(scope, receive, send)
            return

        receiving.count += 1
        receiving.bytes += reserved
        received = 0
        complete = False
        started = time.monotonic()
        deadline = started + settings.body_timeout_s

        def finish() -> None:
            nonlocal complete, reserved
            if not complete:
                complete = True
                receiving.count -= 1
                receiving.bytes -= reserved
                reserved = 0

        async def bounded_receive() -> Message:
            nonlocal received, reserved
            if complete:
                return await receive()  # the body is in: e.g. waiting for a disconnect while streaming
            now = time.monotonic()
            # By when the next bytes must have come for the body's average rate to stay above the minimum.
            behind = started + BODY_RATE_GRACE_S + received / settings.body_min_bytes_per_s
            wait = min(deadline, behind) - now
            message: Message | None = None
            if wait > 0:
                with anyio.move_on_after(wait):
                    message = await receive()
            if message is None:
                finish()
                raise BodyTimeout(_timeout_detail(received, time.monotonic() - started, settings))
            if message["type"] == "http.request":
                chunk = len(message.get("body", b""))
                received += chunk
                if received > limit:
                    finish()
                    raise BodyTooLarge(limit)
                if received > reserved:  # chunked, or more than declared: count what came
                    receiving.bytes += received - reserved
                    reserved = received
                    if receiving.bytes > settings.max_receiving_bytes:
                        finish()
                        raise Busy(
                            f"the gateway is receiving too many upload bytes (over "
                            f"{format_size(settings.max_receiving_bytes)}); retry later",
                            settings.retry_after_s,
                            close=True,
                        )
                if not message.get("more_body", False):
                    finish()
            else:  # http.disconnect
                finish()
            return message

        try:
            await self.app(scope, bounded_receive, send)
        finally:
            finish()


class InferenceSlots:
    """``settings.max_in_flight`` slots for inference requests, one counter per worker process (the event loop is
    single-threaded: no lock). ``on_change`` is told the count in use after every change (the metrics' gauge);
    ``on_idle`` runs when the last slot is given back."""

    def __init__(
        self, limit: int, on_change: Callable[[int], None] | None = None, on_idle: Callable[[], None] | None = None
    ) -> None:
        self.limit = limit
        self.in_use = 0
        self.on_change = on_change
        self.on_idle = on_idle

    def take(self) -> bool:
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        if self.on_change:
            self.on_change(self.in_use)
        return True

    def give_back(self) -> None:
        self.in_use -= 1
        if self.on_change:
            self.on_change(self.in_use)
        if self.in_use == 0 and self.on_idle:
            self.on_idle()


class InferenceSlotsMiddleware:
    """An inference request holds a slot from the end of its body to the end of its answer (module docstring).

    Only inference paths count: health, readiness, metrics and docs stay responsive under load.
    """

    def __init__(self, app: ASGIApp, settings: Settings, slots: InferenceSlots) -> None:
        self.app = app
        self.settings = settings
        self.slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_inference_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        settings, slots = self.settings, self.slots
        holding = False
        send_deadline: float | None = None

        async def admitting_receive() -> Message:
            nonlocal holding
            message = await receive()
            if not holding and message["type"] == "http.request" and not message.get("more_body", False):
                if not slots.take():
                    raise Busy(
                        f"the gateway is busy ({slots.limit} inference requests in flight); retry later",
                        settings.retry_after_s,
                        close=False,
                    )
                holding = True
            return message

        async def bounded_send(message: Message) -> None:
            nonlocal send_deadline
            if message["type"] == "http.response.start":
                send_deadline = time.monotonic() + settings.send_timeout_s
            remaining = math.inf if send_deadline is None else send_deadline - time.monotonic()
            try:
                with anyio.fail_after(max(remaining, 0)):
                    await send(message)
            except TimeoutError:
                raise SendTimeout from None

        try:
            await self.app(scope, admitting_receive, bounded_send)
        except SendTimeout:
            # The client reads its answer too slowly (or not at all): give its slot and buffers back.
            log.warning(
                "answer not sent within %.0f s (GATEWAY_SEND_TIMEOUT_S): connection dropped", settings.send_timeout_s
            )
        finally:
            if holding:
                slots.give_back()


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return value.strip() != b"0"
        if name == b"transfer-encoding":
            return True
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _timeout_detail(received: int, elapsed: float, settings: Settings) -> str:
    return (
        f"the request body did not arrive in time ({format_size(received)} in {elapsed:.1f} s; the body must "
        f"arrive within {settings.body_timeout_s:g} s (GATEWAY_BODY_TIMEOUT_S) and at "
        f"{format_size(settings.body_min_bytes_per_s)}/s or more after {BODY_RATE_GRACE_S:g} s "
        "(GATEWAY_BODY_MIN_BYTES_PER_S))"
    )


def _too_large_detail(limit: int) -> str:
    return (
        f"request body is larger than the limit of {format_size(limit - MULTIPART_ALLOWANCE_BYTES)} "
        f"(GATEWAY_MAX_UPLOAD_BYTES per image, plus {format_size(MULTIPART_ALLOWANCE_BYTES)} for the form)"
    )
