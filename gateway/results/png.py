"""``response_format=png``: the segmentation map as a palette PNG (pixel value = class index).

Any image viewer shows it in the VOC colours; any program reads the class ids straight from the
pixel values (``np.asarray(Image.open(f))``). The class names ride along in a ``labels`` text chunk.
"""
from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from gateway.results.palette import pil_palette

MEDIA_TYPE = "image/png"


def mask_image(segmentation_map: np.ndarray) -> Image.Image:
    # putpalette turns an "L" image into "P" keeping the pixel values, i.e. the class ids.
    picture = Image.fromarray(np.ascontiguousarray(segmentation_map, dtype=np.uint8))
    picture.putpalette(pil_palette())
    return picture


def encode_mask_png(segmentation_map: np.ndarray, labels: Sequence[str]) -> bytes:
    text = PngInfo()
    text.add_text("labels", ",".join(labels))
    buffer = io.BytesIO()
    mask_image(segmentation_map).save(buffer, format="PNG", pnginfo=text)
    return buffer.getvalue()
