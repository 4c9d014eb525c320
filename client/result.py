"""What every client returns: numpy arrays for one image, the class names, and the map as a picture."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

from gateway.contract import DISTRIBUTION_RESULT, LOGITS_RESULT, MAP_RESULT
from gateway.results.palette import mask_image


@dataclass(frozen=True)
class SegmentationResult:
    """Arrays at the model's input size unless the gateway was asked for ``mask_size=original``.

    ``logits`` and ``distribution`` are float32 [C, H, W], ``segmentation_map`` uint8 [H, W];
    each is None when it was not requested.
    """

    labels: tuple[str, ...]
    model: str
    backend: str
    logits: np.ndarray | None = None
    distribution: np.ndarray | None = None
    segmentation_map: np.ndarray | None = None
    summary: dict | None = None  # response_format=summary's object (map-only requests of SegmentationClient)
    weights_random: bool | None = None  # the model was exported with random weights: classes mean nothing

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, np.ndarray],
        *,
        labels: tuple[str, ...],
        model: str,
        backend: str,
        weights_random: bool | None = None,
    ) -> SegmentationResult:
        """From arrays keyed by the gateway's result names (logits / pixels_distribution / segmentation_map)."""
        return cls(
            labels=labels,
            model=model,
            backend=backend,
            weights_random=weights_random,
            logits=arrays.get(LOGITS_RESULT),
            distribution=arrays.get(DISTRIBUTION_RESULT),
            segmentation_map=arrays.get(MAP_RESULT),
        )

    def mask_image(self) -> Image.Image:
        """The segmentation map as a palette ("P") image in VOC colours; pixel value = class index."""
        if self.segmentation_map is None:
            raise ValueError("segmentation_map was not requested")
        return mask_image(self.segmentation_map)

    def class_fractions(self) -> dict[str, float]:
        """Share of the pixels of each class present in the map, by class name."""
        if self.segmentation_map is None:
            raise ValueError("segmentation_map was not requested")
        counts = np.bincount(self.segmentation_map.ravel(), minlength=len(self.labels))
        return {self.labels[i]: float(counts[i]) / self.segmentation_map.size for i in np.flatnonzero(counts)}
