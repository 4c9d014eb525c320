"""Safe fetching of ``url_image``: scheme and address checks (SSRF), redirects re-checked, limits.

BASIC VERSION (scheme check, streaming size limit, timeouts); SSRF address checks follow.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import anyio
import httpx

from gateway.core.config import Settings
from gateway.errors import BadRequest, TooLarge, UpstreamFetchFailed, UpstreamTimeout
from gateway.images import require_image_format

_SCHEMES = ("http", "https")


async def fetch_image_bytes(url: str, settings: Settings) -> bytes:
    """Download ``url`` and return its body.

    Raises gateway.errors: BadRequest (bad URL / scheme / forbidden address), TooLarge (over
    settings.max_upload_bytes, enforced while streaming), UpstreamFetchFailed (502: unreachable,
    HTTP error status), UpstreamTimeout (504).
    """
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in _SCHEMES or not parts.hostname:
        raise BadRequest("url_image must be an absolute http:// or https:// URL")
    timeout = httpx.Timeout(
        connect=settings.fetch_connect_timeout_s,
        read=settings.fetch_read_timeout_s,
        write=settings.fetch_read_timeout_s,
        pool=settings.fetch_connect_timeout_s,
    )
    try:
        with anyio.fail_after(settings.fetch_total_timeout_s):
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
                async with client.stream("GET", url) as response:
                    if response.status_code >= 400:
                        raise UpstreamFetchFailed(f"url_image answered HTTP {response.status_code}")
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > settings.max_upload_bytes:
                            raise TooLarge(f"url_image is larger than {settings.max_upload_bytes} bytes")
    except TimeoutError:
        raise UpstreamTimeout("url_image took too long to download") from None
    except httpx.TimeoutException:
        raise UpstreamTimeout("url_image took too long to answer") from None
    except httpx.HTTPError:
        raise UpstreamFetchFailed("url_image could not be fetched") from None
    data = bytes(body)
    require_image_format(data)
    return data
