"""Optional API keys (settings.api_keys): ``Authorization: Bearer <key>`` or ``X-API-Key``.

Checked by ``ApiKeyMiddleware`` from the request's headers alone, before any byte of its body is read: a
client without a valid key costs one small answer (401, connection closed when it had a body), never an
upload, a parse or an inference slot. Which paths need a key is decided here, in ``needs_key``: every path
except the open ones (probes, the page and its assets, the API description and docs), so a new route needs
a key unless it is added to the open ones; /metrics needs one only with ``settings.protect_metrics``.
"""

from __future__ import annotations

import hmac

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.core.config import Settings

# Liveness and readiness probes have no key (the Open Inference Protocol's too, /v2/health/*: KServe's probes);
# the page, its assets and the API docs are static and send the key themselves on the calls that need one.
# /ready (and /v2/health/ready) says only "ready" or what is not ready to a client without a key
# (gateway/api/routes/health.py). The protocol's other routes (/v2, /v2/models/...) need one, as /models does.
OPEN_PATHS = frozenset(
    {"/healthcheck", "/ready", "/v2/health/live", "/v2/health/ready"}
    | {"/", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
OPEN_PREFIXES = ("/static/", "/static-offline-docs/")
METRICS_PATH = "/metrics"
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def needs_key(path: str, settings: Settings) -> bool:
    """Whether a request for ``path`` needs a key when keys are configured."""
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return False
    if path == METRICS_PATH:
        return settings.protect_metrics
    return True


def presented_key(headers: Headers) -> str | None:
    """The key the client sent, from ``Authorization: Bearer`` or ``X-API-Key``."""
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    key = headers.get("x-api-key", "").strip()
    return key or None


def key_matches(candidate: str, keys: list[str]) -> bool:
    """Constant-time comparison against every configured key (no early exit on a match)."""
    presented = candidate.encode("utf-8")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented, key.encode("utf-8"))
    return matched


def key_problem(headers: Headers, settings: Settings) -> str | None:
    """Why these headers do not authenticate (None: they do, or no keys are configured)."""
    if not settings.api_keys:
        return None
    candidate = presented_key(headers)
    if candidate is None:
        return "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
    if not key_matches(candidate, settings.api_keys):
        return "the API key is not valid"
    return None


def has_valid_key(headers: Headers, settings: Settings) -> bool:
    """True when keys are configured and the headers carry one of them."""
    return bool(settings.api_keys) and key_problem(headers, settings) is None


class ApiKeyMiddleware:
    """Pure ASGI: 401 + ``WWW-Authenticate: Bearer`` from the headers, before the body is read."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.settings.api_keys or not needs_key(scope.get("path", ""), self.settings):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = key_problem(headers, self.settings)
        if problem is None:
            await self.app(scope, receive, send)
            return
        # The body, if any, is still on the wire: close the connection instead of reading it.
        body_pending = "content-length" in headers and headers["content-length"].strip() != "0"
        body_pending = body_pending or "transfer-encoding" in headers
        answer = JSONResponse(
            {"detail": problem},
            status_code=401,
            headers={**CHALLENGE, **({"Connection": "close"} if body_pending else {})},
        )
        await answer(scope, receive, send)
