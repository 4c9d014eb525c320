"""Assertions every exported runtime must satisfy (shared by the TorchScript and ONNX tests)."""

from __future__ import annotations

import numpy as np


def assert_contract_outputs(
    logits: np.ndarray,
    probabilities: np.ndarray,
    segmentation_map: np.ndarray,
    batch: int,
    classes: int,
    size: tuple[int, int],
) -> None:
    height, width = size
    assert logits.dtype == np.float32 and logits.shape == (batch, classes, height, width)
    assert probabilities.dtype == np.float32 and probabilities.shape == (batch, classes, height, width)
    assert segmentation_map.dtype == np.uint8 and segmentation_map.shape == (batch, height, width)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(segmentation_map, logits.argmax(axis=1))
    # Random weights are spread on purpose: a constant map would make every comparison trivially equal.
    assert len(np.unique(segmentation_map)) > 1
