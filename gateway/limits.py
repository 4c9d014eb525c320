"""ASGI middlewares that bound the gateway's load: request body size and requests in flight.

INTERFACE STUB (owner: hardening engineer).
"""
from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.core.config import Settings


class BodySizeLimitMiddleware:
    """413 as soon as a request body exceeds the limit (Content-Length or streamed count)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class InFlightLimitMiddleware:
    """503 + Retry-After at once when more than settings.max_in_flight inference requests run."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
