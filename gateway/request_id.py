"""Traceable requests: one id per request, taken from ``X-Request-ID`` or generated, echoed in the answer,
on every log line written while the request runs, and sent to Triton as the inference request's id.

The id lives in a contextvar, set by ``RequestIdMiddleware`` for the request's task; anyio's worker
threads copy the context, so decoding and rendering log it too. ``RequestIdFilter`` puts it on every log
record (``%(request_id)s``, ``-`` outside a request); ``GATEWAY_LOG_FORMAT=json`` writes one JSON object
per line instead of text.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
# What a client may choose: short, printable, no spaces (it goes into logs and a response header as is).
_ACCEPTED = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s [%(request_id)s] %(message)s"
# Loggers whose handlers get the id: the root (the gateway's own logger propagates there) and uvicorn's.
_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")

_current: ContextVar[str] = ContextVar("request_id", default="")


def current_request_id() -> str:
    """The id of the request being served, or "" outside one."""
    return _current.get()


def accepted_or_new(value: str | None) -> str:
    return value if value and _ACCEPTED.fullmatch(value) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Pure ASGI: sets the request's id for everything below it and adds ``X-Request-ID`` to the answer."""

    def __init__(self, app: ASGIApp, log_format: str = "text") -> None:
        self.app = app
        configure_logging(log_format)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accepted_or_new(Headers(scope=scope).get(REQUEST_ID_HEADER))
        token = _current.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id (and the trace, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str = "text") -> None:
    """Give the id filter and the chosen format to the handlers that exist (uvicorn's and the root's).

    Idempotent: safe when several apps are built in one process (tests)."""
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    for name in _LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if type(handler) is not logging.StreamHandler:  # basicConfig's and uvicorn's; not pytest's capture
                continue
            if not any(isinstance(existing, RequestIdFilter) for existing in handler.filters):
                handler.addFilter(RequestIdFilter())
            handler.setFormatter(formatter)
