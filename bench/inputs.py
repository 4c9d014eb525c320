"""The photos under test: their bytes (what the gateway receives) and the model input (what the
reference and Triton receive: the same photo already decoded and resized to the model's size)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.core.config import Settings
from gateway.images import decode_image
from gateway.images import to_model_input as gateway_to_model_input


@dataclass(frozen=True)
class Photo:
    path: Path
    data: bytes
    model_input: np.ndarray  # uint8 [1, 3, H, W], C-contiguous

    @property
    def name(self) -> str:
        return self.path.name


def load_photo(path: Path, size_hw: tuple[int, int]) -> Photo:
    data = path.read_bytes()
    return Photo(path, data, to_model_input(data, size_hw)[np.newaxis])


def to_model_input(data: bytes, size_hw: tuple[int, int]) -> np.ndarray:
    """The gateway's own preprocessing, so the reference, Triton and the gateway see the same pixels."""
    return np.ascontiguousarray(gateway_to_model_input(decode_image(data, Settings()), size_hw))
