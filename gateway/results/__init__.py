"""What one inference produced, and the formats it can be answered in.

``InferenceResult`` is the one value that flows from the Triton call (gateway/triton.py) to every
response format. Each format is a module of this package with a ``render(result, options)`` that
returns a ``starlette.responses.Response``; ``FORMATS`` maps a ``response_format`` value to it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image

# The gateway's result names (today's API) → the model contract's output names (docs/architecture.md).
RESULT_TO_OUTPUT: dict[str, str] = {
    "logits": "logits",
    "pixels_distribution": "probabilities",
    "segmentation_map": "segmentation_map",
}
RESULT_TYPES: tuple[str, ...] = tuple(RESULT_TO_OUTPUT)


@dataclass(frozen=True)
class ModelInfo:
    """One served model, as discovered from its Triton config."""

    name: str  # Triton model name, e.g. deeplabv3_onnx
    family: str  # e.g. deeplabv3
    runtime: str  # "torch" | "onnx"
    labels: tuple[str, ...]
    input_size: tuple[int, int]  # (H, W)
    max_batch_size: int
    weights: dict = field(default_factory=dict)  # kind, weights_are_random, file, sha256: gateway.triton.weights_from_config


@dataclass
class InferenceResult:
    """Arrays for ONE image, at the model's size ([C,H,W] / [H,W]), plus what is needed to render them."""

    model: ModelInfo
    image_type: Literal["url", "file"]
    requested: tuple[str, ...]  # result types in the order the caller asked for them
    arrays: dict[str, np.ndarray]  # keyed by result type (logits / pixels_distribution / segmentation_map)
    original: Image.Image | None = None  # the decoded RGB photo, at its own size
    extras: dict = field(default_factory=dict)
