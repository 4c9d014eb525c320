"""The image kinds the clients accept, turned into what a request carries: a URL or encoded bytes."""

from __future__ import annotations

import io
from os import PathLike
from pathlib import Path
from typing import TypeGuard

import numpy as np
from PIL import Image

ImageInput = str | PathLike | bytes | Image.Image | np.ndarray


def is_url(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def image_bytes(image: ImageInput) -> bytes:
    """Encoded image bytes for anything but a URL.

    A path is read as is (the server decodes it, EXIF and all). PIL images and numpy arrays
    (H×W×3 / H×W×4 / H×W uint8) are encoded losslessly as PNG, so the server sees the exact pixels.
    """
    if isinstance(image, bytes):
        return image
    if isinstance(image, (str, PathLike)):
        return Path(image).read_bytes()
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError(f"a numpy image must be uint8 H×W or H×W×C, got {image.dtype} {image.shape}")
        image = Image.fromarray(image)
    if isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    raise TypeError(f"unsupported image input: {type(image).__name__}")
