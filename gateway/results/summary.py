"""``response_format=summary``: which classes a photo holds, how much of it, how sure the model is.

Compact JSON, no big arrays. ``mean_confidence`` of a class is the mean, over the pixels labelled
with it, of the model's probability for that class (the winning probability): the model's ``confidence``
output, one float plane, computed where the model runs (gateway/inference.py derives it from the distribution
for a repository exported before that output existed); without it the field is null.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from starlette.responses import JSONResponse

from gateway.domain import CONFIDENCE_RESULT, InferenceResult, MaskSize, class_name
from gateway.results.palette import hex_colour
from gateway.results.resize import original_size

# What the summary reads, at the answer's size: the map and the winning probability per pixel.
CONFIDENCE = CONFIDENCE_RESULT
NEEDED_RESULTS: tuple[str, ...] = ("segmentation_map", CONFIDENCE)
SIZED_ARRAYS: tuple[str, ...] = NEEDED_RESULTS


def class_statistics(
    segmentation_map: np.ndarray, labels: tuple[str, ...], confidence: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """One entry per class present in ``segmentation_map``, largest first.

    ``confidence`` is a float [H, W] plane aligned with the map (winning probability per pixel).
    """
    flat = segmentation_map.reshape(-1).astype(np.intp, copy=False)
    counts = np.bincount(flat, minlength=len(labels))
    sums = None if confidence is None else np.bincount(flat, weights=confidence.reshape(-1), minlength=len(labels))
    total = int(flat.size)
    entries: list[dict[str, Any]] = []
    for class_id in np.flatnonzero(counts):
        count = int(counts[class_id])
        entries.append(
            {
                "id": int(class_id),
                "name": class_name(labels, int(class_id)),
                "color": hex_colour(int(class_id)),
                "pixel_count": count,
                "pixel_fraction": count / total,
                "mean_confidence": None if sums is None else float(sums[class_id] / count),
            }
        )
    entries.sort(key=lambda entry: (-entry["pixel_count"], entry["id"]))
    return entries


def build_summary(result: InferenceResult, mask_size: MaskSize) -> dict[str, Any]:
    """The summary of ``result``, whose map (and confidence) are already at the answer's size
    (gateway.results.registry.at_answer_size); ``mask_size`` names that size in the answer."""
    segmentation_map = result.arrays["segmentation_map"]
    confidence = result.arrays.get(CONFIDENCE)
    photo_width, photo_height = original_size(result)
    mask_height, mask_width = segmentation_map.shape
    model = result.model
    return {
        "Status": "OK",
        "infer_model_type": model.runtime,
        "image_type": result.image_type,
        "model": {
            "name": model.name,
            "family": model.family,
            "backend": model.runtime,
            "num_classes": len(model.labels),
        },
        "weights": dict(model.weights),  # from the model's Triton config: kind, never a server path
        "image_size": {"width": photo_width, "height": photo_height},
        "mask_size": {"mode": mask_size, "width": mask_width, "height": mask_height},
        "classes": class_statistics(segmentation_map, model.labels, confidence),
    }


def render_summary(result: InferenceResult, mask_size: MaskSize) -> JSONResponse:
    return JSONResponse(build_summary(result, mask_size))
