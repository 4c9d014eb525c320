"""Errors the gateway answers with: each carries its HTTP status and a detail that names the problem.

Raise these anywhere; one exception handler (gateway/main.py) turns them into ``{"detail": ...}``.
"""
from __future__ import annotations

# One style for every detail: lower-case start, no final full stop, the field or value named in quotes
# ('...'), allowed values after "; allowed: ", sizes with format_size (the unit the docs use).


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
            "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {"detail": {"type": "string", "description": "What went wrong, naming the value."}},
                "required": ["detail"],
            }, "example": {"detail": _ERROR_MEANINGS[code]}}},
        }
        for code in codes
    }
