"""Photos -> the contract's UINT8 [N,3,H,W] input (and back to display size)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class Photo:
    name: str
    image: Image.Image  # RGB, original size, EXIF orientation applied

    def as_input(self, size: tuple[int, int]) -> np.ndarray:
        """Bilinear resize to (H, W), as one UINT8 [1,3,H,W] batch."""
        height, width = size
        resized = self.image.resize((width, height), Image.Resampling.BILINEAR)
        return np.ascontiguousarray(np.asarray(resized, dtype=np.uint8).transpose(2, 0, 1)[None])


def load_photos(folder: Path) -> list[Photo]:
    paths = (
        sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES) if Path(folder).is_dir() else []
    )
    photos = []
    for path in paths:
        with Image.open(path) as opened:
            photos.append(Photo(path.name, ImageOps.exif_transpose(opened).convert("RGB")))
    return photos


def random_inputs(count: int, size: tuple[int, int], seed: int = 1234) -> np.ndarray:
    """Seeded uniform noise images, one batch of `count` (so the batch axis is exercised too)."""
    return np.random.default_rng(seed).integers(0, 256, (count, 3, *size), dtype=np.uint8)
