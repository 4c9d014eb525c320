"""Results built by hand (no Triton) for the format unit tests."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gateway.domain import InferenceResult, ModelInfo

VOC_LABELS = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


def build_result(
    segmentation_map: np.ndarray,
    *,
    photo_size: tuple[int, int] = (40, 30),
    requested: tuple[str, ...] = ("segmentation_map",),
    weights: dict | None = None,
    seed: int = 0,
) -> InferenceResult:
    """A result whose logits/distribution agree with ``segmentation_map`` (argmax = map)."""
    height, width = segmentation_map.shape
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(VOC_LABELS), height, width)).astype(np.float32)
    rows, cols = np.indices(segmentation_map.shape)
    logits[segmentation_map, rows, cols] += 10.0
    exp = np.exp(logits - logits.max(axis=0))
    probabilities = (exp / exp.sum(axis=0)).astype(np.float32)
    photo = Image.fromarray(rng.integers(0, 256, size=(photo_size[1], photo_size[0], 3), dtype=np.uint8))
    return InferenceResult(
        model=ModelInfo(
            name="deeplabv3_onnx",
            family="deeplabv3",
            runtime="onnx",
            labels=VOC_LABELS,
            input_size=(height, width),
            max_batch_size=8,
            weights=weights or {},
        ),
        image_type="file",
        requested=requested,
        arrays={
            "logits": logits,
            "pixels_distribution": probabilities,
            "segmentation_map": segmentation_map.astype(np.uint8),
            "confidence": probabilities.max(axis=0),  # as the model's confidence output computes it
        },
        original=photo,
        original_size=photo_size,
    )


@pytest.fixture
def quarters_map() -> np.ndarray:
    """16×16: left half background, top-right dog, bottom-right person."""
    segmentation_map = np.zeros((16, 16), dtype=np.uint8)
    segmentation_map[:8, 8:] = 12
    segmentation_map[8:, 8:] = 15
    return segmentation_map


@pytest.fixture
def make_result():
    """``make_result(map, photo_size=..., requested=..., weights=...)`` → an InferenceResult."""
    return build_result


@pytest.fixture
def voc_labels() -> tuple[str, ...]:
    return VOC_LABELS
