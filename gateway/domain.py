"""The gateway's domain types: served models, runtimes, result types, one inference's result, render options.

Every other gateway module (and the clients) take these from here; this module imports no other gateway module
but gateway.contract (the model contract's names, standard library only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image

from gateway.contract import (
    CONFIDENCE,
    DISTRIBUTION_RESULT,
    LEGACY_OUTPUT_NAMES,
    LOGITS_RESULT,
)

# The gateway's result names (the API's) → the model contract's output names: the contract's, named here too.
from gateway.contract import RESULT_TO_OUTPUT as RESULT_TO_OUTPUT
from gateway.contract import RESULT_TYPES as RESULT_TYPES

# The runtimes a model family can be served with (``infer_model_type``): the contract's, named here too for
# the routes and the clients that take the gateway's domain from this module.
from gateway.contract import RUNTIMES as RUNTIMES

# The result types that carry one float plane per class ([C, H, W]); the map is one plane of class ids.
SCORE_RESULTS: tuple[str, ...] = (LOGITS_RESULT, DISTRIBUTION_RESULT)
# What a format may need beyond the API's result types: the winning probability per pixel (float32 [H, W]), which
# summaries and bundles read instead of the classes' whole distribution.
CONFIDENCE_RESULT = "confidence"
COMPUTED_TO_OUTPUT: dict[str, str] = {**RESULT_TO_OUTPUT, CONFIDENCE_RESULT: CONFIDENCE}

ImageType = Literal["url", "file"]
# The answer's formats (gateway.results.registry.FORMATS has one renderer each, tested to match).
ResponseFormat = Literal["json", "summary", "bundle", "png", "overlay", "overlay_jpeg", "npz"]
MaskSize = Literal["model", "original"]
MASK_SIZES: tuple[str, ...] = ("model", "original")


@dataclass(frozen=True)
class ModelInfo:
    """One served model, as discovered from its Triton config."""

    name: str  # Triton model name, e.g. deeplabv3_onnx
    family: str  # e.g. deeplabv3
    runtime: str  # one of RUNTIMES
    labels: tuple[str, ...]
    input_size: tuple[int, int]  # (H, W)
    max_batch_size: int
    weights: dict = field(
        default_factory=dict
    )  # kind, weights_are_random, file, sha256: gateway.triton.weights_from_config
    outputs: tuple[str, ...] = LEGACY_OUTPUT_NAMES  # the output names of its config, in config order
    # Output sets that Triton also serves alone, as `<name>__<output>[__<output>]` (READY at discovery): a request
    # for exactly one of them goes there and pays for nothing else (docs/architecture.md, "The repository").
    partials: frozenset[tuple[str, ...]] = frozenset()
    # The model itself runs the partial files (the embedded twin): ask it directly, not the partial models.
    selects_partials: bool = False


@dataclass
class InferenceResult:
    """Arrays for ONE image, at the model's size ([C,H,W] / [H,W]), plus what is needed to render them."""

    model: ModelInfo
    image_type: ImageType
    requested: tuple[str, ...]  # result types in the order the caller asked for them
    arrays: dict[str, np.ndarray]  # keyed by result type (logits / pixels_distribution / segmentation_map / confidence)
    original: Image.Image | None = None  # the decoded RGB photo (possibly decoded at a reduced scale)
    original_size: tuple[int, int] | None = None  # (W, H) of the photo as the user sees it; None: no photo


@dataclass(frozen=True)
class RenderOptions:
    """How a result is answered, parsed and checked once at the edge (gateway/api/forms.py)."""

    response_format: ResponseFormat = "json"
    mask_size: MaskSize = "model"
    legend: bool = True  # overlay formats only


def class_name(labels: Sequence[str], class_id: int) -> str:
    """The label of ``class_id``; ids past the labels (e.g. VOC's 255 "void") get a readable stand-in."""
    return labels[class_id] if 0 <= class_id < len(labels) else f"class_{class_id}"
