"""Optional API keys (settings.api_keys): ``Authorization: Bearer <key>`` or ``X-API-Key``.

INTERFACE STUB (owner: hardening engineer).
"""
from __future__ import annotations

from starlette.requests import Request


async def require_api_key(request: Request) -> None:
    """FastAPI dependency: raises gateway.errors.Unauthorized when keys are configured and none matches."""
    return None
