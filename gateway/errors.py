"""Errors the gateway answers with: each carries its HTTP status and a detail that names the problem.

Raise these anywhere; one exception handler (gateway/main.py) turns them into ``{"detail": ...}``.
"""

from __future__ import annotations

import re
from http import HTTPStatus

# One style for every detail: lower-case start, no final full stop, the field or value named in quotes
# ('...', through ``shown``: cut to SHOWN_MAX_CHARS), allowed values after "; allowed: ", sizes with
# format_size (the unit the docs use).
SHOWN_MAX_CHARS = 64


def shown(value: object) -> str:
    """A value the client sent, as an answer may echo it: printable and at most SHOWN_MAX_CHARS characters."""
    text = "".join(char if char.isprintable() else "?" for char in str(value)[: SHOWN_MAX_CHARS + 1])
    return text if len(text) <= SHOWN_MAX_CHARS else text[:SHOWN_MAX_CHARS] + "…"


# Starlette's and FastAPI's own messages (form parsing, routing) → the style above.
_FRAMEWORK_DETAILS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"Too many fields\. Maximum number of fields is (\d+)\.", r"the form has too many fields; the limit is \1"),
        (r"Too many files\. Maximum number of files is (\d+)\.", r"the form has too many files; the limit is \1"),
        (
            r"(?:Part|Field) exceeded maximum size of (\d+)KB\.",
            r"a form field is larger than the limit of \1 KiB (send a photo as a file part)",
        ),
        (r"Invalid multipart data\.", "the body is not a valid multipart form"),
        (r"Missing boundary in multipart\.", "the multipart form has no boundary in its Content-Type"),
        (r'The Content-Disposition header field "name" must be provided\.', "a part of the form has no name"),
        (r"There was an error parsing the body", "the body could not be parsed as a form"),
    )
)


_STATUS_PHRASES = frozenset(status.phrase for status in HTTPStatus)


def restyle(detail: str) -> str:
    """A framework's message in the gateway's style (lower-case start, no final full stop)."""
    for pattern, replacement in _FRAMEWORK_DETAILS:
        if pattern.fullmatch(detail):
            return pattern.sub(replacement, detail)
    if detail in _STATUS_PHRASES:  # Starlette's bare "Not Found", "Method Not Allowed"
        return detail.lower()
    detail = detail.rstrip(".")
    return detail[:1].lower() + detail[1:]


def format_size(size: int) -> str:
    """Bytes in the unit the docs use: ``20 MiB``, ``64 KiB``, ``1.5 MiB``, ``512 bytes``."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


class ServiceError(Exception):
    status_code = 500

    def __init__(self, detail: str, *, status_code: int | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers or {}


class BadRequest(ServiceError):  # malformed or invalid input
    status_code = 400


class Unauthorized(ServiceError):
    status_code = 401


class TooLarge(ServiceError):  # upload, download or pixel count over a limit
    status_code = 413


class UnsupportedMedia(ServiceError):  # bytes are not an allowed image format
    status_code = 415


class UpstreamFetchFailed(ServiceError):  # url_image could not be fetched
    status_code = 502


class UpstreamTimeout(ServiceError):  # url_image or Triton too slow
    status_code = 504


class Unavailable(ServiceError):  # Triton or a model not ready, or overload
    status_code = 503


# --- how errors look in the OpenAPI page ----------------------------------------------------------
_ERROR_MEANINGS: dict[int, str] = {
    400: "Invalid input: a form field with a value that is not allowed (the detail names the field and the "
    "allowed values), `file` sent as text instead of a file upload, a corrupt image, a forbidden URL.",
    401: "An API key is configured and the request has none or a wrong one.",
    413: "Upload, download or decoded pixel count over its limit.",
    415: "The bytes are not an allowed image format.",
    422: "A required form field is missing (the detail names it).",
    500: "A fault in the service (details are logged, not returned).",
    502: "url_image could not be fetched.",
    503: "Triton or the model is not ready, or the gateway is overloaded (see Retry-After).",
    504: "url_image or Triton took longer than its timeout.",
}


def error_responses(*codes: int) -> dict[int | str, dict]:
    """OpenAPI ``responses`` for the given error statuses, each documented as ``{"detail": "..."}``."""
    return {
        code: {
            "description": _ERROR_MEANINGS[code],
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "detail": {"type": "string", "description": "What went wrong, naming the value."}
                        },
                        "required": ["detail"],
                    },
                    "example": {"detail": _ERROR_MEANINGS[code]},
                }
            },
        }
        for code in codes
    }
