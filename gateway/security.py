"""Optional API keys (settings.api_keys): ``Authorization: Bearer <key>`` or ``X-API-Key``.

Which routes need a key is decided in one place, gateway/main.py (inference, batch and /models always;
/metrics when ``settings.protect_metrics``); liveness and readiness stay open for probes, and the web page
and the API docs are static. Settings come from ``request.app.state.settings`` (set by create_app) or else
``get_settings()``.
"""
from __future__ import annotations

import hmac

from starlette.requests import Request

from gateway.core.config import Settings, get_settings
from gateway.errors import Unauthorized

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _settings(request: Request) -> Settings:
    settings = getattr(request.app.state, "settings", None)
    return settings if isinstance(settings, Settings) else get_settings()


def presented_key(request: Request) -> str | None:
    """The key the client sent, from ``Authorization: Bearer`` or ``X-API-Key``."""
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    key = request.headers.get("x-api-key", "").strip()
    return key or None


def key_matches(candidate: str, keys: list[str]) -> bool:
    """Constant-time comparison against every configured key (no early exit on a match)."""
    presented = candidate.encode("utf-8")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented, key.encode("utf-8"))
    return matched


async def require_api_key(request: Request) -> None:
    """FastAPI dependency: raises gateway.errors.Unauthorized when keys are configured and none matches."""
    keys = _settings(request).api_keys
    if not keys:
        return None
    candidate = presented_key(request)
    if candidate is None:
        raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                           headers=_CHALLENGE)
    if not key_matches(candidate, keys):
        raise Unauthorized("the API key is not valid", headers=_CHALLENGE)
    return None


async def require_api_key_for_metrics(request: Request) -> None:
    """The key check for /metrics, only when ``settings.protect_metrics`` (scrapers usually have no key)."""
    if _settings(request).protect_metrics:
        await require_api_key(request)
