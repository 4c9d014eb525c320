"""The decode/resize step in-process: full JPEG decode vs Pillow's draft mode (JPEG DCT scaling),
and the gateway's own path, without and with draft mode. The gain matters for large photos (people.jpg)."""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable

from PIL import Image

from gateway.core.config import Settings
from gateway.images import decode_image, to_model_input


def _full(data: bytes, size_hw: tuple[int, int]) -> None:
    Image.open(io.BytesIO(data)).convert("RGB").resize(size_hw[::-1], Image.Resampling.BILINEAR)


def _draft(data: bytes, size_hw: tuple[int, int]) -> None:
    image = Image.open(io.BytesIO(data))
    # Decodes at the smallest 1/1, 1/2, 1/4 or 1/8 scale still at least as large as the target.
    image.draft("RGB", size_hw[::-1])
    image.convert("RGB").resize(size_hw[::-1], Image.Resampling.BILINEAR)


def _gateway_ways() -> dict[str, Callable[[bytes, tuple[int, int]], None]]:
    """The gateway's decode + resize, without and with its JPEG draft mode (``draft_size``)."""
    settings = Settings()

    def plain(data: bytes, size_hw: tuple[int, int]) -> None:
        to_model_input(decode_image(data, settings), size_hw)

    def draft(data: bytes, size_hw: tuple[int, int]) -> None:
        to_model_input(decode_image(data, settings, draft_size=size_hw), size_hw)

    return {"gateway_decode_ms": plain, "gateway_draft_decode_ms": draft}


def measure(data: bytes, size_hw: tuple[int, int], repeats: int = 5) -> dict:
    with Image.open(io.BytesIO(data)) as image:
        figures: dict = {"photo_size": list(image.size), "photo_bytes": len(data)}
    ways = {"full_decode_ms": _full, "draft_decode_ms": _draft, **_gateway_ways()}
    for label, way in ways.items():
        way(data, size_hw)  # warm: first call pays Pillow's lazy imports
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            way(data, size_hw)
            times.append(time.perf_counter() - started)
        figures[label] = round(statistics.median(times) * 1000, 2)
    return figures
