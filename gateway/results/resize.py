"""``mask_size``: results at the model's input size (the default; 512×512 for the default model) or at the
photo's own size.

How each array is brought to the photo's size (also said in the OpenAPI text of ``mask_size``):
- ``segmentation_map``: nearest neighbour, so every pixel keeps a class index the model produced;
- ``logits`` / ``pixels_distribution``: bilinear, each class plane on its own, in FP32 (Pillow's "F"
  mode; when the photo is smaller than the model input the filter also averages, i.e. antialiases).
  Bilinear weights sum to 1, so resized distributions still sum to 1 per pixel; their argmax can
  differ from the resized map at class borders, because the map is resized, not recomputed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
from PIL import Image

from gateway.domain import MASK_SIZES, SCORE_RESULTS, InferenceResult, MaskSize
from gateway.errors import BadRequest, shown


def check_mask_size(mask_size: str | None) -> MaskSize:
    value = (mask_size or "model").strip().lower()
    if value not in MASK_SIZES:
        raise BadRequest(f"unknown mask_size '{shown(mask_size)}'; allowed: {', '.join(MASK_SIZES)}")
    return value  # type: ignore[return-value]


def original_size(result: InferenceResult) -> tuple[int, int]:
    """(width, height) of the photo as uploaded (``result.original_size``, recorded at decoding even when a huge
    JPEG was decoded at a fraction of its size); the model's input size for a result without a photo."""
    if result.original_size is not None:
        return result.original_size
    height, width = result.model.input_size
    return width, height


def resize_map(segmentation_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 [H, W] → uint8 [height, width] for ``size`` = (width, height), nearest neighbour."""
    if segmentation_map.shape[::-1] == tuple(size):
        return segmentation_map
    picture = Image.fromarray(np.ascontiguousarray(segmentation_map, dtype=np.uint8))
    return np.asarray(picture.resize(size, Image.Resampling.NEAREST))


def resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float [H, W] → float32 [height, width], bilinear."""
    if plane.shape[::-1] == tuple(size):
        return plane.astype(np.float32, copy=False)
    picture = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))
    return np.asarray(picture.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)


def resize_scores(scores: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float [C, H, W] → float32 [C, height, width], each class plane bilinearly."""
    if scores.shape[1:][::-1] == tuple(size):
        return scores
    # The answer's size (these arrays included) was bounded before inference: gateway/answer_size.py.
    resized = np.empty((scores.shape[0], size[1], size[0]), dtype=np.float32)
    for index, plane in enumerate(scores):
        resized[index] = resize_plane(plane, size)
    return resized


def resize_array(name: str, array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if name in SCORE_RESULTS:
        return resize_scores(array, size)
    if array.dtype.kind == "f":  # one plane of floats, e.g. the summary's confidence
        return resize_plane(array, size)
    return resize_map(array, size)


def sized(result: InferenceResult, mask_size: MaskSize, names: Iterable[str]) -> InferenceResult:
    """``result`` with only the arrays ``names`` (those it has), each at the size ``mask_size`` asks for: resized
    once here, before any renderer runs (renderers never resize). Itself, unchanged, when nothing changes."""
    wanted = [name for name in names if name in result.arrays]
    if mask_size == "model" and set(wanted) == set(result.arrays):
        return result
    size = original_size(result) if mask_size == "original" else None
    arrays = {
        name: result.arrays[name] if size is None else resize_array(name, result.arrays[name], size) for name in wanted
    }
    return dataclasses.replace(result, arrays=arrays)


def at_mask_size(result: InferenceResult, mask_size: MaskSize) -> InferenceResult:
    """``result`` with its requested arrays at the size ``mask_size`` asks for (itself for ``model``).

    Arrays fetched but not requested are dropped rather than resized for nothing.
    """
    if mask_size == "model":
        return result
    return sized(result, mask_size, result.requested)
