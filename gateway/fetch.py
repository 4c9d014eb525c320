"""Safe fetching of ``url_image``: scheme and address checks (SSRF), redirects re-checked, limits.

INTERFACE STUB (owner: hardening engineer). Signatures are the contract; bodies are replaced.
"""
from __future__ import annotations

from gateway.core.config import Settings


async def fetch_image_bytes(url: str, settings: Settings) -> bytes:
    """Download ``url`` and return its body.

    Raises gateway.errors: BadRequest (bad URL / scheme / forbidden address), TooLarge (over
    settings.max_upload_bytes, enforced while streaming), UpstreamFetchFailed (502: unreachable,
    HTTP error status), UpstreamTimeout (504).
    """
    raise NotImplementedError
