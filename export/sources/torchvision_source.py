"""A torchvision segmentation architecture with pretrained, random or local weights."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from ..defaults import DEFAULT_ARCH, DEFAULT_INPUT_SIZE
from ..errors import ExportError
from .adapters import IMAGENET_MEAN, IMAGENET_STD, AffineNormalize
from .base import ModelSource
from .random_weights import spread_class_scores

# The 21 PASCAL VOC classes of torchvision's COCO-with-VOC-labels weights, index order
# (torchvision calls index 0 "__background__"; the service calls it "background").
VOC_LABELS: tuple[str, ...] = (
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
# Random weights are reproducible: the same seed gives the same files' numbers on every export.
RANDOM_SEED = 0
# The auxiliary head only helps training; the contract serves the main head, so its weights are dropped.
AUX_PREFIX = "aux_classifier."


class PretrainedUnavailable(ExportError):
    """Pretrained weights could not be downloaded or read from the cache (`--fallback-random` catches it)."""


class TorchvisionLogits(nn.Module):
    """UINT8 NCHW -> ImageNet normalisation -> torchvision segmentation model -> main-head logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.normalize = AffineNormalize.from_mean_std(IMAGENET_MEAN, IMAGENET_STD)
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalize(image))["out"]


def segmentation_architectures() -> list[str]:
    return sorted(torchvision.models.list_models(module=torchvision.models.segmentation))


def build_torchvision_source(
    weights: str = "pretrained",
    arch: str = DEFAULT_ARCH,
    num_classes: int | None = None,
    labels: tuple[str, ...] | None = None,
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
) -> ModelSource:
    """`weights` is "pretrained", "random" or the path of a local state dict."""
    if arch not in segmentation_architectures():
        raise ExportError(
            f"unknown torchvision segmentation architecture {arch!r}; "
            f"choose one of: {', '.join(segmentation_architectures())}"
        )
    if weights == "pretrained":
        state_dict, pretrained_labels = _pretrained_state_dict(arch)
        labels = labels or pretrained_labels
    else:
        labels = labels or (VOC_LABELS if num_classes in (None, len(VOC_LABELS)) else None)
        if labels is None:
            raise ExportError(f"--num-classes {num_classes} needs --labels FILE with that many class names")
    num_classes = num_classes or len(labels)
    if len(labels) != num_classes:
        raise ExportError(f"{len(labels)} labels given for a model with {num_classes} classes")

    torch.manual_seed(RANDOM_SEED)
    # weights_backbone=None: never fetch ImageNet backbone weights; every weight comes from `weights`.
    model = torchvision.models.get_model(
        arch, weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False
    )
    logits_model = TorchvisionLogits(model)
    if weights == "random":
        source_file = None
        spread_class_scores(logits_model, model, num_classes, RANDOM_SEED)
    else:
        if weights != "pretrained":
            source_file = Path(weights)
            state_dict = _read_state_dict(source_file)
        else:
            source_file = None
        _load_main_head(model, state_dict, arch, num_classes, origin=str(source_file or "pretrained weights"))

    return ModelSource(
        logits_model=logits_model.eval(),
        labels=tuple(labels),
        input_size=(input_size[0], input_size[1]),
        weights=weights if source_file is None else str(source_file.resolve()),
        weights_are_random=weights == "random",
        provenance={
            "source": "torchvision",
            "arch": arch,
            "num_classes": num_classes,
            "normalisation": {"mean": IMAGENET_MEAN, "std": IMAGENET_STD},
        },
    )


def _pretrained_state_dict(arch: str) -> tuple[Mapping[str, torch.Tensor], tuple[str, ...]]:
    """torchvision's own download + cache (~/.cache/torch/hub/checkpoints, or $TORCH_HOME)."""
    try:
        weights_enum = torchvision.models.get_model_weights(arch).DEFAULT
    except (ValueError, KeyError, AttributeError) as error:
        raise ExportError(f"torchvision has no pretrained weights for {arch!r}; use --weights PATH") from error
    print(
        f"[export] pretrained weights: {weights_enum} from {weights_enum.url} (torchvision cache)",
        file=sys.stderr,
        flush=True,
    )
    try:
        state_dict = weights_enum.get_state_dict(progress=True, check_hash=True)
    except Exception as error:  # URLError, socket errors, HTTP errors, hash mismatch: all mean "not obtained"
        raise PretrainedUnavailable(
            f"cannot obtain torchvision's pretrained weights for {arch} ({weights_enum.url}): {error}. "
            "Without network access use `--weights random` (random weights: shapes and parity only) or "
            "`--weights PATH` (a local state dict file)."
        ) from error
    categories = tuple("background" if c == "__background__" else c for c in weights_enum.meta["categories"])
    return state_dict, categories


def _read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    if not path.is_file():
        raise ExportError(f"weights file {path} does not exist")
    try:
        # weights_only: a weights file is data; never run code from it.
        loaded: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ExportError(
            f"weights file {path} is not a readable PyTorch state dict "
            f"(corrupt or not saved with torch.save): {type(error).__name__}: {error}"
        ) from error
    # Training checkpoints often nest the state dict.
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ExportError(f"weights file {path} holds a {type(loaded).__name__}, not a state dict of tensors")
    return loaded


def _load_main_head(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], arch: str, num_classes: int, origin: str
) -> None:
    main = {k: v for k, v in state_dict.items() if not k.startswith(AUX_PREFIX)}
    try:
        model.load_state_dict(main, strict=True)
    except RuntimeError as error:
        detail = str(error).replace("\n", " ")
        if len(detail) > 600:
            detail = detail[:600] + " ..."
        raise ExportError(
            f"weights file {origin} does not fit torchvision {arch} with {num_classes} classes "
            f"(wrong architecture or class count): {detail}"
        ) from error
