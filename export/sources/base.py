"""What every model source hands to the pipeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ExportError

if TYPE_CHECKING:  # only annotations: the CLI imports this module before deciding whether torch is needed
    import numpy as np
    from torch import nn

# Runs the *original* model (not our torch twin) on a contract batch: UINT8 [N,3,H,W] -> logits [N,C,H,W].
ReferenceRunner = Callable[["np.ndarray"], "np.ndarray"]


@dataclass(frozen=True)
class ModelSource:
    """A model ready for the contract wrapper.

    `logits_model` maps UINT8 [N,3,H,W] (RGB, NCHW) to FP32 logits [N,C,H,W]; any layout, dtype or
    normalisation adapters the original model needs are already inside it.
    """

    logits_model: nn.Module
    labels: tuple[str, ...]
    input_size: tuple[int, int]  # (H, W)
    weights: str  # "pretrained", "random" or the weights/model file it came from
    weights_are_random: bool
    provenance: dict[str, Any] = field(default_factory=dict)  # source kind, arch, files: for the manifest
    reference: ReferenceRunner | None = None

    @property
    def num_classes(self) -> int:
        return len(self.labels)


def read_labels_file(path: Path) -> tuple[str, ...]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ExportError(f"cannot read labels file {path}: {error}") from error
    labels = tuple(line.strip() for line in lines if line.strip())
    if not labels:
        raise ExportError(f"labels file {path} has no class names")
    return labels
