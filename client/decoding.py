"""The photo decoding the clients do locally, exactly as the gateway decodes (gateway.images), under the client's
own limits.

The limits are constants here, never the gateway's settings: no GATEWAY_* environment variable changes what
a client accepts. They equal the gateway's defaults (GATEWAY_MAX_UPLOAD_BYTES, GATEWAY_MAX_IMAGE_PIXELS), so a
photo a default gateway accepts is one the client accepts too.
"""

from __future__ import annotations

from PIL import Image

from gateway.defaults import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS
from gateway.images import decode_with_limits


def decode_photo(data: bytes, *, draft_size: tuple[int, int] | None = None) -> Image.Image:
    """``data`` as the gateway's RGB picture (EXIF applied, first frame); raises gateway.errors as it does."""
    return decode_with_limits(data, max_bytes=MAX_IMAGE_BYTES, max_pixels=MAX_IMAGE_PIXELS, draft_size=draft_size)
