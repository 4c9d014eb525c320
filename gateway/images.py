"""Image bytes → validated RGB picture → the model's UINT8 [3, H, W] tensor. One path for URL and file input.

INTERFACE STUB (owner: hardening engineer). Signatures are the contract; bodies are replaced.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from gateway.core.config import Settings


def decode_image(data: bytes, settings: Settings) -> Image.Image:
    """Decode ``data`` into an RGB image (EXIF orientation applied, first frame of animations).

    Raises gateway.errors: BadRequest (empty/truncated/corrupt), UnsupportedMedia (not an allowed
    format, judged by the bytes), TooLarge (over settings.max_image_pixels).
    """
    raise NotImplementedError


def to_model_input(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Resize an RGB image to ``size`` = (H, W) and return a C-contiguous uint8 array [3, H, W]."""
    raise NotImplementedError
