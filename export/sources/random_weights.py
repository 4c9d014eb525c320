"""Random weights that still make a useful test subject.

A freshly initialised torchvision segmentation net predicts one class everywhere: its activations shrink
layer by layer (to ~1e-10 for DeepLabV3-MobileNetV3 in eval mode), so the class head's bias decides every
pixel and backend comparisons would be trivially equal. With a fixed seed, the head is zero-biased,
rescaled so that logits on a photo-like synthetic image have a spread of ~4 (a trained model's magnitude),
and centred per class, so that every class is in play. The maps stay meaningless, but they vary per pixel
and per photo, so the parity check compares real argmax decisions at a realistic logit scale.
(Recalibrating BatchNorm statistics on synthetic images was tried and rejected: on photos it gave logits
of ~1e3..1e4, an unrealistic scale for absolute tolerances.)
"""

from __future__ import annotations

import torch
from torch import nn

CALIBRATION_SIZE = (256, 256)
TARGET_LOGIT_STD = 4.0


def photo_like_image(generator: torch.Generator, size: tuple[int, int] = CALIBRATION_SIZE) -> torch.Tensor:
    """Smooth colour blobs at several scales (UINT8 [1,3,H,W]): closer to photos than per-pixel noise."""
    image = torch.zeros(1, 3, *size)
    for cells in (4, 16, 64):
        coarse = torch.rand(1, 3, cells, cells, generator=generator)
        image += nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)
    return (image / 3 * 255).round().to(torch.uint8)


def spread_class_scores(logits_model: nn.Module, segmentation_model: nn.Module, num_classes: int, seed: int) -> None:
    """`logits_model` maps UINT8 -> logits; `segmentation_model` is the torchvision net inside it (eval)."""
    # The layer(s) producing class scores (LR-ASPP has two that are summed): logits are linear in them.
    heads = [m for m in segmentation_model.modules() if isinstance(m, nn.Conv2d) and m.out_channels == num_classes]
    with torch.no_grad():
        for head in heads:
            if head.bias is not None:
                head.bias.zero_()
        logits = logits_model.eval()(photo_like_image(torch.Generator().manual_seed(seed)))
        scale = TARGET_LOGIT_STD / max(float(logits.std()), 1e-30)
        for head in heads:
            head.weight.mul_(scale)
        if heads[0].bias is not None:
            heads[0].bias.copy_(-scale * logits.mean(dim=(0, 2, 3)))
